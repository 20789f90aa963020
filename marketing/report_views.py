"""Staff pages of the measurement: campaign reports (charts and tables, CSV) and the next-best campaign per segment.

Views hold no logic: the report, funnel, revenue over time and list counts are read from the campaign's stored
summary (`marketing.report_summaries`, worked out by the attribution job and on completion), suggestions come from
`marketing.suggestions`; this module turns them into rows and chart specifications (`marketing.staff.charts`,
drawn in the browser by Chart.js from the pinned package). Only a breakdown by a recipient attribute and the CSV
export compute the report on request (`marketing.reports`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from statsmodels.stats.proportion import proportion_confint

from marketing.models import Campaign
from marketing.report_summaries import campaign_summaries, campaign_summary, stored_report, stored_revenue_by_day
from marketing.reports import (
    SEGMENT,
    attribute_keys,
    campaign_report_or_none,
    estimate_power,
    report_csv,
    report_power,
)
from marketing.staff import charts, selectors
from marketing.suggestions import create_draft_from_suggestion
from segments.models import Segment

REPORTED = (Campaign.Status.SENDING, Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED)


@staff_member_required
def report_list(request):
    campaigns = list(Campaign.objects.filter(status__in=REPORTED).order_by("-created_at", "-id"))
    summaries = campaign_summaries(campaigns, with_report=False)  # the counts, not each report's figures
    context = {
        "title": _("Campaign reports"),
        "campaigns": [{"campaign": c, "summary": summaries[c.pk]} for c in campaigns],
        "suggestions": selectors.cached_suggestions(),
        "can_draft": request.user.has_perm("marketing.add_campaign"),
    }
    return render(request, "marketing/report_list.html", context)


def _by(request, choices: list[str], *, default: str | None = None) -> str | None:
    """The breakdown asked for (`?by=`; an empty value is the overall report only), else `default`."""
    by = (request.GET["by"] or None) if "by" in request.GET else default
    if by is not None and by not in choices:
        raise Http404(_("no breakdown %(by)r for this campaign") % {"by": by})
    return by


@staff_member_required
def report_detail(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    summary = campaign_summary(campaign)
    choices = [SEGMENT, *summary.report.get("attribute_keys", [])]
    # Per segment unless asked otherwise, when the audience was built from segments.
    by = _by(request, choices, default=summary.report.get("default_by"))
    report, problem = _report(summary, by=by)
    funnel = summary.report["funnel"]
    imported = campaign.origin == Campaign.Origin.IMPORTED
    # Before a result, the power comes from the audience's purchase history, stored as its inputs.
    power = report_power(report) if report else estimate_power(summary.report.get("power_inputs"))
    groups = _chart_groups(report) if report else []
    revenue = _revenue_rows(stored_revenue_by_day(summary), funnel)
    context = {
        "title": _("Report: %(campaign)s") % {"campaign": campaign.name},
        "campaign": campaign,
        "computed_at": summary.computed_at,
        "report": report,
        "problem": problem,
        "by": by,
        "choices": choices,
        "groups": groups,
        "variants_chart": _variants_chart(report) if report else None,
        "groups_chart": _groups_chart(groups, by=by) if report and by else None,
        "imported": imported,
        "funnel": _funnel_rows(funnel, imported=imported),
        "funnel_chart": _funnel_chart(funnel, imported=imported),
        "revenue": revenue,
        "revenue_chart": _revenue_chart(revenue),
        "power": power,
    }
    return render(request, "marketing/report_detail.html", context)


# A breakdown by an attribute (not stored with the summary) is kept this long: it reads every recipient of the
# campaign, seconds on a campaign of 100,000 recipients. The CSV export always computes afresh.
REPORT_PAGE_SECONDS = 300


def _report(summary, *, by: str | None) -> tuple[dict | None, str]:
    """The report as stored with the summary (overall, per segment); another breakdown computed and kept for
    REPORT_PAGE_SECONDS per campaign, breakdown, language and stored summary."""
    stored = stored_report(summary, by=by)
    if stored is not None:
        return stored
    campaign = summary.campaign
    key = f"staff:report:{campaign.pk}:{by or ''}:{get_language()}:{summary.computed_at.timestamp()}"
    return cache.get_or_set(key, lambda: campaign_report_or_none(campaign, by=by), REPORT_PAGE_SECONDS)


@staff_member_required
def report_export(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    by = _by(request, [SEGMENT, *attribute_keys(campaign)])
    report, problem = campaign_report_or_none(campaign, by=by)
    if report is None:
        return HttpResponse(problem, status=409, content_type="text/plain; charset=utf-8")
    response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
    suffix = f"-by-{by}" if by else ""
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}{suffix}.csv"'
    return response


@staff_member_required
@require_POST
def draft_from_suggestion(request, segment_id: int):
    if not request.user.has_perm("marketing.add_campaign"):
        raise PermissionDenied(_("creating campaigns needs the 'add campaign' permission"))
    try:
        campaign = create_draft_from_suggestion(segment_id, request.user)
    except Segment.DoesNotExist as exc:
        raise Http404(str(exc)) from exc
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("marketing-reports:list")
    messages.success(
        request, _("Draft campaign %(name)r created: review it before scheduling.") % {"name": campaign.name}
    )
    try:
        return redirect(reverse("admin:marketing_campaign_change", args=[campaign.pk]))
    except NoReverseMatch:
        return redirect("marketing-reports:list")


# --- rows and charts -------------------------------------------------------------------------------------

FUNNEL_LABELS = {
    "audience": gettext_lazy("audience"),
    "sent": gettext_lazy("sent"),
    "opened": gettext_lazy("opened or shown"),
    "clicked": gettext_lazy("clicked"),
    "converted": gettext_lazy("converted"),
}
VERDICTS = {
    "worked": gettext_lazy("worked"),
    "backfired": gettext_lazy("backfired"),
    "unclear": gettext_lazy("cannot be told from chance"),
}


def _wilson(conversions: int, recipients: int) -> list[float] | None:
    if not recipients:
        return None
    lo, hi = proportion_confint(conversions, recipients, alpha=0.05, method="wilson")
    return [float(lo), float(hi)]


def _verdict(variant: dict[str, Any]) -> str:
    """From the uplift's interval; in a breakdown over several groups, only what still holds after the
    false-discovery-rate correction (a raw interval clear of 0 in one of twelve segments can be chance)."""
    ci = variant["uplift_ci"]
    if not ci or not (ci[0] > 0 or ci[1] < 0) or variant.get("significant_after_fdr") is False:
        return "unclear"
    return "worked" if ci[0] > 0 else "backfired"


def _chart_groups(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the breakdown's chart and table: per group (or overall) and variant, both rates with their
    intervals and the uplift's verdict."""
    breakdown = report.get("breakdown")
    sections = (
        [
            (_("(none)") if g["value"] is None else str(g["value"]), g["control"], g["variants"])
            for g in breakdown["groups"]
        ]
        if breakdown
        else [(_("All recipients"), report["control"], report["variants"])]
    )
    several = len(report["variants"]) > 1
    rows = []
    for label, control, variants in sections:
        for variant in variants:
            verdict = _verdict(variant)
            rows.append(
                {
                    "label": f"{label} · {variant['name']}" if several else label,
                    "control": control,
                    "control_ci": _wilson(control["conversions"], control["recipients"]),
                    "variant": variant,
                    "variant_ci": _wilson(variant["conversions"], variant["recipients"]),
                    "verdict": verdict,
                    "verdict_label": VERDICTS[verdict],
                }
            )
    return rows


