"""Who a campaign reaches and who it leaves out, and why; the control group and the estimate."""

from datetime import UTC, datetime, timedelta

import pytest

from marketing import services
from marketing.audience import build_audience, estimate_audience, is_control
from marketing.models import Campaign, Recipient, Suppression
from tests.factories import CustomerFactory
from tests.marketing.campaign_helpers import (  # noqa: F401
    active_segment,
    campaign_for,
    customers,
    fresh_serving,
    popular_products,
)
from tests.marketing.factories import CampaignFactory, RecipientFactory

pytestmark = pytest.mark.django_db
X = Recipient.Exclusion
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _rows(campaign):
    return {r.customer.external_id: r for r in campaign.recipients.select_related("customer")}


def test_each_reason_left_out_and_counted_in_estimate_and_build(settings):
    settings.MARKETING_QUIET_HOURS = "21-8"
    settings.MARKETING_QUIET_HOURS_CHANNELS = ("email",)
    ok = customers(3, prefix="ok")
    no_consent = CustomerFactory(external_id="noconsent", email_consent=False)
    no_email = CustomerFactory(external_id="noemail", email="", email_consent=True)
    suppressed = CustomerFactory(external_id="supp", email="Supp@Example.com", email_consent=True)
    capped = CustomerFactory(external_id="capped", email_consent=True)
    night = CustomerFactory(external_id="night", email_consent=True, attributes={"timezone": "Asia/Tokyo"})
    Suppression.objects.create(address="supp@example.com")
    for _ in range(3):
        RecipientFactory(customer=capped, sent_at=NOON - timedelta(days=2), status=Recipient.Status.SENT)
    segment = active_segment([*ok, no_consent, no_email, suppressed, capped, night])
    campaign = campaign_for(segment)

    estimate = estimate_audience(campaign=campaign, now=NOON)
    assert estimate["audience"] == 8
    assert estimate["excluded"] == {
        X.NO_CONSENT: 1,
        X.NO_ADDRESS: 1,
        X.SUPPRESSED: 1,
        X.FREQUENCY_CAP: 1,
        X.QUIET_HOURS: 1,  # 21:00 in Tokyo at noon UTC
    }
    assert estimate["eligible"] == 3

    result = build_audience(campaign=campaign, now=NOON)
    rows = _rows(campaign)
    assert {k: r.exclusion for k, r in rows.items() if r.status == Recipient.Status.EXCLUDED} == {
        "noconsent": X.NO_CONSENT,
        "noemail": X.NO_ADDRESS,
        "supp": X.SUPPRESSED,
        "capped": X.FREQUENCY_CAP,
        "night": X.QUIET_HOURS,
    }
    assert result.counts["excluded"] == estimate["excluded"]
    assert {k for k, r in rows.items() if r.status == Recipient.Status.PENDING} == {"ok0", "ok1", "ok2"}
    assert all(r.segment_id == segment.pk and r.segment_name == segment.name for r in rows.values())


def test_cap_counts_only_recent_sends_to_that_customer():
    old = CustomerFactory(external_id="old", email_consent=True)
    for _ in range(3):
        RecipientFactory(customer=old, sent_at=NOON - timedelta(days=8))
    campaign = campaign_for(active_segment([old]))
    assert estimate_audience(campaign=campaign, now=NOON)["excluded"][X.FREQUENCY_CAP] == 0


def test_sms_needs_consent_and_a_phone_and_onsite_needs_no_consent(settings):
    settings.MARKETING_QUIET_HOURS = ""
    with_phone = CustomerFactory(external_id="p", sms_consent=True, attributes={"phone": "+441234"})
    without = CustomerFactory(external_id="np", sms_consent=True)
    refused = CustomerFactory(external_id="r", sms_consent=False, attributes={"phone": "+44999"})
    segment = active_segment([with_phone, without, refused])
    sms = campaign_for(segment, name="SMS", channel=Campaign.Channel.SMS)
    assert estimate_audience(campaign=sms, now=NOON)["excluded"] == {
        X.NO_CONSENT: 1,
        X.NO_ADDRESS: 1,
        X.SUPPRESSED: 0,
        X.FREQUENCY_CAP: 0,
    }
    onsite = campaign_for(segment, name="On-site", channel=Campaign.Channel.ONSITE)
    assert estimate_audience(campaign=onsite, now=NOON)["eligible"] == 3


def test_included_minus_excluded_narrowed_by_rule():
    people = customers(6)
    included = active_segment(people[:5], key="in")
    excluded = active_segment(people[3:], key="out")
    campaign = campaign_for(included, audience_rule={"field": "external_id", "op": "in", "value": ["c0", "c1", "c3"]})
    campaign.excluded_segments.add(excluded)
    build_audience(campaign=campaign, now=NOON)
    assert set(_rows(campaign)) == {"c0", "c1"}


