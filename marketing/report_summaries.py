"""Stored report figures: each campaign's aggregates worked out by the jobs that change them, read by the pages.

A campaign's report, funnel, revenue over time, best-variant uplift, recipient counts and per-segment arms each
read every recipient (or conversion) of the campaign: a second or more on a campaign of 100,000 recipients. The
attribution job (every campaign still collecting purchases, after its conversions are stored), the completion
of a campaign and an adaptive send's waves recompute them (`campaign_summary_refresh`); the staff pages read the
stored `CampaignSummary` and say when its figures were worked out. A campaign without one (sent before summaries
were kept, or imported) gets it on first view.

What is stored is what the direct computation gives, in plain JSON, and nothing worded: problems as codes,
power as its inputs, revenue per quarter hour (UTC) so each reader's page adds it up by their own days.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Count, Q
from django.utils import timezone

from marketing.models import Campaign, CampaignSummary, Conversion, Recipient
from marketing.reports import PROBLEMS, SEGMENT, attribute_keys, campaign_power_inputs, campaign_report
from marketing.staff.selectors import campaign_funnel, campaign_uplift_arms

QUARTER_HOUR = 900  # seconds; every time zone's offset is a whole number of quarter hours


def _report_entry(campaign: Campaign, *, by: str | None) -> dict[str, Any]:
    try:
        return {"report": campaign_report(campaign, by=by), "problem": None}
    except (ValidationError, ObjectDoesNotExist) as exc:
        code = getattr(exc, "code", None)
        text = "; ".join(getattr(exc, "messages", [str(exc)]))
        return {"report": None, "problem": {"code": code if code in PROBLEMS else None, "text": text}}


def _revenue_quarters(campaign: Campaign) -> list[list]:
    """[[quarter-hour start (UTC epoch seconds), arm, revenue as decimal text, conversions], ...] of the
    conversions of recipients not left out, in time order."""
    sums: dict[tuple[int, str], list] = {}
    rows = Conversion.objects.filter(recipient__campaign_id=campaign.pk, recipient__exclusion="").values_list(
        "occurred_at", "amount", "recipient__is_control"
    )
    for occurred_at, amount, is_control in rows.iterator(chunk_size=10_000):
        quarter = int(occurred_at.timestamp()) // QUARTER_HOUR * QUARTER_HOUR
        cell = sums.setdefault((quarter, "control" if is_control else "treatment"), [Decimal(0), 0])
        cell[0] += amount or Decimal(0)
        cell[1] += 1
    return [[quarter, arm, str(total), n] for (quarter, arm), (total, n) in sorted(sums.items())]


def _segment_arms(campaign: Campaign) -> list[list]:
    """Per segment at send time (its segmentation and key) and arm: measured recipients and converted ones, as the
    next-best-campaign evidence counts them (control recipients of any status)."""
    rows = (
        Recipient.objects.filter(campaign_id=campaign.pk, segment__isnull=False, exclusion="")
        .filter(Q(is_control=True) | Q(status__in=[Recipient.Status.SENT, Recipient.Status.FAILED]))
        .values("segment__run__definition_id", "segment__key", "is_control")
        .annotate(n=Count("pk"), converted=Count("pk", filter=Q(conversions__gt=0)))
        .order_by("segment__run__definition_id", "segment__key", "is_control")
    )
    return [
        [row["segment__run__definition_id"], row["segment__key"], bool(row["is_control"]), row["n"], row["converted"]]
        for row in rows
    ]


def _counts(campaign: Campaign) -> dict[str, int]:
    """The report list's columns (treated and converted recipients not left out, every control recipient)."""
    return Recipient.objects.filter(campaign_id=campaign.pk).aggregate(
        treated=Count("pk", filter=Q(is_control=False, exclusion="")),
        control=Count("pk", filter=Q(is_control=True)),
        converted=Count("pk", filter=Q(conversions__gt=0, exclusion="")),
    )


