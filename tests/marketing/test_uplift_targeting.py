"""Targeting by uplift: a campaign reaches only the share of its audience a past campaign's model ranks highest."""

import io
from datetime import UTC, datetime, timedelta

import joblib
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.forms.models import model_to_dict

from marketing.admin import CampaignForm
from marketing.audience import build_audience, estimate_audience
from marketing.models import Campaign, Recipient, UpliftModel
from tests.factories import PurchaseFactory
from tests.marketing.campaign_helpers import active_segment, campaign_for, customers, fresh_serving  # noqa: F401
from tests.marketing.factories import CampaignFactory

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class OrdersAsUplift:
    """A stand-in for a fitted model: the predicted uplift is the customer's number of orders (a feature the
    segments pipeline computes), and a customer of the segment "Cold" gets none."""

    def predict(self, frame):
        assert list(frame.columns) == ["frequency", "segment"]
        return np.where(frame["segment"] == "Cold", 0.0, frame["frequency"].fillna(0).to_numpy(float) / 100)


def _model(*, source: str = "segment_features") -> UpliftModel:
    buffer = io.BytesIO()
    joblib.dump({"model": OrdersAsUplift(), "features": ["frequency", "segment"], "source": source}, buffer)
    path = default_storage.save("uplift/test.joblib", ContentFile(buffer.getvalue()))
    past = CampaignFactory(name="Past")
    return UpliftModel.objects.create(
        campaign=past, variant_name="A", learner="test", features=["frequency", "segment"], artifact_path=path
    )


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _shoppers(orders: list[int]):
    people = customers(len(orders))
    for person, count in zip(people, orders, strict=True):
        for day in range(count):
            PurchaseFactory(customer=person, occurred_at=NOON - timedelta(days=day + 1))
    return people


def test_only_the_top_share_by_predicted_uplift_is_reached_and_the_rest_counted_as_not_targeted():
    people = _shoppers([0, 1, 2, 3, 4, 5, 6, 7])
    campaign = campaign_for(active_segment(people), uplift_model=_model(), uplift_target_share=0.5)
    campaign.recommendations_count = 0
    campaign.save()

    result = build_audience(campaign=campaign, now=NOON)

    rows = {r.customer.external_id: r for r in campaign.recipients.select_related("customer")}
    reached = {k for k, r in rows.items() if r.status == Recipient.Status.PENDING}
    assert reached == {"c4", "c5", "c6", "c7"}  # the four with the most orders
    left = {k: (r.status, r.exclusion) for k, r in rows.items() if k not in reached}
    assert set(left.values()) == {(Recipient.Status.EXCLUDED, Recipient.Exclusion.NOT_TARGETED)}
    assert result.counts["excluded"][Recipient.Exclusion.NOT_TARGETED] == 4
    assert result.counts["treated"] == 4

    estimate = estimate_audience(campaign=campaign, now=NOON)
    assert estimate["excluded"][Recipient.Exclusion.NOT_TARGETED] == 4
    assert estimate["eligible"] == 4 and estimate["treated"] == 4
    targeting = estimate["uplift_targeting"]
    assert targeting["targeted"] == 4 and targeting["not_targeted"] == 4
    # Orders 4..7 against 0..7, each order worth 0.01 of predicted uplift.
    assert targeting["expected_incremental"] == pytest.approx(0.22)
    assert targeting["expected_everyone"] == pytest.approx(0.28)


def test_customers_left_out_for_another_reason_are_not_ranked_and_a_rebuild_keeps_the_same_people():
    people = _shoppers([5, 4, 3, 2, 1, 0])
    people[0].email_consent = False
    people[0].save()
    segment = active_segment(people)
    campaign = campaign_for(segment, uplift_model=_model(), uplift_target_share=0.4, holdout=0.0)
    campaign.recommendations_count = 0
    campaign.save()

    build_audience(campaign=campaign, now=NOON)
    first = dict(campaign.recipients.values_list("customer__external_id", "exclusion"))
    # c0 has no consent; of the five others ceil(0.4 x 5) = 2 are reached: c1 and c2.
    assert first == {
        "c0": Recipient.Exclusion.NO_CONSENT,
        "c1": "",
        "c2": "",
        "c3": Recipient.Exclusion.NOT_TARGETED,
        "c4": Recipient.Exclusion.NOT_TARGETED,
        "c5": Recipient.Exclusion.NOT_TARGETED,
    }
    build_audience(campaign=campaign, now=NOON + timedelta(minutes=5))
    assert dict(campaign.recipients.values_list("customer__external_id", "exclusion")) == first


def test_segment_of_the_first_included_segmentation_is_a_feature():
    people = _shoppers([3, 3, 1, 1])
    warm = active_segment(people[:2], key="warm")
    cold = active_segment(people[2:], key="cold")
    campaign = campaign_for(warm, uplift_model=_model(), uplift_target_share=0.5)
    campaign.included_segments.add(cold)
    campaign.recommendations_count = 0
    campaign.save()
    build_audience(campaign=campaign, now=NOON)
    reached = set(campaign.recipients.filter(status="pending").values_list("customer__external_id", flat=True))
    # The "Cold" members score 0 whatever their orders; of the warm ones (3 orders each) both are reached.
    assert reached == {"c0", "c1"}


def test_a_model_of_an_imported_file_cannot_rank_the_shops_customers():
    campaign = campaign_for(
        active_segment(_shoppers([1, 2])), uplift_model=_model(source="attributes"), uplift_target_share=0.5
    )
    with pytest.raises(ValidationError, match="imported file"):
        build_audience(campaign=campaign, now=NOON)


def test_the_campaign_form_wants_both_fields_and_a_usable_model():
    model = _model()
    # A new campaign's defaults, as the admin's add page posts them.
    fresh = model_to_dict(Campaign(name="Form"), fields=CampaignForm._meta.fields)
    # (An empty rule and no trigger settings are blank fields: the editor shows them as text and named fields.)
    base = {k: v for k, v in fresh.items() if v not in (None, [], {})}
    form = CampaignForm(data={**base, "uplift_model": model.pk})
    assert not form.is_valid()
    assert "uplift_target_share" in form.errors
    form = CampaignForm(data={**base, "uplift_target_share": 0.3})
    assert not form.is_valid()
    assert "uplift_model" in form.errors
    form = CampaignForm(data={**base, "uplift_model": model.pk, "uplift_target_share": 0.3})
    assert form.is_valid(), form.errors
    imported = _model(source="attributes")
    form = CampaignForm(data={**base, "name": "Form 2", "uplift_model": imported.pk, "uplift_target_share": 0.3})
    assert not form.is_valid()
    assert "imported file" in str(form.errors["uplift_model"])
