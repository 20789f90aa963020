"""Attribution: purchases inside each recipient's window become conversions, for treated and control alike."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketing.attribution import attribute_campaign, attribute_recent, campaigns_collecting
from marketing.models import Campaign, Conversion, Offer, Recipient
from tests.factories import CustomerFactory, PurchaseFactory
from tests.marketing.factories import CampaignFactory, ControlRecipientFactory, OfferFactory, RecipientFactory

pytestmark = pytest.mark.django_db

SENT = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def buy(customer, at, amount="10.00", **extra):
    return PurchaseFactory(customer=customer, occurred_at=at, amount=Decimal(amount), **extra)


@pytest.fixture
def campaign():
    return CampaignFactory(name="June", attribution_window_days=7, status=Campaign.Status.RUNNING)


def test_purchases_inside_the_window_count_for_treated_and_control(campaign):
    treated = RecipientFactory(campaign=campaign, sent_at=SENT)
    control = ControlRecipientFactory(campaign=campaign, sent_at=SENT)
    buy(treated.customer, SENT + timedelta(hours=1), "20.00")
    buy(treated.customer, SENT + timedelta(days=6, hours=23), "5.50")
    buy(treated.customer, SENT - timedelta(minutes=1))  # before the send
    buy(treated.customer, SENT + timedelta(days=7))  # the window is [sent, sent + 7 days)
    buy(control.customer, SENT + timedelta(days=3), "8.00")
    PurchaseFactory(customer=control.customer, occurred_at=SENT + timedelta(days=1), kind="view", amount=None)

    result = attribute_campaign(campaign.pk)

    assert result["new_conversions"] == 3
    treated.refresh_from_db()
    control.refresh_from_db()
    assert (treated.conversions, treated.revenue) == (2, Decimal("25.50"))
    assert treated.converted_at == SENT + timedelta(hours=1)
    assert (control.conversions, control.revenue) == (1, Decimal("8.00"))
    assert not treated.directly_attributed


def test_recomputing_is_idempotent(campaign):
    treated = RecipientFactory(campaign=campaign, sent_at=SENT)
    buy(treated.customer, SENT + timedelta(hours=1))
    attribute_campaign(campaign.pk)
    again = attribute_campaign(campaign.pk)
    assert again["new_conversions"] == 0
    assert Conversion.objects.count() == 1
    treated.refresh_from_db()
    assert treated.conversions == 1


def test_a_late_purchase_is_picked_up_on_the_next_run(campaign):
    treated = RecipientFactory(campaign=campaign, sent_at=SENT)
    buy(treated.customer, SENT + timedelta(hours=1))
    attribute_campaign(campaign.pk)
    buy(treated.customer, SENT + timedelta(days=2), "1.00")
    assert attribute_campaign(campaign.pk, since=SENT + timedelta(days=3))["new_conversions"] == 1
    treated.refresh_from_db()
    assert (treated.conversions, treated.revenue) == (2, Decimal("11.00"))


def test_coupon_and_recommendation_id_mark_a_direct_conversion(campaign):
    by_coupon = RecipientFactory(campaign=campaign, sent_at=SENT, coupon_code="JUNE-1")
    by_rec = RecipientFactory(campaign=campaign, sent_at=SENT, recommendation_id="rec-9")
    unrelated = RecipientFactory(campaign=campaign, sent_at=SENT, coupon_code="JUNE-3")
    buy(by_coupon.customer, SENT + timedelta(hours=2), coupon="JUNE-1")
    buy(by_rec.customer, SENT + timedelta(hours=2), recommendation_id="rec-9")
    buy(unrelated.customer, SENT + timedelta(hours=2), coupon="OTHER")
    attribute_campaign(campaign.pk)
    marks = dict(Recipient.objects.values_list("pk", "directly_attributed"))
    assert marks == {by_coupon.pk: True, by_rec.pk: True, unrelated.pk: False}
    assert Recipient.objects.get(pk=unrelated.pk).conversions == 1  # counted all the same


def test_a_shared_offer_code_marks_direct():
    offer = OfferFactory(name="Shared", code_mode=Offer.CodeMode.SHARED, code="SUMMER")
    campaign = CampaignFactory(name="Shared code", offer=offer)
    recipient = RecipientFactory(campaign=campaign, sent_at=SENT)
    buy(recipient.customer, SENT + timedelta(hours=2), coupon="SUMMER")
    attribute_campaign(campaign.pk)
    recipient.refresh_from_db()
    assert recipient.directly_attributed


def test_on_site_windows_start_at_the_impression():
    campaign = CampaignFactory(name="On-site", channel=Campaign.Channel.ONSITE, attribution_window_days=1)
    seen = RecipientFactory(campaign=campaign, sent_at=SENT, impression_at=SENT + timedelta(days=3))
    control = ControlRecipientFactory(campaign=campaign, sent_at=SENT)
    buy(seen.customer, SENT + timedelta(hours=5))  # before the impression
    buy(seen.customer, SENT + timedelta(days=3, hours=5))
    buy(control.customer, SENT + timedelta(hours=5))
    attribute_campaign(campaign.pk)
    seen.refresh_from_db()
    control.refresh_from_db()
    assert seen.conversions == 1 and control.conversions == 1


def test_left_out_recipients_and_unknown_send_times_are_not_attributed(campaign):
    excluded = RecipientFactory(
        campaign=campaign, sent_at=None, status=Recipient.Status.EXCLUDED, exclusion=Recipient.Exclusion.NO_CONSENT
    )
    pending = RecipientFactory(campaign=campaign, sent_at=None, status=Recipient.Status.PENDING)
    for recipient in (excluded, pending):
        buy(recipient.customer, SENT + timedelta(hours=1))
    assert attribute_campaign(campaign.pk)["new_conversions"] == 0


def test_one_customer_in_two_campaigns_counts_in_each():
    customer = CustomerFactory()
    first = RecipientFactory(campaign=CampaignFactory(name="One"), customer=customer, sent_at=SENT)
    second = RecipientFactory(campaign=CampaignFactory(name="Two"), customer=customer, sent_at=SENT)
    buy(customer, SENT + timedelta(hours=1))
    attribute_campaign(first.campaign_id)
    attribute_campaign(second.campaign_id)
    assert Conversion.objects.filter(recipient__in=[first, second]).count() == 2


def test_query_count_does_not_grow_with_recipients(campaign, django_assert_max_num_queries):
    def add(n):
        for _ in range(n):
            recipient = RecipientFactory(campaign=campaign, sent_at=SENT)
            buy(recipient.customer, SENT + timedelta(hours=1))

    # savepoint, the campaign, INSERT ... SELECT, UPDATE, then the campaign's stored report figures (a fixed number
    # of aggregates), release: no more for 23 recipients than for 3
    add(3)
    with CaptureQueriesContext(connection) as first:
        attribute_campaign(campaign.pk)
    add(20)
    with django_assert_max_num_queries(len(first)):
        attribute_campaign(campaign.pk)
    assert Conversion.objects.count() == 23


def test_imported_campaigns_keep_their_results():
    campaign = CampaignFactory(name="Imported", origin=Campaign.Origin.IMPORTED)
    recipient = RecipientFactory(campaign=campaign, sent_at=SENT, conversions=3)
    buy(recipient.customer, SENT + timedelta(hours=1))
    assert attribute_campaign(campaign.pk)["skipped"] == "imported"
    recipient.refresh_from_db()
    assert recipient.conversions == 3


def test_recent_attribution_covers_open_windows_only():
    now = datetime(2025, 7, 1, tzinfo=UTC)
    open_campaign = CampaignFactory(name="Open", status=Campaign.Status.RUNNING, attribution_window_days=7)
    old = CampaignFactory(name="Old", status=Campaign.Status.COMPLETED, attribution_window_days=7)
    draft = CampaignFactory(name="Draft", status=Campaign.Status.DRAFT)
    recent = RecipientFactory(campaign=open_campaign, sent_at=now - timedelta(days=3))
    RecipientFactory(campaign=old, sent_at=now - timedelta(days=30))
    RecipientFactory(campaign=draft, sent_at=now - timedelta(days=1))
    buy(recent.customer, now - timedelta(days=1))
    assert campaigns_collecting(now=now) == [open_campaign.pk]
    results = attribute_recent(now=now)
    assert [r["campaign"] for r in results] == [open_campaign.pk]
    recent.refresh_from_db()
    assert recent.conversions == 1


def test_the_periodic_task_attributes_open_campaigns(settings):
    from django.utils import timezone

    from marketing.attribution_tasks import attribute_recent_purchases

    assert settings.CELERY_BEAT_SCHEDULE["attribute campaign purchases"]["task"] == attribute_recent_purchases.name
    campaign = CampaignFactory(name="Now", status=Campaign.Status.RUNNING)
    recipient = RecipientFactory(campaign=campaign, sent_at=timezone.now() - timedelta(hours=5))
    buy(recipient.customer, timezone.now() - timedelta(hours=1))
    results = attribute_recent_purchases.delay().get()
    assert results == [{"campaign": campaign.pk, "new_conversions": 1, "recipients": 1}]


def test_the_periodic_task_redeems_coupons_before_attributing():
    from django.utils import timezone

    from marketing.attribution_tasks import attribute_recent_purchases
    from marketing.models import Coupon
    from marketing.offers import issue_coupons

    offer = OfferFactory(name="Back soon", code="BACK")
    campaign = CampaignFactory(name="Coupons", status=Campaign.Status.RUNNING, offer=offer)
    recipient = RecipientFactory(campaign=campaign, sent_at=timezone.now() - timedelta(hours=5))
    code = issue_coupons(offer=offer, customer_ids=[recipient.customer_id])[recipient.customer_id]
    Recipient.objects.filter(pk=recipient.pk).update(coupon_code=code)
    buy(recipient.customer, timezone.now() - timedelta(hours=1), coupon=code)

    attribute_recent_purchases.delay().get()
    attribute_recent_purchases.delay().get()

    coupon = Coupon.objects.get(code=code)
    assert coupon.redeemed_at is not None
    recipient.refresh_from_db()
    assert (recipient.conversions, recipient.directly_attributed) == (1, True)