def campaign_figures(campaign: Campaign) -> dict[str, Any]:
    """Every stored figure of the campaign, computed directly: CampaignSummary's fields but `computed_at`."""
    has_segments = campaign.recipients.exclude(segment_name="").exists()
    if has_segments:
        # The breakdown's report holds the overall one (the same recipients): one read of them, not two.
        by_segment = _report_entry(campaign, by=SEGMENT)
        overall = by_segment["report"] and {k: v for k, v in by_segment["report"].items() if k != "breakdown"}
        reports = {"": {**by_segment, "report": overall}, SEGMENT: by_segment}
    else:
        reports = {"": _report_entry(campaign, by=None)}
    # Before a result, the power comes from the audience's purchase history (a scan of recent purchases).
    power_inputs = campaign_power_inputs(campaign) if reports[""]["report"] is None else None
    return {
        **_counts(campaign),
        "uplift_arms": campaign_uplift_arms(campaign_ids=[campaign.pk])[campaign.pk],
        "segment_arms": _segment_arms(campaign),
        "report": {
            "reports": reports,
            "default_by": SEGMENT if has_segments else None,
            "attribute_keys": attribute_keys(campaign),
            "funnel": campaign_funnel(campaign_id=campaign.pk),
            "revenue": _revenue_quarters(campaign),
            "power_inputs": list(power_inputs) if power_inputs else None,
        },
    }


def campaign_summary_refresh(*, campaign: Campaign, now: datetime | None = None) -> CampaignSummary:
    """Work out the campaign's report figures and store them (replacing what was stored). The reading is done
    before the one write, so no write lock is held while the figures are worked out (SQLite takes it on BEGIN)."""
    figures = campaign_figures(campaign)
    summary, _created = CampaignSummary.objects.update_or_create(
        campaign=campaign, defaults={**figures, "computed_at": now or timezone.now()}
    )
    return summary


def campaign_summaries(campaigns: list[Campaign], *, with_report: bool = True) -> dict[int, CampaignSummary]:
    """campaign id -> its stored summary (without the report page's figures unless `with_report`); one query, and
    for a campaign that has none yet (sent before summaries were kept, imported) the summary is worked out now and
    stored."""
    stored_rows = CampaignSummary.objects.filter(campaign__in=[c.pk for c in campaigns])
    if not with_report:
        stored_rows = stored_rows.defer("report")
    stored = {s.campaign_id: s for s in stored_rows}
    for campaign in campaigns:
        if campaign.pk not in stored:
            stored[campaign.pk] = campaign_summary_refresh(campaign=campaign)
        stored[campaign.pk].campaign = campaign  # the page words problems with the campaign's name
    return stored


def campaign_summary(campaign: Campaign) -> CampaignSummary:
    return campaign_summaries([campaign])[campaign.pk]


# --- reading a stored summary --------------------------------------------------------------------------------


def stored_report(summary: CampaignSummary, *, by: str | None) -> tuple[dict | None, str] | None:
    """(report, "") or (None, why not) as `campaign_report_or_none` gives them, when the summary holds that
    breakdown; None when it does not (an attribute breakdown is computed on request)."""
    entry = summary.report.get("reports", {}).get(by or "")
    if entry is None:
        return None
    problem = entry["problem"]
    if problem is None:
        return entry["report"], ""
    if problem["code"]:
        return None, str(PROBLEMS[problem["code"]] % {"name": summary.campaign.name})
    return None, problem["text"]


def stored_revenue_by_day(summary: CampaignSummary) -> list[dict[str, Any]]:
    """Per day (the current time zone's) with any attributed conversion: revenue and conversions of treated and
    of control recipients (not left out), added up from the stored quarter hours."""
    zone = timezone.get_current_timezone()
    days: dict[Any, dict[str, Any]] = {}
    sums: dict[tuple[Any, str], Decimal] = {}
    for quarter, arm, total, n in summary.report.get("revenue", []):
        day = datetime.fromtimestamp(quarter, tz=zone).date()
        row = days.setdefault(
            day, {"day": day, "treatment": 0.0, "control": 0.0, "treatment_conversions": 0, "control_conversions": 0}
        )
        sums[(day, arm)] = sums.get((day, arm), Decimal(0)) + Decimal(total)
        row[f"{arm}_conversions"] += n
    for (day, arm), total in sums.items():
        days[day][arm] = float(total)
    return [days[day] for day in sorted(days)]
