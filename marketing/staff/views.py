"""Staff pages: each view reads through selectors and writes through services; templates only format."""

from __future__ import annotations

import re
import zoneinfo
from functools import wraps
from typing import Any
from urllib.parse import unquote

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from config.admin_display import value_text
from marketing.models import Campaign, Recipient
from marketing.report_summaries import campaign_summaries
from marketing.report_views import REPORTED
from marketing.staff import charts, selectors
from marketing.staff.charts import heat_color
from marketing.staff.selectors import uplift_from_arms
from recommender.models import ModelSwitch, TrainingRun
from recommender.selectors import customer_history
from recommender.services import promote_model, rollback_model
from segments.models import Membership, Segment, SegmentationDefinition, SegmentationMethod, SegmentationRun
from segments.naming import segment_name, translate_feature_label, translate_segment_name
from segments.selectors import customer_segments
from shop.models import Customer

TZ_COOKIE = "staff_tz"
RECENT_CAMPAIGNS = 5
PROFILE_BARS = 8
METRIC_ORDER = ["ndcg@10", "recall@10", "precision@10", "map", "coverage", "eval_users"]


def staff_page(view):
    """Staff login required; dates shown in the staff member's time zone (sent by the browser in a cookie)."""

    @staff_member_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        name = unquote(request.COOKIES.get(TZ_COOKIE, ""))
        try:
            timezone.activate(zoneinfo.ZoneInfo(name)) if name else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()

    return wrapper


# --- Dashboard ------------------------------------------------------------------------------------------


def _campaign_rows(campaigns: list[Campaign]) -> list[dict[str, Any]]:
    """Each campaign with its best variant's uplift, from the summaries the attribution job stores."""
    summaries = campaign_summaries(campaigns, with_report=False)
    return [
        {"campaign": c, "computed_at": summaries[c.pk].computed_at, **uplift_from_arms(summaries[c.pk].uplift_arms)}
        for c in campaigns
    ]


