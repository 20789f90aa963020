"""Stored report figures: what the attribution job stores for a campaign equals what the pages computed directly
from its recipients and conversions, and the pages read it instead of aggregating per request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone, translation

from marketing.attribution import attribute_campaign
from marketing.models import Campaign, CampaignSummary, Conversion, Recipient
from marketing.report_summaries import (
    campaign_summary,
    campaign_summary_refresh,
    stored_report,
    stored_revenue_by_day,
)
from marketing.reports import SEGMENT, campaign_power, campaign_report_or_none
from marketing.staff.selectors import campaign_funnel, campaign_uplift_arms, uplift_from_arms
from marketing.suggestions import suggestions
from tests.factories import PurchaseFactory
from tests.staff.data import build_shop

pytestmark = pytest.mark.django_db

# Zones whose days start at other moments than UTC's: behind, ahead by a quarter hour's multiple, and with DST.
ZONES = ["UTC", "America/Los_Angeles", "Asia/Kathmandu", "Europe/Berlin"]


def _json(value):
    """As stored: JSON's types (tuples become lists)."""
    return json.loads(json.dumps(value))


def direct_revenue_by_day(campaign: Campaign) -> list[dict]:
    """Revenue and conversions per day (the current time zone's) and arm, aggregated from the conversions: what the
    report page computed per request before the figures were stored."""
    rows = (
        Conversion.objects.filter(recipient__campaign_id=campaign.pk, recipient__exclusion="")
        .annotate(day=TruncDate("occurred_at"))
        .values("day", "recipient__is_control")
        .annotate(revenue=Sum("amount"), conversions=Count("pk"))
        .order_by("day")
    )
    days: dict = {}
    for row in rows:
        arm = "control" if row["recipient__is_control"] else "treatment"
        day = days.setdefault(
            row["day"],
            {"day": row["day"], "treatment": 0.0, "control": 0.0, "treatment_conversions": 0, "control_conversions": 0},
        )
        day[arm] += float(row["revenue"] or 0)
        day[f"{arm}_conversions"] += row["conversions"]
    return list(days.values())