def test_rule_needing_the_feature_pipeline_is_refused():
    campaign = campaign_for(
        active_segment(customers(1)), audience_rule={"field": "return_rate", "op": ">", "value": 0.1}
    )
    with pytest.raises(Exception, match="rules segmentation"):
        estimate_audience(campaign=campaign, now=NOON)


def test_holdout_share_within_tolerance_and_stable_across_rebuilds():
    people = customers(1500)
    campaign = campaign_for(active_segment(people), holdout=0.2)
    campaign.variants.create(name="B", split_share=1.0, subject="B", html_template="B", text_template="B")
    campaign.recommendations_count = 0
    campaign.save()
    build_audience(campaign=campaign, now=NOON)
    first = dict(campaign.recipients.values_list("customer_id", "is_control"))
    variants = dict(campaign.recipients.values_list("customer_id", "variant__name"))
    share = sum(first.values()) / len(first)
    # Binomial(1500, 0.2): sd ~ 0.0103; 4 sd either side.
    assert abs(share - 0.2) < 0.042
    treated = [c for c, control in first.items() if not control]
    b_share = sum(variants[c] == "B" for c in treated) / len(treated)
    assert abs(b_share - 0.5) < 0.06
    build_audience(campaign=campaign, now=NOON + timedelta(hours=1))
    assert dict(campaign.recipients.values_list("customer_id", "is_control")) == first
    assert dict(campaign.recipients.values_list("customer_id", "variant__name")) == variants
    assert all(
        is_control(campaign_id=campaign.pk, customer_id=c, holdout_share=0.2) == control for c, control in first.items()
    )


def test_control_rows_get_the_would_be_send_time_and_no_message():
    campaign = campaign_for(active_segment(customers(40)), holdout=0.5)
    build_audience(campaign=campaign, now=NOON)
    control = campaign.recipients.filter(is_control=True)
    assert control.exists()
    assert all(r.sent_at == NOON and r.body_html == "" and r.status == "control" for r in control)
    treated = campaign.recipients.filter(is_control=False).first()
    assert treated.body_html and treated.subject.startswith("Hi ")


def test_rebuild_refused_once_sending_started():
    campaign = campaign_for(active_segment(customers(2)))
    build_audience(campaign=campaign, now=NOON)
    campaign.recipients.filter(status="pending").update(status="sent")
    with pytest.raises(Exception, match="cannot be rebuilt"):
        build_audience(campaign=campaign, now=NOON)


def test_build_writes_in_bulk(django_assert_max_num_queries):
    campaign = campaign_for(active_segment(customers(60)))
    campaign.recommendations_count = 0
    campaign.save()
    with django_assert_max_num_queries(20):
        build_audience(campaign=campaign, now=NOON)
    assert campaign.recipients.count() == 60


def test_the_estimate_counts_the_control_group_the_build_makes():
    campaign = campaign_for(active_segment(customers(60)), holdout=0.3)

    estimate = estimate_audience(campaign=campaign, now=NOON)
    build_audience(campaign=campaign, now=NOON)

    built = campaign.recipients.filter(exclusion="")
    control = built.filter(is_control=True).count()
    assert 0 < control < 60
    assert (estimate["control"], estimate["treated"]) == (control, built.count() - control)


def test_estimate_is_stored_for_the_editor():
    campaign = campaign_for(active_segment(customers(4)))
    services.campaign_estimate(campaign=campaign, now=NOON)
    campaign.refresh_from_db()
    assert campaign.estimate["audience"] == 4 and campaign.estimate["treated"] == 4


def test_no_segment_means_no_audience():
    campaign = CampaignFactory()
    assert estimate_audience(campaign=campaign, now=NOON)["audience"] == 0


def test_last_purchase_is_the_latest_one():
    from marketing.audience import last_purchases
    from tests.factories import PurchaseFactory

    buyer = CustomerFactory(external_id="buyer")
    old = PurchaseFactory(customer=buyer, occurred_at=NOON - timedelta(days=3))
    new = PurchaseFactory(customer=buyer, occurred_at=NOON - timedelta(days=1))
    PurchaseFactory(customer=buyer, occurred_at=NOON - timedelta(days=2))
    assert last_purchases([buyer.pk]) == {buyer.pk: new.product_id}
    assert old.product_id != new.product_id
    assert last_purchases([]) == {}