def _campaigns_chart(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    measured = [row for row in rows if row["variant"]]
    if not measured:
        return None
    return charts.interval_chart(
        [f"{row['campaign'].name} · {row['variant']['name']}" for row in measured],
        [row["variant"]["uplift"] for row in measured],
        [row["variant"]["uplift_ci"] for row in measured],
        # xgettext:no-python-format
        title=_("Conversion uplift of each campaign's best variant over its control group, with 95 % intervals"),
        x_title=_("uplift in percentage points"),
    )


def _sizes_chart(segments: list[Segment], *, title: str) -> dict[str, Any] | None:
    if not segments:
        return None
    return charts.bar_chart(
        [segment_name(s) for s in segments],
        [(_("Customers"), [s.size for s in segments])],
        title=title,
        horizontal=True,
    )


def _metrics_chart(metrics: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The model's quality measures that are shares (0 to 1) as bars in percent, under their short names (the
    table beside it spells them out); counts stay in the table."""
    shares = [m for m in metrics if m["rate"] and isinstance(m["value"], int | float)]
    if not shares:
        return None
    return charts.bar_chart(
        [m["short"] for m in shares],
        [(_("Active model"), [m["value"] for m in shares])],
        title=_("Quality of the active model on held-out purchases"),
        fmt="percent",
        horizontal=True,
    )


@staff_page
def dashboard(request):
    trends = selectors.trends()
    customers, events, totals = trends["customers"], trends["events"], trends["totals"]
    whole_months, whole_weeks = (
        _whole(customers, trends["partial"]["customers"]),
        _whole(events, trends["partial"]["events"]),
    )
    definitions = list(
        SegmentationDefinition.objects.exclude(active_run=None).select_related("active_run").order_by("name")
    )
    segments_by_run: dict[int, list[Segment]] = {}
    for segment in (
        Segment.objects.active()
        .only("pk", "run_id", "name", "name_is_custom", "size", "share")
        .order_by("-size", "key")
    ):
        segments_by_run.setdefault(segment.run_id, []).append(segment)
    segmentations = [
        {
            "definition": d,
            "run": d.active_run,
            "segments": segments_by_run.get(d.active_run_id, []),
            "chart_id": f"chart-segments-{d.active_run_id}",
            "chart": _sizes_chart(
                segments_by_run.get(d.active_run_id, []),
                title=_("Customers per segment of %(name)s") % {"name": d.name},
            ),
        }
        for d in definitions
    ]
    campaigns = list(Campaign.objects.filter(status__in=REPORTED).order_by("-created_at", "-pk")[:RECENT_CAMPAIGNS])
    campaign_rows = _campaign_rows(campaigns)
    model = TrainingRun.objects.filter(is_active=True).first()
    model_metrics = _metrics(model.metrics) if model else []
    context = {
        "title": _("Dashboard"),
        "totals": totals,
        "customers": customers,
        "partial": trends["partial"],
        "customers_chart": charts.line_chart(
            [date_format(month, "YEAR_MONTH_FORMAT") for month, _n in whole_months],
            [(_("Customers signed up"), [n for _month, n in whole_months])],
            title=_("Customers signed up per month"),
        ),
        "events": events,
        "events_chart": charts.line_chart(
            [date_format(week, "MONTH_DAY_FORMAT") for week, _n in whole_weeks],
            [(_("Events"), [n for _week, n in whole_weeks])],
            title=_("Events per week"),
        ),
        "segmentations": segmentations,
        "campaigns": campaign_rows,
        "campaigns_chart": _campaigns_chart(campaign_rows),
        "model": model,
        "model_metrics": model_metrics,
        "model_chart": _metrics_chart(model_metrics),
        "jobs": selectors.jobs(limit=6),
    }
    return render(request, "staff/dashboard.html", context)


def _whole(periods: list[tuple], partial: bool) -> list[tuple]:
    """The periods a trend chart draws: without the newest while it is still going on (its count so far would
    read as a drop; the table beside the chart lists it, marked), unless it is the only one."""
    return periods[:-1] if partial and len(periods) > 1 else periods


# What the dashboard calls the active model's offline measures (held-out purchases of evaluated customers).
MODEL_MEASURES = {
    "ndcg@10": gettext_lazy("ranking quality of the top 10 (NDCG@10)"),
    "recall@10": gettext_lazy("later purchases found in the top 10 (recall@10)"),
    "precision@10": gettext_lazy("top-10 suggestions bought (precision@10)"),
    "map": gettext_lazy("mean average precision"),
    "coverage": gettext_lazy("share of the catalogue recommended"),
    "eval_users": gettext_lazy("customers evaluated"),
}
# A segmentation run's quality measures, as the segment explorer names them.
RUN_MEASURES = {
    "silhouette": gettext_lazy("separation of the segments (silhouette, −1 to 1)"),
    "davies_bouldin": gettext_lazy("overlap of the segments (Davies–Bouldin, lower is better)"),
    "ari_previous": gettext_lazy("agreement with the previous run (adjusted Rand, 1 = same)"),
    "noise_share": gettext_lazy("share left as outliers"),
}


def _metrics(metrics: dict) -> list[dict[str, Any]]:
    """The run's measures in the dashboard's order: named in words, by their short name, and whether a share."""
    known = [k for k in METRIC_ORDER if k in metrics]
    rest = [k for k, v in sorted(metrics.items()) if k not in METRIC_ORDER and isinstance(v, int | float)]
    return [
        {
            "label": MODEL_MEASURES.get(k, k),
            "short": METRIC_LABELS.get(k, k),
            "value": metrics[k],
            "rate": k in RATE_METRICS,
        }
        for k in known + rest
    ]


# --- Segment explorer -----------------------------------------------------------------------------------


@staff_page
def segmentation_list(request):
    definitions = list(SegmentationDefinition.objects.select_related("active_run").order_by("name"))
    runs = list(
        SegmentationRun.objects.select_related("definition")
        .annotate(n_segments=Count("segments"))
        .order_by("-created_at", "-pk")[:30]
    )
    return render(
        request, "staff/segmentation_list.html", {"title": _("Segments"), "definitions": definitions, "runs": runs}
    )


def _profile_bars(profile: dict) -> list[dict[str, Any]]:
    """The features that set the segment apart most (by |z|), largest first."""
    features = profile.get("features") or {}
    rows = sorted(features.items(), key=lambda kv: -abs(kv[1].get("z") or 0))[:PROFILE_BARS]
    bars = []
    for key, f in rows:
        z = float(f.get("z") or 0)
        label = _("spend on %(category)s") % {"category": key[len("share_") :]} if key.startswith("share_") else None
        bars.append(
            {
                "key": key,
                "label": label or translate_feature_label(f.get("label", key)),
                "z": z,
                "mean": f.get("mean"),
                "overall": f.get("overall"),
            }
        )
    return bars


def _scores(text: str) -> list[int]:
    """'1–2' -> [1, 2], '4' -> [4], '3-5' -> [3, 4, 5]."""
    numbers = [int(n) for n in re.findall(r"\d", str(text))]
    if not numbers:
        return []
    return list(range(min(numbers), max(numbers) + 1))


def _rfm_grid(segments: list[Segment]) -> dict[str, Any] | None:
    """Recency score × frequency-monetary score: which segment each cell belongs to, shaded by its share."""
    cells: dict[tuple[int, int], Segment] = {}
    for segment in segments:
        rule = segment.profile.get("rfm_rule") or {}
        for r in _scores(rule.get("r", "")):
            for fm in _scores(rule.get("fm", "")):
                cells[(r, fm)] = segment
    if not cells:
        return None
    top = max(s.share for s in cells.values()) or 1.0
    rows = []
    for fm in range(5, 0, -1):
        row = []
        for r in range(1, 6):
            segment = cells.get((r, fm))
            share = segment.share if segment else 0.0
            row.append({"r": r, "segment": segment, "colour": heat_color(share / top), "dark": share / top > 0.55})
        rows.append({"fm": fm, "cells": row})
    return {"rows": rows, "r_scores": list(range(1, 6))}


def _rfm_chart(grid: dict[str, Any]) -> dict[str, Any]:
    cells = [
        (f"R {cell['r']}", f"FM {row['fm']}", cell["segment"].share, *[segment_name(cell["segment"])] * 2)
        for row in grid["rows"]
        for cell in row["cells"]
        if cell["segment"]
    ]
    return charts.matrix_chart(
        [f"R {r}" for r in grid["r_scores"]],
        [f"FM {row['fm']}" for row in grid["rows"]],
        cells,
        title=_("Recency × frequency-and-spend grid, shaded by the segment's share of customers"),
        fmt="percent",
        x_title=_("recency score (5 = bought recently)"),
        y_title=_("frequency-and-spend score"),
    )


def _movement_chart(matrix: dict[str, Any]) -> dict[str, Any]:
    cells = [
        (
            target,
            row["source"],
            cell["n"],
            _("%(share)s of the row") % {"share": f"{100 * cell['share']:.0f} %"},
            number_format(cell["n"], force_grouping=True),
        )
        for row in matrix["rows"]
        for target, cell in zip(matrix["targets"], row["cells"], strict=True)
        if cell["n"]
    ]
    return charts.matrix_chart(
        matrix["targets"],
        [row["source"] for row in matrix["rows"]],
        cells,
        title=_("Customers by their segment in the previous run (rows) and in this run (columns)"),
        x_title=_("segment in this run"),
        y_title=_("segment in the previous run"),
    )


def _projection(run: SegmentationRun, segments: list[Segment]) -> dict[str, Any] | None:
    """The run's stored sample on two principal components, and per segment its points and centre (the text
    beside the scatter)."""
    groups = [(s, s.profile.get("projection") or []) for s in segments]
    groups = [(s, points) for s, points in groups if points]
    if not groups:
        return None
    explained = run.metrics.get("projection_explained") or [None, None]

    def axis(n: int) -> str:
        share = explained[n - 1]
        if share is None:
            return _("component %(n)s") % {"n": n}
        return _("component %(n)s (%(share)s of the variation)") % {"n": n, "share": f"{100 * share:.0f} %"}

    rows = [
        {
            "segment": s,
            "points": len(points),
            "x": sum(p[0] for p in points) / len(points),
            "y": sum(p[1] for p in points) / len(points),
        }
        for s, points in groups
    ]
    return {
        "chart": charts.scatter_chart(
            [(segment_name(s), points) for s, points in groups],
            title=_("A sample of customers on the two directions in which their features vary most, by segment"),
            x_title=axis(1),
            y_title=axis(2),
        ),
        "rows": rows,
        "total": sum(row["points"] for row in rows),
    }


def _moved_name(name: str | None) -> str:
    return translate_segment_name(name) if name else _("(not segmented)")


def _movement_matrix(run: SegmentationRun, segments: list[Segment]) -> dict[str, Any] | None:
    if not run.movement:
        return None
    sources = []
    for row in run.movement:
        name = _moved_name(row.get("from_name"))
        if name not in sources:
            sources.append(name)
    targets = [segment_name(s) for s in segments]
    for row in run.movement:
        name = _moved_name(row.get("to_name"))
        if name not in targets:
            targets.append(name)
    counts = {(_moved_name(r.get("from_name")), _moved_name(r.get("to_name"))): r["customers"] for r in run.movement}
    top = max(counts.values()) or 1
    rows = []
    for source in sources:
        total = sum(counts.get((source, t), 0) for t in targets)
        cells = []
        for target in targets:
            n = counts.get((source, target), 0)
            cells.append(
                {
                    "n": n,
                    "share": n / total if total else 0,
                    "colour": heat_color(n / top),
                    "dark": n / top > 0.55,
                    "stay": source == target,
                }
            )
        rows.append({"source": source, "cells": cells, "total": total})
    return {"targets": targets, "rows": rows}


@staff_page
def segmentation_run(request, pk: int):
    run = get_object_or_404(SegmentationRun.objects.select_related("definition", "previous_run"), pk=pk)
    segments = list(run.segments.order_by("-size", "key"))
    is_active = run.definition.active_run_id == run.pk
    suggested = {row["segment"]: row for row in selectors.cached_suggestions()} if is_active else {}
    cards = []
    for s in segments:
        bars = _profile_bars(s.profile)
        top_categories = s.profile.get("top_categories") or []
        cards.append(
            {
                "segment": s,
                "bars": bars,
                "bars_chart": charts.bar_chart(
                    [bar["label"] for bar in bars],
                    [(_("standard deviations from the average"), [bar["z"] for bar in bars])],
                    title=_("What sets %(segment)s apart, in standard deviations from the average customer")
                    % {"segment": s.name},
                    fmt="z",
                    horizontal=True,
                    signed=True,
                )
                if bars
                else None,
                "top_categories": top_categories,
                "categories_chart": charts.bar_chart(
                    [c["category"] for c in top_categories],
                    [(_("share of spend"), [c["spend_share"] for c in top_categories])],
                    title=_("Share of %(segment)s's spend per category") % {"segment": s.name},
                    fmt="percent",
                    horizontal=True,
                )
                if top_categories
                else None,
                "top_products": s.profile.get("top_products") or [],
                "suggestion": suggested.get(s.pk),
            }
        )
    rfm = _rfm_grid(segments) if run.method == SegmentationMethod.RFM else None
    movement = _movement_matrix(run, segments)
    context = {
        "title": _("Segmentation %(name)s, run #%(id)s") % {"name": run.definition.name, "id": run.pk},
        "run": run,
        "is_active": is_active,
        "cards": cards,
        "sizes_chart": _sizes_chart(segments, title=_("Customers per segment")),
        "projection": _projection(run, segments),
        "rfm": rfm,
        "rfm_chart": _rfm_chart(rfm) if rfm else None,
        "movement": movement,
        "movement_chart": _movement_chart(movement) if movement else None,
        "quality": [
            (RUN_MEASURES[k], run.metrics.get(k))
            for k in ("silhouette", "davies_bouldin", "ari_previous", "noise_share")
            if isinstance(run.metrics.get(k), int | float)
        ],
        "can_draft": request.user.has_perm("marketing.add_campaign"),
    }
    return render(request, "staff/segmentation_run.html", context)


# --- Customer profile -----------------------------------------------------------------------------------


@staff_page
def customer_search(request):
    query = request.GET.get("q", "").strip()
    found = []
    if query:
        found = list(
            Customer.objects.filter(Q(external_id=query) | Q(email__iexact=query) | Q(name__icontains=query)).order_by(
                "external_id"
            )[:25]
        )
        if len(found) == 1:
            return redirect("staff:customer", external_id=found[0].external_id)
    return render(request, "staff/customer_search.html", {"title": _("Customers"), "query": query, "found": found})


# The profile features a customer is compared on, as the segmentations compute them; shares shown as percentages.
CUSTOMER_FEATURES = [
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "days_between_orders",
    "tenure_days",
    "views",
    "carts",
    "purchases",
    "browsing_minutes",
    "conversion",
    "return_rate",
    "mean_rating",
]
SHARE_FEATURES = {"conversion", "return_rate"}
# Counts: one customer's is a whole number (the average beside it keeps its decimal).
COUNT_FEATURES = {"frequency", "views", "carts", "purchases"}


def _features_vs_average(customer: Customer, segments: list[Segment]) -> list[dict[str, Any]]:
    """The customer's features, computed by the segmentations' own feature code, beside the average customer's
    (the 'overall' the active segment profiles stored): a few aggregate queries for this one customer."""
    from segments.ml.features import FEATURE_LABELS, customer_features
    from segments.selectors import feature_inputs

    overall: dict[str, float | None] = {}
    labels: dict[str, str] = {}
    for segment in segments:
        for key, f in (segment.profile.get("features") or {}).items():
            overall.setdefault(key, f.get("overall"))
            labels.setdefault(key, f.get("label") or key)
    # Measured at the moment the segment profiles were (their run's as_of): recency and tenure compare like with like.
    stamps = [s.run.metrics.get("as_of") for s in segments if s.run.metrics.get("as_of")]
    as_of = parse_datetime(max(stamps)) if stamps else None
    inputs = feature_inputs(customer_ids=Customer.objects.filter(pk=customer.pk).values("pk"))
    frame = customer_features(inputs, as_of=as_of or timezone.now())
    own = frame.iloc[0].to_dict() if len(frame) else {}
    rows = []
    for key in CUSTOMER_FEATURES:
        if key not in own and key not in overall:
            continue
        value = own.get(key)
        value = None if value is None or value != value else float(value)  # NaN: unknown (no order yet)
        average = overall.get(key)
        rows.append(
            {
                "label": labels.get(key) or FEATURE_LABELS.get(key, key),
                "value": value,
                "average": average,
                "ratio": value / average if value is not None and average else None,
                "share": key in SHARE_FEATURES,
                "count": key in COUNT_FEATURES,
            }
        )
    return rows


@staff_page
def customer_profile(request, external_id: str):
    customer = Customer.objects.filter(external_id=external_id).first()
    if customer is None:
        raise Http404(_("No customer %(id)r.") % {"id": external_id})
    segments = customer_segments(customer_id=customer.pk)
    history_segments = list(
        Membership.objects.filter(customer=customer)
        .select_related("segment__run__definition")
        .order_by("-segment__run__created_at")[:30]
    )
    recipients = list(
        Recipient.objects.filter(customer=customer).select_related("campaign", "variant").order_by("-pk")[:30]
    )
    served = _served(customer)
    context = {
        "title": customer.name or customer.external_id,
        "customer": customer,
        "segments": segments,
        "history_segments": history_segments,
        "features": _features_vs_average(customer, segments),
        "history": customer_history(customer_id=customer.pk, limit=20),
        "recipients": recipients,
        "served": served,
    }
    return render(request, "staff/customer.html", context)


def _served(customer: Customer):
    """What we recommend now, with reasons (the serving engine; empty when no model serves)."""
    from recommender.serving import engine

    try:
        return engine.recommend(external_id=customer.external_id, n=10)
    except Exception:  # noqa: BLE001 — the profile still shows when serving is down; the page says so
        return None


# --- Model registry -------------------------------------------------------------------------------------


# Short names for column headers and the chart's legend; the comparison's rows use MODEL_MEASURES' words.
METRIC_LABELS = {
    "ndcg@10": "NDCG@10",
    "recall@10": "Recall@10",
    "precision@10": "Precision@10",
    "map": "MAP",
    "coverage": gettext_lazy("Coverage"),
    "eval_users": gettext_lazy("Customers evaluated"),
}
RATE_METRICS = ["ndcg@10", "recall@10", "precision@10", "map", "coverage"]
COMPARE_MAX = 6


def _compare(runs: list[TrainingRun], ids: list[int], serving: TrainingRun | None) -> dict[str, Any] | None:
    """The chosen runs as columns, metrics and settings as rows; rates also as a difference to the serving run."""
    chosen = [r for r in runs if r.pk in ids]
    if not chosen:
        return None
    keys = [k for k in METRIC_ORDER if any(k in r.metrics for r in chosen)]
    rows = []
    for key in keys:
        base = serving.metrics.get(key) if serving else None
        cells = []
        for run in chosen:
            value = run.metrics.get(key)
            delta = None
            if key in RATE_METRICS and isinstance(value, int | float) and isinstance(base, int | float):
                delta = value - base if run.pk != serving.pk else None
            cells.append({"value": value, "delta": delta})
        rows.append({"key": MODEL_MEASURES.get(key, key), "cells": cells, "rate": key in RATE_METRICS})
    return {
        "runs": chosen,
        "rows": rows,
        "parameters": [value_text(r.parameters) for r in chosen],
    }


@staff_page
def model_registry(request):
    runs = list(TrainingRun.objects.order_by("-created_at", "-pk")[:12])
    keys = [k for k in METRIC_ORDER if any(k in r.metrics for r in runs)]
    succeeded = [r for r in reversed(runs) if r.status == TrainingRun.Status.SUCCEEDED and r.metrics]
    trend_keys = [k for k in RATE_METRICS if any(k in r.metrics for r in succeeded)]
    serving = next((r for r in runs if r.is_active), None)
    try:
        compare_ids = [int(i) for i in request.GET.getlist("compare")][:COMPARE_MAX]
    except ValueError:
        compare_ids = []
        messages.error(request, _("Runs to compare are given by their numbers."))
    if not compare_ids:  # by default: the serving run beside the newest successful ones
        compare_ids = [r.pk for r in sorted(succeeded, key=lambda r: (not r.is_active, -r.pk))[:3]]
    labels = [f"#{r.pk} {r.algorithm}" for r in succeeded]
    context = {
        "title": _("Recommendation models"),
        "runs": runs,
        "metric_keys": [METRIC_LABELS.get(k, k) for k in keys],
        "rows": [{"run": r, "values": [(r.metrics.get(k), k in RATE_METRICS) for k in keys]} for r in runs],
        "compare": _compare(runs, compare_ids, serving),
        "compare_ids": compare_ids,
        "trend": [
            {"label": label, "run": r, "values": [r.metrics.get(k) for k in trend_keys]}
            for label, r in zip(labels, succeeded, strict=True)
        ],
        "trend_keys": [METRIC_LABELS.get(k, k) for k in trend_keys],
        "trend_chart": charts.line_chart(
            labels,
            [(METRIC_LABELS.get(k, k), [r.metrics.get(k) for r in succeeded]) for k in trend_keys],
            title=_("Offline metrics of each successful run, oldest first"),
            fmt="percent",
            x_title=_("training run"),
        )
        if succeeded
        else None,
        "history": list(ModelSwitch.objects.select_related("from_run", "to_run", "acting_user")[:20]),
        "can_switch": request.user.has_perm("recommender.change_trainingrun"),
    }
    return render(request, "staff/models.html", context)


@staff_page
@require_POST
def model_switch(request, pk: int):
    if not request.user.has_perm("recommender.change_trainingrun"):
        raise PermissionDenied(_("switching models needs the 'change training run' permission"))
    run = get_object_or_404(TrainingRun, pk=pk)
    action = request.POST.get("action")
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, _("Give a reason: it is kept in the model history."))
        return redirect("staff:models")
    try:
        if action == "promote":
            promote_model(run=run, acting_user=request.user, reason=reason)
            messages.success(request, _("Run #%(id)s now serves.") % {"id": run.pk})
        elif action == "rollback":
            serving = rollback_model(run=run, acting_user=request.user, reason=reason)
            messages.success(request, _("Rolled back: run #%(id)s serves again.") % {"id": serving.pk})
        else:
            messages.error(request, _("Unknown action %(action)r: use promote or rollback.") % {"action": action})
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    return redirect("staff:models")


# --- Job monitor ----------------------------------------------------------------------------------------


@staff_page
def job_monitor(request):
    from marketing.schedules import schedule_rows

    scheduled = sorted((r for r in schedule_rows()[0] if r.next_run), key=lambda r: r.next_run)[:5]
    return render(request, "staff/jobs.html", {"title": _("Jobs"), "jobs": selectors.jobs(), "scheduled": scheduled})


@staff_page
def job_panel(request):
    """The job monitor's tables alone, redrawn by htmx every 2 seconds."""
    return render(request, "staff/_jobs_panel.html", {"jobs": selectors.jobs()})


@staff_page
def job_status(request):
    """The running jobs' progress as JSON, polled by the job monitor every few seconds."""
    jobs = selectors.jobs()

    def out(row):
        return {
            "key": f"{row['kind']}-{row['id']}",
            "kind": row["kind"],
            "label": row["label"],
            "status": row["status"],
            "status_label": str(row["status_label"]),
            "progress": row["progress"],
            "stage": row["stage"],
            "error": row["error"],
        }

    return JsonResponse({"running": [out(r) for r in jobs["running"]], "recent": [out(r) for r in jobs["recent"]]})
