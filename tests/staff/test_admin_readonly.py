"""Admin pages of records the product writes (runs, recipients, audit rows) are read-only: no Save or Delete
button, durations in words, settings and metrics as tables rather than raw floats and JSON."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from config.admin_display import seconds_text, value_text
from marketing.models import Campaign, CampaignAction, Conversion, Recipient, UpliftModel
from recommender.models import ModelSwitch, ServedRecommendation
from segments.models import Membership, SegmentationRun
from shop.models import Interaction
from tests.staff.data import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def assert_read_only(page: str, url: str) -> None:
    assert 'name="_save"' not in page and 'name="_continue"' not in page, url
    assert "deletelink" not in page, url
    # What people read: the page's text, not the admin's own data attributes and scripts.
    content = re.sub(r'data-[\w-]+="[^"]*"|<script.*?</script>', "", page.split('id="content-main"', 1)[-1], flags=re.S)
    for raw in ('{"', "{&quot;", "[&quot;", "{&#x27;"):
        assert raw not in content, f"raw JSON on {url}"


def test_run_and_record_pages_have_no_save_or_delete_button(staff):
    shop = build_shop()
    now = timezone.now()
    recipient = Recipient.objects.filter(campaign=shop["campaign"], is_control=False).first()
    Recipient.objects.filter(pk=recipient.pk).update(attributes={"city": "Berlin"}, recommended_skus=["B1", "B2"])
    ModelSwitch.objects.create(kind="promote", to_run=shop["serving"], reason="first model", switched_at=now)
    served = ServedRecommendation.objects.create(
        recommendation_id="r-1", run=shop["serving"], skus=["B1"], reasons=["bought with A book"], served_at=now
    )
    action = CampaignAction.objects.create(campaign=shop["campaign"], action="launch", at=now)
    purchase = Interaction.objects.filter(customer=recipient.customer, kind="purchase").first()
    conversion = Conversion.objects.create(recipient=recipient, interaction=purchase, occurred_at=now, amount=10)
    uplift = UpliftModel.objects.create(
        campaign=shop["campaign"], variant_name="A", learner="t", metrics={"qini": 0.01234}, features=["recency"]
    )
    SegmentationRun.objects.filter(pk=shop["km_run"].pk).update(
        parameters={"k": 4, "features": ["recency_days", "frequency"]}, timings={"features": 4.790661623}
    )
    pages = {
        "segments_segmentationrun": shop["km_run"].pk,
        "segments_membership": Membership.objects.first().pk,
        "recommender_trainingrun": shop["serving"].pk,
        "recommender_modelswitch": ModelSwitch.objects.get().pk,
        "recommender_servedrecommendation": served.pk,
        "marketing_recipient": recipient.pk,
        "marketing_campaignaction": action.pk,
        "marketing_conversion": conversion.pk,
        "marketing_upliftmodel": uplift.pk,
    }
    for name, pk in pages.items():
        url = reverse(f"admin:{name}_change", args=[pk])
        response = staff.get(url)
        assert response.status_code == 200, url
        assert_read_only(response.content.decode(), url)
        assert staff.post(reverse(f"admin:{name}_delete", args=[pk])).status_code == 403, url

    run_page = staff.get(reverse("admin:segments_segmentationrun_change", args=[shop["km_run"].pk])).content.decode()
    assert "4.8 s" in run_page and "4.790661623" not in run_page
    assert "recency_days, frequency" in run_page and "0.263" in run_page


def test_training_run_page_shows_duration_in_words_and_metrics_as_a_table(staff):
    shop = build_shop()
    page = staff.get(reverse("admin:recommender_trainingrun_change", args=[shop["serving"].pk])).content.decode()
    assert "4.8 s" in page and "4.79066" not in page
    assert "<td>ndcg@10</td><td>0.250</td>" in page and "<td>eval_users</td><td>1,987</td>" in page
    listing = staff.get(reverse("admin:recommender_trainingrun_changelist")).content.decode()
    assert "4.8 s" in listing and "Delete selected" not in listing


def test_the_campaign_editor_stays_editable_for_drafts(staff):
    draft = Campaign.objects.create(name="Draft", status=Campaign.Status.DRAFT)
    page = staff.get(reverse("admin:marketing_campaign_change", args=[draft.pk])).content.decode()
    assert 'name="_save"' in page  # the mixin is only on records the product writes


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4.790661623000005, "4.8 s"), (0.04, "0.0 s"), (125, "2 min 5 s"), (7300, "2 h 1 min"), (None, "—")],
)
def test_seconds_in_words(seconds, text):
    assert seconds_text(seconds) == text


def test_values_for_people():
    assert value_text(0.2629617) == "0.263"
    assert value_text(12345) == "12,345"
    assert value_text(True) == "yes"
    assert value_text(["a", 2]) == "a, 2"
    assert value_text({"k": 4, "seed": None}) == "k: 4; seed: —"
    assert value_text(timedelta(seconds=3)) == "0:00:03"  # anything else: its own text


def test_a_rule_segment_shows_its_rule_in_words(staff):
    from segments.models import Segment

    shop = build_shop()
    segment = Segment.objects.filter(run=shop["km_run"]).first()
    rule = {"all": [{"field": "monetary", "op": ">", "value": 1000}, {"field": "city", "op": "in", "value": ["Rome"]}]}
    Segment.objects.filter(pk=segment.pk).update(profile={**segment.profile, "rule": rule, "evaluated_in": "database"})
    page = staff.get(reverse("admin:segments_segment_change", args=[segment.pk])).content.decode()
    assert "Rule (evaluated in the database): (monetary &gt; 1,000 and city in Rome)" in page
    assert "&quot;field&quot;" not in page
