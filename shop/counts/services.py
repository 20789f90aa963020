"""Keeping DailyCount up to date.

A top-up counts only the rows whose id is above the table's watermark and moves the watermark, in one transaction
that claims the watermark first (an UPDATE conditional on its old value), so two processes topping up at once never
count the same rows twice. A rebuild counts every row afresh: it is what corrects the counts after rows were
deleted (erasure) or edited, and rows a watermark passed over because they committed after a higher id (PostgreSQL
hands out ids before commit), which only the periodic task and an explicit rebuild see.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from shop.counts.models import CountWatermark, DailyCount
from shop.models import Customer, Interaction

Days = dict[date, dict[str, Any]]


def _interaction_days(interactions: QuerySet) -> Days:
    """day -> {"interactions": n, "first": time, "last": time}, by the day in the site's time zone."""
    rows = (
        interactions.annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(n=Count("pk"), first=Min("occurred_at"), last=Max("occurred_at"))
        .order_by()
    )
    return {row["day"]: {"interactions": row["n"], "first": row["first"], "last": row["last"]} for row in rows}


def _signup_days(customers: QuerySet) -> Days:
    """day -> {"signups": n}: customers (not stubs) by the day they signed up, in the site's time zone."""
    rows = (
        customers.filter(is_stub=False, signed_up_at__isnull=False)
        .annotate(day=TruncDate("signed_up_at", tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {row["day"]: {"signups": row["n"]} for row in rows}


COUNTED: dict[str, tuple[type, Callable[[QuerySet], Days]]] = {
    CountWatermark.Table.INTERACTIONS: (Interaction, _interaction_days),
    CountWatermark.Table.CUSTOMERS: (Customer, _signup_days),
}


def _apply(row: DailyCount, add: dict[str, Any]) -> None:
    row.interactions += add.get("interactions", 0)
    row.signups += add.get("signups", 0)
    if add.get("first") is not None:
        row.first_interaction_at = min(filter(None, (row.first_interaction_at, add["first"])))
        row.last_interaction_at = max(filter(None, (row.last_interaction_at, add["last"])))


def _add(days: Days) -> None:
    """Add `days` onto the stored rows, creating the days not stored yet. The rows are locked (PostgreSQL) while
    they are added to: the interactions' and the sign-ups' top-ups of two processes may reach the same day."""
    existing = DailyCount.objects.select_for_update().in_bulk(list(days), field_name="day")
    created = []
    for day, add in days.items():
        row = existing.get(day)
        if row is None:
            row = DailyCount(day=day)
            created.append(row)
        _apply(row, add)
    DailyCount.objects.bulk_create(created, batch_size=500)
    DailyCount.objects.bulk_update(
        existing.values(), ["interactions", "signups", "first_interaction_at", "last_interaction_at"], batch_size=500
    )


def _newest_id(model: type) -> int:
    return model.objects.aggregate(newest=Max("pk"))["newest"] or 0


def daily_counts_top_up() -> int:
    """Count the interactions and customers added since the watermarks into DailyCount. Returns the interactions
    and sign-ups added (0 when nothing was new, or when another process counted the same rows first)."""
    counted = 0
    marks = CountWatermark.objects.in_bulk(list(COUNTED), field_name="table")
    for table, (model, days_of) in COUNTED.items():
        mark = marks.get(table) or CountWatermark.objects.get_or_create(table=table)[0]
        newest = _newest_id(model)
        if newest <= mark.last_id:
            continue
        # Counted before the transaction, so the write lock is held only for the few rows written.
        days = days_of(model.objects.filter(pk__gt=mark.last_id, pk__lte=newest))
        with transaction.atomic():
            claimed = CountWatermark.objects.filter(pk=mark.pk, last_id=mark.last_id).update(
                last_id=newest, updated_at=timezone.now()
            )
            if not claimed:
                continue
            _add(days)
        counted += sum(add.get("interactions", 0) + add.get("signups", 0) for add in days.values())
    return counted


@transaction.atomic
def _replace(days_per_table: dict[str, Days], newest: dict[str, int]) -> None:
    rows: dict[date, DailyCount] = {}
    for days in days_per_table.values():
        for day, add in days.items():
            _apply(rows.setdefault(day, DailyCount(day=day)), add)
    DailyCount.objects.all().delete()
    DailyCount.objects.bulk_create(rows.values(), batch_size=500)
    for table, last_id in newest.items():
        CountWatermark.objects.update_or_create(table=table, defaults={"last_id": last_id})


def daily_counts_rebuild() -> int:
    """Count every interaction and customer afresh into DailyCount (the watermarks move to the newest ids).
    Returns the days stored."""
    newest = {table: _newest_id(model) for table, (model, _days_of) in COUNTED.items()}
    days_per_table = {
        table: days_of(model.objects.filter(pk__lte=newest[table])) for table, (model, days_of) in COUNTED.items()
    }
    _replace(days_per_table, newest)
    return DailyCount.objects.count()
