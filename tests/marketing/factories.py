"""Factories for offers, campaigns, variants and recipients."""

from datetime import UTC, datetime
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from marketing.models import Campaign, Offer, Recipient, Variant
from tests.factories import CustomerFactory


class OfferFactory(DjangoModelFactory):
    class Meta:
        model = Offer
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"offer-{n}")
    kind = Offer.Kind.PERCENT
    value = Decimal("10")
    code_mode = Offer.CodeMode.UNIQUE
    code = "SAVE"


class CampaignFactory(DjangoModelFactory):
    class Meta:
        model = Campaign
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"campaign-{n}")
    channel = Campaign.Channel.EMAIL
    holdout_share = 0.1


class VariantFactory(DjangoModelFactory):
    class Meta:
        model = Variant

    campaign = factory.SubFactory(CampaignFactory)
    name = factory.Sequence(lambda n: f"V{n}")
    split_share = 1.0
    subject = "Hello {{ customer.first_name }}"
    html_template = "<p>Hello {{ customer.first_name }}</p>"
    text_template = "Hello {{ customer.first_name }}"


class RecipientFactory(DjangoModelFactory):
    class Meta:
        model = Recipient

    campaign = factory.SubFactory(CampaignFactory)
    customer = factory.SubFactory(CustomerFactory)
    variant = factory.SubFactory(VariantFactory, campaign=factory.SelfAttribute("..campaign"))
    status = Recipient.Status.SENT
    sent_at = factory.LazyFunction(lambda: datetime(2025, 6, 1, 9, 0, tzinfo=UTC))


class ControlRecipientFactory(RecipientFactory):
    variant = None
    is_control = True
    status = Recipient.Status.CONTROL