@pytest.fixture
def shop(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    shop = build_shop(scale=3)
    campaign = shop["campaign"]
    recipients = list(Recipient.objects.filter(campaign=campaign).order_by("pk"))
    # Conversions spread over days and hours, some just before or after midnight UTC, with odd amounts.
    base = datetime(2026, 3, 1, 23, 50, tzinfo=UTC)
    for n, recipient in enumerate(recipients[:12]):
        when = base + timedelta(hours=7 * n, minutes=13 * n)
        amount = Decimal("10.05") + Decimal(n) * Decimal("3.33")
        purchase = PurchaseFactory(customer=recipient.customer, occurred_at=when, amount=amount)
        Conversion.objects.create(recipient=recipient, interaction=purchase, occurred_at=when, amount=amount)
    # One treated recipient left out and one still waiting in control: counted by some figures, not by others.
    Recipient.objects.filter(pk=recipients[2].pk).update(exclusion="no_consent", status="excluded")
    Recipient.objects.filter(pk=recipients[3].pk).update(status="waiting")
    return shop


def test_stored_figures_equal_the_direct_computation(shop):
    campaign = shop["campaign"]
    summary = campaign_summary_refresh(campaign=campaign)
    summary = CampaignSummary.objects.get(pk=summary.pk)  # as read back from the database

    for by in (None, SEGMENT):
        report, problem = campaign_report_or_none(campaign, by=by)
        assert report is not None and stored_report(summary, by=by) == (_json(report), problem)
    assert stored_report(summary, by="spend_band") is None  # an attribute breakdown is computed on request
    assert summary.report["funnel"] == campaign_funnel(campaign_id=campaign.pk)
    for zone in ZONES:
        with timezone.override(zone):
            direct = direct_revenue_by_day(campaign)
            stored = stored_revenue_by_day(summary)
        assert [r.pop("day") for r in stored] == [r.pop("day") for r in direct], zone
        for mine, theirs in zip(stored, direct, strict=True):
            assert mine == pytest.approx(theirs, rel=1e-12), zone
    direct_arms = campaign_uplift_arms(campaign_ids=[campaign.pk])[campaign.pk]
    assert uplift_from_arms(summary.uplift_arms) == uplift_from_arms(direct_arms)

    listed = (
        Campaign.objects.filter(pk=campaign.pk)
        .annotate(
            treated=Count("recipients", filter=Q(recipients__is_control=False, recipients__exclusion="")),
            control=Count("recipients", filter=Q(recipients__is_control=True)),
            converted=Count("recipients", filter=Q(recipients__conversions__gt=0, recipients__exclusion="")),
        )
        .get()
    )
    assert (summary.treated, summary.control, summary.converted) == (listed.treated, listed.control, listed.converted)


def test_segment_arms_count_measured_recipients_per_segment_and_arm(shop):
    campaign = shop["campaign"]
    summary = campaign_summary_refresh(campaign=campaign)
    expected = {}
    for r in Recipient.objects.filter(campaign=campaign).select_related("segment__run"):
        if r.segment is None or r.exclusion or not (r.is_control or r.status in ("sent", "failed")):
            continue
        key = (r.segment.run.definition_id, r.segment.key, r.is_control)
        n, converted = expected.get(key, (0, 0))
        expected[key] = (n + 1, converted + (r.conversions > 0))
    assert {(d, k, c): (n, conv) for d, k, c, n, conv in summary.segment_arms} == expected


def test_a_problem_is_stored_as_a_code_and_worded_in_the_readers_language(shop):
    campaign = shop["campaign"]
    Recipient.objects.filter(campaign=campaign, is_control=True).delete()
    summary = CampaignSummary.objects.get(pk=campaign_summary_refresh(campaign=campaign).pk)
    summary.campaign = campaign
    assert summary.report["reports"][""]["problem"]["code"] == "no_control"
    for language in ("en", "zh-hans"):
        with translation.override(language):
            assert stored_report(summary, by=None) == campaign_report_or_none(campaign)
    assert summary.report["power_inputs"] is not None  # no result: the power before launch, from its inputs
    with translation.override("en"):
        from marketing.reports import estimate_power

        assert estimate_power(summary.report["power_inputs"]) == campaign_power(campaign)


def test_attribution_stores_the_figures_it_changed(shop):
    campaign = shop["campaign"]
    campaign_summary_refresh(campaign=campaign, now=timezone.now() - timedelta(days=1))
    recipient = Recipient.objects.filter(campaign=campaign, is_control=False, status="sent").order_by("pk").last()
    Recipient.objects.filter(pk=recipient.pk).update(sent_at=timezone.now() - timedelta(hours=2))
    PurchaseFactory(customer=recipient.customer, occurred_at=timezone.now() - timedelta(hours=1), amount="99.00")

    attribute_campaign(campaign.pk)

    summary = CampaignSummary.objects.get(pk=campaign.pk)
    assert summary.computed_at > timezone.now() - timedelta(minutes=5)
    assert stored_report(summary, by=None) == (_json(campaign_report_or_none(campaign)[0]), "")
    assert sum(Decimal(total) for _q, _arm, total, _n in summary.report["revenue"]) == sum(
        Conversion.objects.filter(recipient__campaign=campaign, recipient__exclusion="").values_list(
            "amount", flat=True
        )
    )


def test_completing_a_campaign_stores_its_figures(shop, django_capture_on_commit_callbacks):
    from marketing.services import campaign_complete

    campaign = shop["campaign"]
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    campaign.refresh_from_db()
    assert not CampaignSummary.objects.filter(pk=campaign.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        campaign_complete(campaign=campaign)
    assert (
        CampaignSummary.objects.get(pk=campaign.pk).treated
        == campaign.recipients.filter(is_control=False, exclusion="").count()
    )


def test_the_pages_read_the_stored_figures_until_the_job_works_them_out_again(client, django_user_model, shop):
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    campaign = shop["campaign"]
    summary = campaign_summary(campaign)  # a campaign without a summary gets one on first need
    treated = summary.treated
    as_of = summary.computed_at
    Recipient.objects.filter(campaign=campaign, is_control=False).update(exclusion="no_consent")

    listed = client.get(reverse("marketing-reports:list")).content.decode()
    page = client.get(reverse("marketing-reports:detail", args=[campaign.pk])).content.decode()
    assert f'<td class="n">{treated}</td>' in listed  # as stored, not as the recipients are now
    assert 'id="figures-as-of"' in page and "chart-variants" in page

    campaign_summary_refresh(campaign=campaign)
    assert CampaignSummary.objects.get(pk=campaign.pk).computed_at > as_of
    page = client.get(reverse("marketing-reports:detail", args=[campaign.pk])).content.decode()
    assert "no treated recipients" in page


def test_suggestions_read_reachable_members_stored_with_the_run(shop):
    segment = shop["segments"][0]
    members = [m.customer for m in segment.memberships.select_related("customer").order_by("pk")]
    for customer in members[:2]:
        customer.email_consent = True
        customer.save()
    assert segment.reachable is None  # a run from before the count was kept: counted on first need
    first = {s["segment"]: s["reachable"] for s in suggestions()}
    assert first[segment.pk] == 2
    segment.refresh_from_db()
    assert segment.reachable == 2
    members[0].email_consent = False
    members[0].save()
    assert {s["segment"]: s["reachable"] for s in suggestions()} == first  # as stored, until the next run