def test_embedded_recommendations_are_in_the_recommenders_served_log_and_leave_it_on_rebuild(settings):
    from recommender.models import ServedRecommendation
    from recommender.serving import engine

    settings.RECOMMENDER_LOG_SERVED = True
    popular_products(3)
    campaign = campaign_for(active_segment(customers(6)), holdout=0.5)
    build_audience(campaign=campaign, now=NOON)

    treated = list(campaign.recipients.filter(status="pending").values_list("recommendation_id", "customer_id"))
    assert treated and campaign.recipients.filter(is_control=True).exists()
    logged = {s.recommendation_id: s for s in ServedRecommendation.objects.all()}
    # Every treated recipient's list, and nothing for control or left-out rows.
    assert set(logged) == {rid for rid, _ in treated}
    for row in campaign.recipients.filter(status="pending").select_related("customer"):
        served = logged[row.recommendation_id]
        assert served.customer_id == row.customer_id and served.served_at == NOON
        assert served.skus == row.recommended_skus
        # The same products, in the same order, as the recommender answers that customer itself.
        answer = engine.recommend(external_id=row.customer.external_id, n=campaign.recommendations_count)
        assert served.skus == [r["sku"] for r in answer.results]
        assert served.reasons == [r["reason"] for r in answer.results]
        assert served.run_id == answer.run_id

    build_audience(campaign=campaign, now=NOON + timedelta(hours=1))
    rebuilt = set(campaign.recipients.filter(status="pending").values_list("recommendation_id", flat=True))
    assert set(ServedRecommendation.objects.values_list("recommendation_id", flat=True)) == rebuilt
    assert not rebuilt & set(logged)


def test_served_log_switched_off_writes_nothing(settings):
    from recommender.models import ServedRecommendation

    settings.RECOMMENDER_LOG_SERVED = False
    popular_products(2)
    campaign = campaign_for(active_segment(customers(2)))
    build_audience(campaign=campaign, now=NOON)
    assert campaign.recipients.exclude(recommendation_id="").count() == 2
    assert not ServedRecommendation.objects.exists()


def _stored(campaign):
    """Every stored column of the campaign's rows by customer, but the row id and the recommendation id (new on
    each build), and the served-list log rows of its treated recipients by customer."""
    from recommender.models import ServedRecommendation

    skip = {"id", "recommendation_id"}
    columns = [f.attname for f in Recipient._meta.concrete_fields if f.attname not in skip]
    rows = {r["customer_id"]: r for r in campaign.recipients.values(*columns, "recommendation_id")}
    served = {
        s["customer_id"]: s
        for s in ServedRecommendation.objects.filter(
            recommendation_id__in=[r["recommendation_id"] for r in rows.values()]
        ).values("run_id", "customer_id", "surface", "skus", "reasons", "served_at")
    }
    for row in rows.values():
        del row["recommendation_id"]
    return rows, served


def test_a_build_in_worker_processes_writes_what_a_serial_build_writes_row_for_row(settings, monkeypatch):
    import billiard

    from marketing import audience
    from tests.marketing.factories import OfferFactory

    settings.RECOMMENDER_LOG_SERVED = True
    popular_products(3)
    campaign = campaign_for(active_segment(customers(9)), holdout=0.2, offer=OfferFactory(code="SAVE"))
    monkeypatch.setattr(audience, "CHUNK", 2)  # several chunks in flight, handed back in order
    monkeypatch.setattr(audience, "WRITE_ROWS", 3)  # written in several transactions here, in one there
    settings.MARKETING_BUILD_PARALLEL_MIN = 1
    settings.MARKETING_BUILD_PROCESSES = 0
    here = build_audience(campaign=campaign, now=NOON)
    rows_here, served_here = _stored(campaign)

    pools = []
    real = billiard.get_context

    def counting(method):
        pools.append(method)
        return real(method)

    monkeypatch.setattr(billiard, "get_context", counting)
    monkeypatch.setattr(audience, "WRITE_ROWS", 1000)
    settings.MARKETING_BUILD_PROCESSES = 2
    there = build_audience(campaign=campaign, now=NOON)
    rows_there, served_there = _stored(campaign)

    assert pools == ["fork"]
    assert {k: v for k, v in there.counts.items() if k not in ("seconds",)} == {
        k: v for k, v in here.counts.items() if k not in ("seconds",)
    }
    treated = [cid for cid, r in rows_here.items() if r["status"] == Recipient.Status.PENDING]
    assert len(rows_here) == 9 and len(treated) >= 4 and here.counts["treated"] == len(treated)
    # Links name the recipient and the product, not the recommendation id: the same message byte for byte, the
    # same coupon (kept on a rebuild), segment, variant and products, column for column.
    assert rows_there == rows_here
    assert all(rows_here[cid]["body_html"] and rows_here[cid]["coupon_code"].startswith("SAVE-") for cid in treated)
    assert all(rows_here[cid]["recommended_skus"] == ["P0", "P1"] for cid in treated)
    # The served-list log holds each treated recipient's list once, as the recipient row names it.
    assert served_there == served_here and set(served_here) == set(treated)
    for cid in treated:
        assert served_here[cid]["skus"] == rows_here[cid]["recommended_skus"]
        assert served_here[cid]["served_at"] == NOON and len(served_here[cid]["reasons"]) == 2
