"""Reads for the staff pages: aggregates in a fixed number of queries, whatever the number of rows."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from marketing.models import Campaign
from recommender.models import TrainingRun
from segments.models import IN_PROGRESS, RunStatus, SegmentationRun
from shop.counts.selectors import counted_days
from shop.models import Customer

JOB_ROWS = 10


def trends(*, months: int = 12, weeks: int = 26) -> dict[str, Any]:
    """The dashboard's totals and trends from the daily counts (topped up first with the rows added since they were
    last counted; a few hundred rows, whatever the size of the events table). Days are the site's time zone's.

    customers: (first day of the month, customers who signed up in it) for the last `months` months, counted back
    from the newest sign-up; events: (week's Monday, events that week) for the last `weeks` weeks, counted back
    from the newest event; totals: customers (not stubs), events, and the times of the first and last event.
    """
    days = list(
        counted_days().values_list("day", "interactions", "signups", "first_interaction_at", "last_interaction_at")
    )
    signups = [(day, n) for day, _events, n, *_times in days if n]
    events = [(day, n) for day, n, *_rest in days if n]
    active = [row for row in days if row[1]]
    month, week = (lambda day: day.replace(day=1)), (lambda day: day - timedelta(days=day.weekday()))
    return {
        "customers": _per_period(signups, since_days=31 * months, period=month),
        "events": _per_period(events, since_days=7 * weeks, period=week),
        # The newest month or week still going on (its count is so far, not a drop): the last counted day is not
        # its last day.
        "partial": {
            "customers": bool(days) and month(days[-1][0] + timedelta(days=1)) == month(days[-1][0]),
            "events": bool(days) and week(days[-1][0] + timedelta(days=1)) == week(days[-1][0]),
        },
        "totals": {
            "customers": Customer.objects.filter(is_stub=False).count(),
            "events": sum(n for _day, n in events),
            "first_event": active[0][3] if active else None,
            "last_event": active[-1][4] if active else None,
        },
    }


def _per_period(days: list[tuple[date, int]], *, since_days: int, period) -> list[tuple[date, int]]:
    """Sums of `days` (oldest first) per period (`period(day)` is its first day), over the `since_days` days up to
    the last day, from the first period that lies wholly in them (a period cut short at the start would read as a
    drop)."""
    if not days:
        return []
    since = days[-1][0] - timedelta(days=since_days)
    sums: dict[date, int] = {}
    for day, n in days:
        if period(day) > since:
            sums[period(day)] = sums.get(period(day), 0) + n
    return list(sums.items())


def _job(kind: str, label: str, run, *, admin: str, status: str, status_label: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": run.pk,
        "label": label,
        "status": status,
        "status_label": status_label,
        "progress": run.progress if hasattr(run, "progress") else (100 if status == "succeeded" else 0),
        "stage": getattr(run, "stage", ""),
        "created_at": run.created_at,
        "started_at": getattr(run, "started_at", None) or getattr(run, "launched_at", None),
        "finished_at": getattr(run, "finished_at", None) or getattr(run, "completed_at", None),
        "heartbeat_at": getattr(run, "heartbeat_at", None),
        "error": run.error,
        "admin_url": reverse(admin, args=[run.pk]),
    }


def _live_window(campaign: Campaign, now) -> dict[str, Any]:
    """A running on-site or triggered campaign has nothing to build: its progress is the share of its window gone by."""
    if campaign.ends_at is None:
        return {"progress": 100, "stage": _("live, no end date")}
    start = campaign.starts_at or campaign.launched_at or campaign.created_at
    total = (campaign.ends_at - start).total_seconds()
    share = (now - start).total_seconds() / total if total > 0 else 1.0
    until = date_format(timezone.localtime(campaign.ends_at), "DATETIME_FORMAT")
    return {"progress": round(100 * min(max(share, 0.0), 1.0)), "stage": _("live until %(end)s") % {"end": until}}


def jobs(*, limit: int = JOB_ROWS) -> dict[str, list[dict[str, Any]]]:
    """Running jobs (training, segmentation, campaign sends) and the most recent finished ones: three queries."""
    now = timezone.now()
    training = list(TrainingRun.objects.order_by("-created_at", "-pk")[:limit])
    segmentation = list(
        SegmentationRun.objects.select_related("definition")
        .defer("movement", "timings", "metrics", "parameters", "definition__parameters", "definition__features")
        .order_by("-created_at", "-pk")[:limit]
    )
    campaigns = list(
        Campaign.objects.exclude(status__in=[Campaign.Status.DRAFT, Campaign.Status.SCHEDULED])
        .defer("audience_rule", "audience_counts", "estimate", "trigger_parameters")
        .filter(origin=Campaign.Origin.NATIVE)
        .order_by("-created_at", "-pk")[:limit]
    )
    rows = [
        _job(
            "training",
            f"{run.algorithm or 'auto'}",
            run,
            admin="admin:recommender_trainingrun_change",
            status=run.status,
            status_label=run.get_status_display(),
        )
        for run in training
    ]
    rows += [
        _job(
            "segmentation",
            run.definition.name,
            run,
            admin="admin:segments_segmentationrun_change",
            status=run.status,
            status_label=run.get_status_display(),
        )
        for run in segmentation
    ]
    for campaign in campaigns:
        sending = campaign.status == Campaign.Status.SENDING
        failed = bool(campaign.error)
        status = "failed" if failed else ("running" if sending else "succeeded")
        row = _job(
            "campaign",
            campaign.name,
            campaign,
            admin="admin:marketing_campaign_change",
            status=status,
            status_label=campaign.get_status_display(),
        )
        if campaign.status == Campaign.Status.RUNNING and (
            campaign.channel == Campaign.Channel.ONSITE or campaign.is_triggered
        ):
            row.update(_live_window(campaign, now))
        rows.append(row)
    running = [r for r in rows if r["status"] in IN_PROGRESS]
    failed = [r for r in rows if r["status"] == RunStatus.FAILED]
    recent = sorted((r for r in rows if r["status"] not in IN_PROGRESS), key=lambda r: r["created_at"], reverse=True)
    return {"running": running, "failed": failed, "recent": recent[:limit]}


def campaign_uplift_arms(*, campaign_ids: list[int]) -> dict[int, dict[str, Any]]:
    """campaign id -> {"control": [converted, n] or None, "variants": [[name, converted, n], ...]}: the recipients
    `uplift_from_arms` compares, aggregated in one query for all the campaigns."""
    from marketing.models import Recipient

    treated = Q(is_control=False, status__in=[Recipient.Status.SENT, Recipient.Status.FAILED])
    rows = (
        Recipient.objects.filter(campaign_id__in=campaign_ids, exclusion="")
        .filter(treated | Q(is_control=True))
        .values("campaign_id", "is_control", "variant__name")
        .annotate(n=Count("pk"), converted=Count("pk", filter=Q(conversions__gt=0)))
        .order_by()
    )
    arms: dict[int, dict[str, Any]] = {pk: {"control": None, "variants": []} for pk in campaign_ids}
    for row in rows:
        if row["is_control"]:
            arms[row["campaign_id"]]["control"] = [row["converted"], row["n"]]
        else:
            arms[row["campaign_id"]]["variants"].append([row["variant__name"] or "", row["converted"], row["n"]])
    for arm in arms.values():
        arm["variants"].sort()
    return arms


def uplift_from_arms(arms: dict[str, Any]) -> dict[str, Any]:
    """A campaign's best variant's conversion uplift over control with the 95 % interval, or the reason there is
    none, from its arms (`campaign_uplift_arms`)."""
    from marketing.ml.stats import compare_proportions

    if arms.get("control") is None:
        return {"variant": None, "problem": _("no control group to compare against")}
    if not arms.get("variants"):
        return {"variant": None, "problem": _("no treated recipients yet")}
    compared = [(name, compare_proportions(conv, n, *arms["control"])) for name, conv, n in sorted(arms["variants"])]
    name, best = max(compared, key=lambda c: c[1].uplift if c[1].uplift is not None else float("-inf"))
    return {"variant": {"name": name, "uplift": best.uplift, "uplift_ci": best.uplift_ci}, "problem": ""}


FUNNEL_STEPS = ("audience", "sent", "opened", "clicked", "converted")


def campaign_funnel(*, campaign_id: int) -> dict[str, dict[str, int]]:
    """Per arm ("treatment", "control"): how many recipients were in the audience (not left out), were sent the
    message, opened it (or saw it on site), clicked and converted, and how many the report measures. One query.
    Control recipients are never sent anything: their sent, opened and clicked stay 0."""
    from marketing.models import Recipient

    measured = Q(is_control=True) & ~Q(status=Recipient.Status.WAITING) | Q(
        is_control=False, status__in=[Recipient.Status.SENT, Recipient.Status.FAILED]
    )
    rows = (
        Recipient.objects.filter(campaign_id=campaign_id, exclusion="")
        .values("is_control")
        .annotate(
            audience=Count("pk"),
            sent=Count("pk", filter=Q(status=Recipient.Status.SENT, is_control=False)),
            opened=Count(
                "pk", filter=Q(is_control=False) & (Q(opened_at__isnull=False) | Q(impression_at__isnull=False))
            ),
            clicked=Count("pk", filter=Q(is_control=False, clicked_at__isnull=False)),
            converted=Count("pk", filter=Q(conversions__gt=0)),
            measured=Count("pk", filter=measured),
        )
        .order_by()
    )
    funnel = {arm: dict.fromkeys((*FUNNEL_STEPS, "measured"), 0) for arm in ("treatment", "control")}
    for row in rows:
        arm = "control" if row.pop("is_control") else "treatment"
        funnel[arm] = row
    return funnel


SUGGESTIONS_SECONDS = 300


def cached_suggestions() -> list[dict[str, Any]]:
    """The next-best campaign per active segment (marketing.suggestions), kept for five minutes per language and
    set of active runs: it is worked out from stored figures (campaign summaries, segments' reachable members) in
    a few queries, and changes only when campaigns are measured or a segmentation runs again (a new run changes the
    key)."""
    from django.core.cache import cache
    from django.utils.translation import get_language

    from marketing.suggestions import suggestions
    from segments.models import SegmentationDefinition

    runs = sorted(SegmentationDefinition.objects.exclude(active_run=None).values_list("active_run_id", flat=True))
    key = f"staff:suggestions:{get_language()}:{','.join(map(str, runs))}"
    return cache.get_or_set(key, suggestions, SUGGESTIONS_SECONDS)
