from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Q

from marketing.demo import ONSITE, SIMULATED_EFFECTS, SUMMER, TARGETING_TEST, WIN_BACK, setup_demo_campaigns
from marketing.ml.uplift import fit_uplift
from marketing.models import Campaign, Coupon, Recipient
from marketing.onsite import forget_onsite_campaigns
from marketing.uplift_models import training_data
from recommender.serving import engine, log
from segments import services as segment_services
from shop.demo.services import generate_demo_data
from shop.models import Interaction
from tests.factories import CustomerFactory, ProductFactory
from tests.marketing.segment_helpers import segment_with

pytestmark = pytest.mark.django_db
PERSONAS = ("bargain_hunter", "loyal_big_spender", "lapsed", "new_customer", "browser")


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.RECOMMENDER_REFRESH_SECONDS = 0
    settings.RECOMMENDER_CATALOG_REFRESH_SECONDS = 0
    settings.RECOMMENDER_LOG_FLUSH_SECONDS = 3600
    settings.RECOMMENDER_LOG_BATCH = 100_000
    settings.MARKETING_ONSITE_CACHE_SECONDS = 0
    engine.reset()
    forget_onsite_campaigns()
    yield
    engine.reset()
    forget_onsite_campaigns()
    log._buffer.clear()


@pytest.fixture
def demo_shop():
    """500 consenting customers, 100 per persona, with no purchases of their own: every conversion is simulated."""
    for i in range(6):
        ProductFactory(sku=f"D{i}", price=Decimal("20.00"))
    customers = [
        CustomerFactory(external_id=f"p{i}", email_consent=True, attributes={"persona": PERSONAS[i % 5]})
        for i in range(500)
    ]
    first = segment_with(customers[:250], key="one")
    segment_with(customers[250:], key="two", run=first.run)
    return customers


def _conversion_rate(campaign, persona, *, control):
    rows = Recipient.objects.filter(campaign=campaign, is_control=control, attributes__persona=persona).aggregate(
        n=Count("pk"), converted=Count("pk", filter=Q(conversions__gt=0))
    )
    return rows["converted"] / max(rows["n"], 1), rows["n"]


def test_demo_campaigns_simulate_an_effect_where_the_persona_responds_and_none_elsewhere(demo_shop, api_client):
    out = StringIO()
    call_command("setup_demo_campaigns", "--seed", "3", stdout=out)

    win_back, summer = Campaign.objects.get(name=WIN_BACK), Campaign.objects.get(name=SUMMER)
    test = Campaign.objects.get(name=TARGETING_TEST)
    assert win_back.status == summer.status == test.status == Campaign.Status.COMPLETED
    assert (test.holdout_share, test.attribution_window_days) == (0.5, 3)
    for campaign, (low, high) in ((win_back, (0.05, 0.16)), (summer, (0.05, 0.16)), (test, (0.4, 0.6))):
        sent = Recipient.objects.filter(campaign=campaign, status=Recipient.Status.SENT)
        control = Recipient.objects.filter(campaign=campaign, is_control=True)
        assert low < control.count() / 500 < high
        assert sent.count() + control.count() == 500
        assert sent.filter(opened_at__isnull=False).count() > sent.filter(clicked_at__isnull=False).count() > 0
        assert not control.filter(Q(opened_at__isnull=False) | Q(conversions__gt=0)).exists()
        assert all(
            r.attributes["true_effect"] == SIMULATED_EFFECTS[campaign.name][r.attributes["persona"]] for r in sent
        )
        assert all("<h1>" in r.body_html for r in sent[:20])

    lapsed_treated, _ = _conversion_rate(win_back, "lapsed", control=False)
    bargain_treated, _ = _conversion_rate(summer, "bargain_hunter", control=False)
    assert lapsed_treated > 0.05 and bargain_treated > 0.04
    for campaign, persona in ((win_back, "browser"), (win_back, "loyal_big_spender"), (summer, "lapsed")):
        assert _conversion_rate(campaign, persona, control=False)[0] == 0

    # Unique win-back coupons carried by the simulated purchases are redeemed, once each.
    redeemed = Coupon.objects.filter(offer__campaigns=win_back, redeemed_at__isnull=False)
    assert redeemed.count() > 0
    assert redeemed.count() == Interaction.objects.filter(coupon__startswith="BACK-").count()

    onsite = Campaign.objects.get(name=ONSITE)
    assert onsite.status == Campaign.Status.RUNNING
    shown = [api_client.get(f"/api/v1/customers/p{i}/offers").json()["offers"] for i in range(10)]
    assert any(offers and offers[0]["offer"]["kind"] == "free_shipping" for offers in shown)
    # What the shop's page prints beside the headline is one line, not an e-mail's body with links.
    texts = [offers[0]["text"] for offers in shown if offers]
    assert texts and all("http" not in text and "Unsubscribe" not in text and "SHIPFREE" in text for text in texts)

    # Idempotent: a second run reuses everything.
    recipients, purchases = Recipient.objects.count(), Interaction.objects.count()
    again = StringIO()
    call_command("setup_demo_campaigns", stdout=again)
    assert again.getvalue().count("already there") == 4
    assert (Recipient.objects.count(), Interaction.objects.count()) == (recipients, purchases)


def test_demo_campaigns_need_the_demo_shop_first():
    with pytest.raises(CommandError, match="setup_demo"):
        call_command("setup_demo_campaigns")


@pytest.mark.slow  # ~35 s of CPU: a 2,000-customer shop, its RFM segments, the demo campaigns, three fits
def test_the_targeting_test_holds_out_enough_for_the_uplift_model_to_beat_random_across_splits():
    """The demo's 10 % holdouts leave ~75 control recipients in a held-out fifth: there even the true effects used
    as scores fall below random on some splits. The targeting test must let `train_uplift`'s model beat random
    targeting on its held-out splits, here on a small generated demo with purchases of its own: on average over
    three splits. (Not every split does: the groups are drawn by hashing database ids, which differ between
    databases and runs, and on this 2,000-customer demo a split's Qini has come out at -0.0005; on the full
    demo one split in thirty fell just below 0.)"""
    end = datetime(2026, 3, 1, 12, tzinfo=UTC)
    generate_demo_data(customers=2000, seed=11, end=end)
    segment_services.segmentation_run(
        definition=segment_services.segmentation_definition_create(name="RFM", method="rfm")
    )
    setup_demo_campaigns(seed=7, now=end)
    data = training_data(Campaign.objects.get(name=TARGETING_TEST))
    assert (data.treatment == 0).sum() > 600

    metrics = []
    for seed in (0, 1, 2):
        # Only the T-learners (linear and boosted) are candidates, to keep the test short; they are still chosen
        # on validation folds and judged on the held-out split, as train_uplift does.
        result = fit_uplift(data.features, data.treatment, data.outcome, seed=seed, learners=["t-learner"])
        metrics.append(result.metrics)
    assert sum(m["qini"] for m in metrics) / 3 > 0, metrics
    assert sum(m["uplift_at_30"] for m in metrics) / 3 > sum(m["random_uplift"] for m in metrics) / 3, metrics
