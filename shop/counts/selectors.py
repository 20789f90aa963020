"""Reading the daily counts: always topped up first with the rows added since they were last counted."""

from __future__ import annotations

from django.db.models import QuerySet

from shop.counts.models import DailyCount
from shop.counts.services import daily_counts_top_up


def counted_days() -> QuerySet[DailyCount]:
    """Every counted day, oldest first, after counting the interactions and customers added since the last count
    (a few index lookups when nothing is new)."""
    daily_counts_top_up()
    return DailyCount.objects.order_by("day")
