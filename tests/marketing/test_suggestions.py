"""Next-best campaign per segment: from measured uplift where there is evidence, else from the profile."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from marketing.models import Campaign, CampaignAction, Recipient
from marketing.rendering import compile_content, sample_context
from marketing.suggestions import create_draft_from_suggestion, profile_kind, suggest_campaign, suggestions
from segments.models import Membership, Segment, SegmentationDefinition, SegmentationRun
from tests.factories import CustomerFactory
from tests.marketing.factories import CampaignFactory, VariantFactory

pytestmark = pytest.mark.django_db

SENT = datetime(2025, 6, 1, tzinfo=UTC)


def profile(**traits):
    return {"features": {name: {"distinctiveness": value} for name, value in traits.items()}}


@pytest.mark.parametrize(
    ("key", "traits", "kind"),
    [
        ("c1", {"recency_days": 1.2, "monetary": 0.9}, "win_back_discount"),
        ("c2", {"tenure_days": -1.5}, "welcome"),
        ("no_purchases", {"views": 0.1}, "welcome"),
        ("no_purchases", {"views": 1.4}, "browse_abandonment"),
        ("c3", {"browsing_minutes": 1.0, "conversion": -0.8}, "browse_abandonment"),
        ("c4", {"frequency": 1.1, "recency_days": -0.6}, "cross_sell"),
        ("c5", {"recency_days": 1.0, "monetary": -0.7}, "win_back"),
        ("c6", {"age": 0.2}, "recommendations"),
    ],
)
def test_the_profile_decides_without_evidence(key, traits, kind):
    assert profile_kind(Segment(key=key, name="S", profile=profile(**traits)))[0] == kind


def run_of(definition):
    run = SegmentationRun.objects.create(definition=definition, method="rules", status="succeeded")
    SegmentationDefinition.objects.filter(pk=definition.pk).update(active_run=run)
    return run


def segment(run, key, members, traits):
    seg = Segment.objects.create(run=run, key=key, name=key.title(), size=len(members), profile=profile(**traits))
    Membership.objects.bulk_create(Membership(segment=seg, customer=c) for c in members)
    return seg


def past_campaign(name, old_segment, *, treated, treated_conv, control, control_conv, objective="win_back"):
    campaign = CampaignFactory(name=name, status=Campaign.Status.COMPLETED, objective=objective)
    variant = VariantFactory(campaign=campaign, name="A")
    rows = []
    for i in range(treated):
        rows.append(Recipient(campaign=campaign, variant=variant, status="sent", conversions=int(i < treated_conv)))
    for i in range(control):
        rows.append(Recipient(campaign=campaign, is_control=True, status="control", conversions=int(i < control_conv)))
    for r in rows:
        r.segment, r.segment_name, r.sent_at = old_segment, old_segment.name, SENT
    Recipient.objects.bulk_create(rows)
    return campaign


@pytest.fixture
def world():
    """A segmentation run twice: campaigns reached segments of the old run; suggestions are for the new one."""
    definition = SegmentationDefinition.objects.create(name="RFM", method="rules")
    old = run_of(definition)
    old_lapsed = segment(old, "lapsed", [], {"recency_days": 1.0})
    old_new = segment(old, "new", [], {"tenure_days": -1.0})
    current = run_of(definition)
    customers = [CustomerFactory(email_consent=i % 2 == 0) for i in range(10)]
    lapsed = segment(current, "lapsed", customers[:6], {"recency_days": 1.0, "monetary": 1.0})
    new = segment(current, "new", customers[6:], {"tenure_days": -1.0})
    return {"old_lapsed": old_lapsed, "old_new": old_new, "lapsed": lapsed, "new": new}


def test_measured_uplift_wins_over_the_profile(world):
    past_campaign("Spring win-back", world["old_lapsed"], treated=200, treated_conv=60, control=200, control_conv=10)
    suggestion = suggest_campaign(world["lapsed"].pk)
    assert suggestion["basis"] == "measured"
    assert suggestion["title"] == "Repeat 'Spring win-back'"
    assert suggestion["expected_uplift"] == pytest.approx(0.25)
    lo, hi = suggestion["expected_uplift_ci"]
    assert 0 < lo < 0.25 < hi
    assert suggestion["reachable"] == 3 and suggestion["expected_audience"] == 3
    assert suggestion["expected_incremental_conversions"] == pytest.approx(0.75)


def test_no_clear_effect_falls_back_to_the_profile(world):
    past_campaign("Flat", world["old_lapsed"], treated=200, treated_conv=20, control=200, control_conv=20)
    suggestion = suggest_campaign(world["lapsed"].pk)
    assert suggestion["basis"] == "profile"
    assert suggestion["kind"] == "win_back_discount"
    assert suggestion["expected_uplift"] is None
    assert "no clear effect" in suggestion["reason"]
    assert suggestion["evidence"][0]["campaign"] == "Flat"


def test_a_harmful_campaign_is_named_to_avoid(world):
    past_campaign("Annoying", world["old_new"], treated=300, treated_conv=5, control=300, control_conv=40)
    suggestion = suggest_campaign(world["new"].pk)
    assert suggestion["avoid"] == ["Annoying"]
    assert suggestion["kind"] == "welcome"


def test_too_few_recipients_are_no_evidence(world):
    past_campaign("Tiny", world["old_lapsed"], treated=10, treated_conv=10, control=10, control_conv=0)
    assert suggest_campaign(world["lapsed"].pk)["evidence"] == []


def test_every_active_segment_gets_a_suggestion_in_a_fixed_number_of_queries(world, django_assert_num_queries):
    past_campaign("Spring win-back", world["old_lapsed"], treated=200, treated_conv=60, control=200, control_conv=10)
    first = suggestions()  # the campaign's summary and the segments' reachable members are stored on first need
    with django_assert_num_queries(3):
        result = suggestions()
    assert result == first
    assert {s["segment"]: s["basis"] for s in result} == {world["lapsed"].pk: "measured", world["new"].pk: "profile"}


def test_a_segment_of_an_inactive_run_has_no_suggestion(world):
    with pytest.raises(Segment.DoesNotExist):
        suggest_campaign(world["old_lapsed"].pk)


def test_draft_from_a_profile_suggestion_is_prefilled_and_renders(world):
    user = get_user_model().objects.create_user("marketer")
    campaign = create_draft_from_suggestion(world["lapsed"].pk, user)
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.objective == Campaign.Objective.WIN_BACK
    assert list(campaign.included_segments.all()) == [world["lapsed"]]
    assert campaign.offer.value == 15 and campaign.holdout_share == pytest.approx(0.1)
    (variant,) = campaign.variants.all()
    content = compile_content(
        subject=variant.subject, html_template=variant.html_template, text_template=variant.text_template
    )
    subject, html, text = content.render(sample_context(offer={"description": "15% off", "code": "COMEBACK-1"}))
    assert "15 % off" in subject and "COMEBACK-1" in html and "Unsubscribe" in text
    action = CampaignAction.objects.get(campaign=campaign)
    assert action.user == user and action.action == "draft_from_suggestion"
    # Asked for again at once (a double click): the same draft, not a second one.
    assert create_draft_from_suggestion(world["lapsed"].pk, user) == campaign
    assert Campaign.objects.count() == 1
    # Asked for again later: a second draft, with its own name, reusing the offer.
    Campaign.objects.filter(pk=campaign.pk).update(created_at=timezone.now() - timedelta(hours=1))
    again = create_draft_from_suggestion(world["lapsed"].pk, user)
    assert again.name != campaign.name and again.offer == campaign.offer


def test_draft_from_a_measured_suggestion_copies_the_campaign(world):
    source = past_campaign(
        "Spring win-back", world["old_lapsed"], treated=200, treated_conv=60, control=200, control_conv=10
    )
    campaign = create_draft_from_suggestion(world["lapsed"].pk, None)
    assert campaign.name.startswith("Repeat 'Spring win-back'")
    assert [v.subject for v in campaign.variants.all()] == [v.subject for v in source.variants.all()]
    assert campaign.created_by is None
