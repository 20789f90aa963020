"""Campaigns ready to launch over chosen customers, for the campaign tests."""

from __future__ import annotations

import pytest

from marketing.models import Campaign, Variant
from segments.models import Membership, Segment, SegmentationDefinition, SegmentationRun
from tests.factories import CustomerFactory, ProductFactory, PurchaseFactory


def active_segment(customers, *, key: str = "target", definition: str = "Campaign test segments") -> Segment:
    """A segment of an active segmentation with exactly these customers."""
    definition_row, _ = SegmentationDefinition.objects.get_or_create(name=definition, defaults={"method": "rules"})
    run = definition_row.active_run
    if run is None:
        run = SegmentationRun.objects.create(definition=definition_row, method="rules", status="succeeded")
        SegmentationDefinition.objects.filter(pk=definition_row.pk).update(active_run=run)
    segment = Segment.objects.create(run=run, key=key, name=key.title(), size=len(customers))
    Membership.objects.bulk_create(Membership(segment=segment, customer=c) for c in customers)
    return segment


def customers(n: int, *, prefix: str = "c", **fields):
    defaults = {"email_consent": True, "sms_consent": True, "push_consent": True}
    return [CustomerFactory(external_id=f"{prefix}{i}", **{**defaults, **fields}) for i in range(n)]


def campaign_for(segment: Segment, *, name: str = "Spring", holdout: float = 0.0, **fields) -> Campaign:
    campaign = Campaign.objects.create(name=name, holdout_share=holdout, recommendations_count=2, **fields)
    campaign.included_segments.add(segment)
    Variant.objects.create(
        campaign=campaign,
        name="A",
        subject="Hi {{ customer.first_name }}",
        html_template=(
            '<p>Hi {{ customer.first_name }}</p>{% for p in products %}<a href="{{ p.url }}">{{ p.name }}</a>'
            '{% endfor %}<a href="{{ unsubscribe_url }}">unsubscribe</a>'
        ),
        text_template="Hi {{ customer.first_name }}\n{% for p in products %}{{ p.name }} {{ p.url }}\n{% endfor %}",
    )
    return campaign


@pytest.fixture(autouse=True)
def fresh_serving(settings):
    """The recommender reloads the catalog and popular lists for each test (import this into a test module)."""
    from recommender.serving import engine

    settings.RECOMMENDER_REFRESH_SECONDS = 0
    settings.RECOMMENDER_CATALOG_REFRESH_SECONDS = 0
    settings.RECOMMENDER_LOG_SERVED = False
    engine.reset()
    yield
    engine.reset()


def popular_products(n: int, *, buyers: int = 3, prefix: str = "P"):
    """n products bought by a few other customers, so the recommender's popular fallback has them to offer."""
    products = [ProductFactory(sku=f"{prefix}{i}", name=f"Product {prefix}{i}", price="12.50") for i in range(n)]
    others = [CustomerFactory(external_id=f"buyer-{prefix}{j}") for j in range(buyers)]
    for j, buyer in enumerate(others):
        for product in products[: n - j] if n > j else products:
            PurchaseFactory(customer=buyer, product=product)
    return products