def _variants_chart(report: dict[str, Any]) -> dict[str, Any]:
    variants = report["variants"]
    return charts.interval_chart(
        [v["name"] for v in variants],
        [v["uplift"] for v in variants],
        [v["uplift_ci"] for v in variants],
        # xgettext:no-python-format
        title=_("Conversion uplift of each variant over the control group, with 95 % intervals"),
        x_title=_("uplift in percentage points"),
    )


def _groups_chart(groups: list[dict[str, Any]], *, by: str) -> dict[str, Any]:
    return charts.interval_chart(
        [row["label"] for row in groups],
        [row["variant"]["uplift"] for row in groups],
        [row["variant"]["uplift_ci"] for row in groups],
        title=_("Conversion uplift per %(by)s, with 95 %% intervals") % {"by": _label_of(by)},
        x_title=_("uplift in percentage points"),
    )


def _label_of(by: str) -> str:
    return _("segment") if by == SEGMENT else by


def _funnel_rows(funnel: dict[str, dict[str, int]], *, imported: bool = False) -> list[dict[str, Any]]:
    """Per step: each arm's count and its share of the arm's audience (control: audience and converted only).
    An imported experiment's file says who converted, not who opened or clicked: those steps are left blank."""
    rows = []
    for step, label in FUNNEL_LABELS.items():
        row: dict[str, Any] = {"step": step, "label": label}
        for arm in ("treatment", "control"):
            audience = funnel[arm]["audience"]
            applies = (arm == "treatment" or step in ("audience", "converted")) and not (
                imported and step in ("opened", "clicked")
            )
            row[arm] = funnel[arm][step] if applies else None
            row[f"{arm}_share"] = funnel[arm][step] / audience if applies and audience else None
        rows.append(row)
    return rows


def _funnel_chart(funnel: dict[str, dict[str, int]], *, imported: bool = False) -> dict[str, Any] | None:
    if not funnel["treatment"]["audience"] and not funnel["control"]["audience"]:
        return None
    rows = _funnel_rows(funnel, imported=imported)
    return charts.bar_chart(
        [row["label"] for row in rows],
        [
            (_("treatment"), [row["treatment_share"] for row in rows]),
            (_("control (held out: never sent)"), [row["control_share"] for row in rows]),
        ],
        title=_("Funnel of treatment and control, as shares of each group's audience"),
        fmt="percent",
    )


def _revenue_rows(days: list[dict[str, Any]], funnel: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Each day's attributed revenue per arm, and the running total per measured recipient (comparable across
    arms of different sizes)."""
    sizes = {arm: funnel[arm]["measured"] for arm in ("treatment", "control")}
    totals = {"treatment": 0.0, "control": 0.0}
    rows = []
    for day in days:
        row = dict(day)
        for arm in ("treatment", "control"):
            totals[arm] += day[arm]
            row[f"{arm}_per_recipient"] = totals[arm] / sizes[arm] if sizes[arm] else None
        rows.append(row)
    return rows


def _revenue_chart(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    return charts.line_chart(
        [date_format(row["day"], "MONTH_DAY_FORMAT") for row in rows],
        [
            (_("treatment"), [row["treatment_per_recipient"] for row in rows]),
            (_("control"), [row["control_per_recipient"] for row in rows]),
        ],
        title=_("Attributed revenue per recipient, running total by day"),
        fmt="money",
        y_title=_("revenue per recipient"),
    )
