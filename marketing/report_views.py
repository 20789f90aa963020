"""Staff pages of the measurement: campaign reports (chart and table, CSV) and the next-best campaign per segment.

Views hold no logic: the report comes from `marketing.reports`, suggestions from `marketing.suggestions`; this
module only draws the chart (an inline SVG built here, so the page needs no script and no CDN).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST
from statsmodels.stats.proportion import proportion_confint

from marketing.models import Campaign
from marketing.reports import (
    SEGMENT,
    attribute_keys,
    campaign_power,
    campaign_report_or_none,
    report_csv,
    report_power,
)
from marketing.suggestions import create_draft_from_suggestion, suggestions
from segments.models import Segment

REPORTED = (Campaign.Status.SENDING, Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED)


@staff_member_required
def report_list(request):
    campaigns = (
        Campaign.objects.filter(status__in=REPORTED)
        .annotate(
            treated=Count("recipients", filter=Q(recipients__is_control=False, recipients__exclusion="")),
            control=Count("recipients", filter=Q(recipients__is_control=True)),
            converted=Count("recipients", filter=Q(recipients__conversions__gt=0, recipients__exclusion="")),
        )
        .order_by("-created_at", "-id")
    )
    rows = suggestions()
    for row in rows:
        ci = row["expected_uplift_ci"]
        row["uplift_text"] = (
            f"{100 * row['expected_uplift']:+.1f} points [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
            if row["expected_uplift"] is not None and ci
            else ""
        )
    context = {
        "title": "Campaign reports",
        "campaigns": campaigns,
        "suggestions": rows,
        "can_draft": request.user.has_perm("marketing.add_campaign"),
    }
    return render(request, "marketing/report_list.html", context)


def _by(request, campaign: Campaign) -> tuple[str | None, list[str]]:
    choices = [SEGMENT, *attribute_keys(campaign)]
    by = request.GET.get("by") or None
    if by is not None and by not in choices:
        raise Http404(f"no breakdown {by!r} for this campaign")
    return by, choices


@staff_member_required
def report_detail(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    by, choices = _by(request, campaign)
    report, problem = campaign_report_or_none(campaign, by=by)
    groups = _chart_groups(report) if report else []
    context = {
        "title": f"Report: {campaign.name}",
        "campaign": campaign,
        "report": report,
        "problem": problem,
        "by": by,
        "choices": choices,
        "groups": groups,
        "chart": uplift_chart_svg(groups) if groups else "",
        "power": report_power(report) if report else campaign_power(campaign),
    }
    return render(request, "marketing/report_detail.html", context)


@staff_member_required
def report_export(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    by, _choices = _by(request, campaign)
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
        raise PermissionDenied("creating campaigns needs the 'add campaign' permission")
    try:
        campaign = create_draft_from_suggestion(segment_id, request.user)
    except Segment.DoesNotExist as exc:
        raise Http404(str(exc)) from exc
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("marketing-reports:list")
    messages.success(request, f"Draft campaign {campaign.name!r} created: review it before scheduling.")
    try:
        return redirect(reverse("admin:marketing_campaign_change", args=[campaign.pk]))
    except NoReverseMatch:
        return redirect("marketing-reports:list")


# --- the chart ------------------------------------------------------------------------------------------


def _wilson(conversions: int, recipients: int) -> list[float] | None:
    if not recipients:
        return None
    lo, hi = proportion_confint(conversions, recipients, alpha=0.05, method="wilson")
    return [float(lo), float(hi)]


def _chart_groups(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the chart and its table: per group (or overall) and variant, both rates with their intervals."""
    breakdown = report.get("breakdown")
    sections = (
        [
            ("(none)" if g["value"] is None else str(g["value"]), g["control"], g["variants"])
            for g in breakdown["groups"]
        ]
        if breakdown
        else [("All recipients", report["control"], report["variants"])]
    )
    several = len(report["variants"]) > 1
    rows = []
    for label, control, variants in sections:
        for variant in variants:
            ci = variant["uplift_ci"]
            verdict = "unclear"
            if ci and ci[0] > 0:
                verdict = "worked"
            elif ci and ci[1] < 0:
                verdict = "backfired"
            rows.append(
                {
                    "label": f"{label} · {variant['name']}" if several else label,
                    "control": control,
                    "control_ci": _wilson(control["conversions"], control["recipients"]),
                    "variant": variant,
                    "variant_ci": _wilson(variant["conversions"], variant["recipients"]),
                    "verdict": verdict,
                }
            )
    return rows


