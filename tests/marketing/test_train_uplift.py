"""train_uplift / score_uplift: a model of whom a campaign moved, trained on its recipients, stored, used."""

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from marketing.ml.synthetic import synthetic_campaign
from marketing.models import Campaign, Recipient, UpliftModel, Variant
from marketing.uplift_models import training_data
from tests.factories import CustomerFactory, PurchaseFactory
from tests.marketing.factories import CampaignFactory, ControlRecipientFactory, RecipientFactory, VariantFactory

pytestmark = pytest.mark.django_db

SUMMARY_KEYS = {
    "campaign",
    "learner",
    "qini",
    "auuc",
    "uplift_at_10",
    "uplift_at_30",
    "random_uplift",
    "holdout_recipients",
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def imported_campaign(n: int = 3000, seed: int = 3) -> tuple[Campaign, pd.DataFrame]:
    """An imported experiment with a known, heterogeneous effect (marketing.ml.synthetic)."""
    data = synthetic_campaign(n, seed=seed)
    campaign = Campaign.objects.create(name="Simulated", origin=Campaign.Origin.IMPORTED, status="completed")
    variant = Variant.objects.create(campaign=campaign, name="coupon")
    features = data.features.astype(object).where(data.features.notna(), None)
    Recipient.objects.bulk_create(
        Recipient(
            campaign=campaign,
            variant=variant if treated else None,
            is_control=not treated,
            status=Recipient.Status.SENT if treated else Recipient.Status.CONTROL,
            conversions=int(converted),
            revenue=Decimal(str(revenue)),
            external_ref=str(i),
            attributes={k: (bool(v) if k == "shopping_cart" else v) for k, v in row.items() if v is not None},
        )
        for i, (treated, converted, revenue, row) in enumerate(
            zip(data.treatment, data.converted, data.revenue, features.to_dict("records"), strict=True)
        )
    )
    return campaign, data.features


@pytest.mark.slow
def test_train_uplift_stores_a_model_and_prints_the_fixed_json():
    campaign, _ = imported_campaign()
    out = io.StringIO()
    call_command("train_uplift", "Simulated", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert set(summary) == SUMMARY_KEYS
    assert summary["campaign"] == "Simulated"
    assert summary["holdout_recipients"] == 600  # the held-out fifth
    assert all(isinstance(summary[k], float) for k in ("qini", "auuc", "uplift_at_10", "uplift_at_30"))
    model = UpliftModel.objects.get(campaign=campaign)
    assert model.variant_name == "coupon" and model.learner == summary["learner"]
    assert set(model.features) == {
        "weeks_since_visit",
        "num_past_purchases",
        "spent_last_purchase",
        "browsing_minutes",
        "shopping_cart",
        "channel",
    }
    assert model.artifact_path.startswith("uplift/") and default_storage.exists(model.artifact_path)
    assert model.metrics["feature_source"] == "attributes"
    assert model.metrics["split_sizes"]["holdout"] == 600
    assert {k: model.metrics[k] for k in SUMMARY_KEYS - {"campaign", "learner"}} == {
        k: summary[k] for k in SUMMARY_KEYS - {"campaign", "learner"}
    }


@pytest.mark.slow
def test_score_uplift_ranks_a_file_by_predicted_uplift(tmp_path):
    imported_campaign()
    call_command("train_uplift", "Simulated", "--json", stdout=io.StringIO())
    fresh = synthetic_campaign(500, seed=11)
    source = tmp_path / "next.csv"
    fresh.features.assign(customer=range(500)).to_csv(source, index=False)
    target = tmp_path / "scored.csv"
    out = io.StringIO()
    call_command("score_uplift", "Simulated", str(source), "--out", str(target), "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["scored"] == 500
    scored = pd.read_csv(target)
    assert list(scored["uplift_rank"]) == list(range(1, 501))
    assert scored["predicted_uplift"].is_monotonic_decreasing
    # The customers the simulation made persuadable come out on top more often than not.
    truth = pd.Series(fresh.true_uplift, index=range(500))
    top = scored.head(100)["customer"]
    assert truth[top].mean() > truth.mean()

    source.write_text("weeks_since_visit,channel\n1,email\n")
    with pytest.raises(
        CommandError,
        match=r"has no column 'browsing_minutes', 'num_past_purchases', 'shopping_cart', 'spent_last_purchase' that",
    ):
        call_command("score_uplift", "Simulated", str(source), "--out", str(tmp_path / "x.csv"))


def test_score_needs_a_trained_model(tmp_path):
    imported_campaign(n=300)
    with pytest.raises(CommandError, match="no uplift model; run train_uplift first"):
        call_command("score_uplift", "Simulated", str(tmp_path / "x.csv"), "--out", str(tmp_path / "y.csv"))


def test_unknown_variant_and_too_few_recipients_are_clear_errors():
    imported_campaign(n=150)
    with pytest.raises(CommandError, match="no variant 'B'; its variants: coupon"):
        call_command("train_uplift", "Simulated", "--variant", "B")
    with pytest.raises(CommandError, match="too few"):
        call_command("train_uplift", "Simulated")
    assert not UpliftModel.objects.exists()


def test_native_features_are_taken_from_before_the_send():
    sent = datetime(2025, 6, 1, tzinfo=UTC)
    campaign = CampaignFactory(name="Native", status=Campaign.Status.COMPLETED)
    variant = VariantFactory(campaign=campaign, name="A")
    loyal, fresh = CustomerFactory(), CustomerFactory()
    for days in (100, 50, 10):
        PurchaseFactory(customer=loyal, occurred_at=sent - timedelta(days=days), amount=Decimal("30"))
    # Bought after the send: the outcome, never a feature.
    PurchaseFactory(customer=fresh, occurred_at=sent + timedelta(days=1), amount=Decimal("99"))
    RecipientFactory(campaign=campaign, variant=variant, customer=loyal, sent_at=sent, segment_name="Loyal")
    ControlRecipientFactory(campaign=campaign, customer=fresh, sent_at=sent, segment_name="New", conversions=1)
    data = training_data(campaign)
    features = data.features
    assert data.source == "segment_features"
    assert list(data.treatment) == [1, 0]
    assert list(data.outcome) == [0.0, 1.0]
    assert list(features["frequency"]) == [3.0, 0.0]
    assert list(features["monetary"]) == [90.0, 0.0]
    assert features["recency_days"][0] == pytest.approx(10.0)
    assert list(features["segment"]) == ["Loyal", "New"]