def uplift_chart_svg(rows: list[dict[str, Any]]) -> SafeString:
    """Per row: control and treatment conversion rate with 95 % Wilson intervals (left), and the uplift with
    its 95 % Newcombe interval against a zero line (right). Labels are escaped; numbers are formatted here."""
    row_h, top, label_w, panel_w, gap = 34, 34, 190, 300, 40
    width = label_w + 2 * panel_w + gap + 20
    height = top + row_h * len(rows) + 30
    rates = [x for r in rows for x in (r["control_ci"] or []) + (r["variant_ci"] or [])]
    rate_max = min(1.0, max(rates, default=0.1) * 1.1) or 0.1
    uplifts = [x for r in rows for x in (r["variant"]["uplift_ci"] or [])] + [0.0]
    u_lo, u_hi = min(uplifts), max(uplifts)
    pad = (u_hi - u_lo) * 0.08 or 0.01
    u_lo, u_hi = u_lo - pad, u_hi + pad
    x_rate = lambda v: label_w + v / rate_max * panel_w  # noqa: E731
    x_up = lambda v: label_w + panel_w + gap + (v - u_lo) / (u_hi - u_lo) * panel_w  # noqa: E731
    colours = {"worked": "#1a7f37", "backfired": "#c62828", "unclear": "#6e7781"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-labelledby="chart-title" style="font: 12px sans-serif; max-width: 100%">',
        '<title id="chart-title">Conversion rate of treatment against control, and the uplift, per group, '
        "with 95 % intervals</title>",
        f'<text x="{label_w}" y="14" font-weight="bold">Conversion rate (95 % interval)</text>',
        f'<text x="{label_w}" y="28" fill="#6e7781">● control</text>',
        f'<text x="{label_w + 80}" y="28" fill="#0969da">● treatment</text>',
        f'<text x="{label_w + panel_w + gap}" y="14" font-weight="bold">Uplift, points (95 % interval)</text>',
    ]
    zero = x_up(0.0)
    parts.append(f'<line x1="{zero:.1f}" y1="{top - 4}" x2="{zero:.1f}" y2="{height - 24}" stroke="#999" />')
    for i, row in enumerate(rows):
        y = top + i * row_h + row_h / 2
        if i % 2 == 0:
            parts.append(f'<rect x="0" y="{y - row_h / 2:.1f}" width="{width}" height="{row_h}" fill="#f6f8fa" />')
        parts.append(f'<text x="4" y="{y + 4:.1f}">{escape(row["label"][:30])}</text>')
        for offset, rate, ci, colour in (
            (-6, row["control"]["conversion_rate"], row["control_ci"], "#6e7781"),
            (6, row["variant"]["conversion_rate"], row["variant_ci"], "#0969da"),
        ):
            if rate is None or ci is None:
                continue
            yy = y + offset
            parts.append(
                f'<line x1="{x_rate(ci[0]):.1f}" y1="{yy:.1f}" x2="{x_rate(ci[1]):.1f}" y2="{yy:.1f}" '
                f'stroke="{colour}" stroke-width="2" />'
                f'<circle cx="{x_rate(rate):.1f}" cy="{yy:.1f}" r="4" fill="{colour}" />'
            )
        uplift, ci = row["variant"]["uplift"], row["variant"]["uplift_ci"]
        if uplift is not None and ci is not None:
            colour = colours[row["verdict"]]
            parts.append(
                f'<line x1="{x_up(ci[0]):.1f}" y1="{y:.1f}" x2="{x_up(ci[1]):.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="3" />'
                f'<rect x="{x_up(uplift) - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}" />'
            )
    axis_y = height - 10
    for value in (0.0, rate_max / 2, rate_max):
        parts.append(f'<text x="{x_rate(value):.1f}" y="{axis_y}" text-anchor="middle">{100 * value:.1f}%</text>')
    for value in (u_lo, 0.0, u_hi):
        parts.append(f'<text x="{x_up(value):.1f}" y="{axis_y}" text-anchor="middle">{100 * value:+.1f}</text>')
    parts.append("</svg>")
    # Every label above is escaped; everything else is a number formatted here.
    return mark_safe("".join(parts))
