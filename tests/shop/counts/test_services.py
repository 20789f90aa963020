"""Daily counts: topped up from the id watermarks (only rows added since are counted), rebuilt afresh after rows
went away, and the dashboard's trends read from them agree with counting the events table directly."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db.models import Count
from django.db.models.functions import TruncWeek

from marketing.staff.selectors import trends
from shop.counts.models import CountWatermark, DailyCount
from shop.counts.selectors import counted_days
from shop.counts.services import daily_counts_rebuild, daily_counts_top_up
from shop.models import Interaction
from tests.factories import CustomerFactory, InteractionFactory

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 12, month: int = 6) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def stored() -> dict[date, tuple[int, int]]:
    return {row.day: (row.interactions, row.signups) for row in DailyCount.objects.all()}


def test_top_up_counts_only_rows_added_since_the_last_count():
    customer = CustomerFactory(signed_up_at=at(1))
    InteractionFactory.create_batch(3, customer=customer, occurred_at=at(2))
    InteractionFactory(customer=customer, occurred_at=at(3, hour=23))
    assert daily_counts_top_up() == 5  # 4 interactions and 1 sign-up
    assert stored() == {date(2025, 6, 1): (0, 1), date(2025, 6, 2): (3, 0), date(2025, 6, 3): (1, 0)}
    assert daily_counts_top_up() == 0

    InteractionFactory.create_batch(2, customer=customer, occurred_at=at(3, hour=1))
    assert daily_counts_top_up() == 2
    june_3 = DailyCount.objects.get(day=date(2025, 6, 3))
    assert june_3.interactions == 3
    assert (june_3.first_interaction_at, june_3.last_interaction_at) == (at(3, hour=1), at(3, hour=23))
    marks = dict(CountWatermark.objects.values_list("table", "last_id"))
    assert marks["interactions"] == Interaction.objects.latest("pk").pk


def test_days_are_the_site_time_zones(settings):
    settings.TIME_ZONE = "Asia/Shanghai"  # 20:00 UTC on June 2 is 04:00 on June 3 in Shanghai
    InteractionFactory(occurred_at=at(2, hour=20), customer=CustomerFactory(signed_up_at=None))
    daily_counts_top_up()
    assert stored() == {date(2025, 6, 3): (1, 0)}


def test_a_top_up_that_lost_the_race_counts_nothing(monkeypatch):
    """Another process moved the watermark between this one's read and its claim: its rows are not added again."""
    InteractionFactory.create_batch(2, occurred_at=at(2), customer=CustomerFactory(signed_up_at=None))
    stale = {
        table: CountWatermark(pk=mark.pk, table=table, last_id=0)
        for table, mark in ((t, CountWatermark.objects.get_or_create(table=t)[0]) for t in CountWatermark.Table)
    }
    daily_counts_top_up()  # the other process
    monkeypatch.setattr(CountWatermark.objects, "in_bulk", lambda *args, **kwargs: stale)
    assert daily_counts_top_up() == 0
    assert stored() == {date(2025, 6, 2): (2, 0)}


def test_rebuild_forgets_deleted_rows():
    customer = CustomerFactory(signed_up_at=at(1))
    InteractionFactory.create_batch(3, customer=customer, occurred_at=at(2))
    daily_counts_top_up()
    Interaction.objects.filter(pk=Interaction.objects.earliest("pk").pk).delete()  # an erasure, say
    assert stored()[date(2025, 6, 2)] == (3, 0)  # a watermark cannot see it
    assert daily_counts_rebuild() == 2
    assert stored() == {date(2025, 6, 1): (0, 1), date(2025, 6, 2): (2, 0)}
    InteractionFactory(customer=customer, occurred_at=at(2))
    assert daily_counts_top_up() == 1  # the rebuild moved the watermarks: only the new row is counted
    assert stored()[date(2025, 6, 2)] == (3, 0)


def test_reading_tops_up_first():
    InteractionFactory(occurred_at=at(2), customer=CustomerFactory(signed_up_at=None))
    assert [(row.day, row.interactions) for row in counted_days()] == [(date(2025, 6, 2), 1)]


def test_dashboard_trends_agree_with_counting_the_events_table():
    customers = [CustomerFactory(signed_up_at=at(d, month=m)) for m, d in ((3, 5), (5, 20), (5, 21), (6, 1))]
    for i, when in enumerate([at(1, month=1), at(30, month=5), at(31, month=5), at(1), at(2), at(9, hour=0)]):
        InteractionFactory.create_batch(i + 1, customer=customers[i % 4], occurred_at=when)
    daily_counts_top_up()
    InteractionFactory(customer=customers[0], occurred_at=at(10))  # added after the last count
    direct = (
        Interaction.objects.annotate(week=TruncWeek("occurred_at"))
        .values_list("week")
        .annotate(n=Count("pk"))
        .order_by("week")
    )
    result = trends(weeks=26)
    # January is more than 26 weeks before June 10: left out, as the dashboard shows the last half year.
    assert result["events"] == [(week.date(), n) for week, n in direct if week.month > 1]
    assert result["customers"] == [(date(2025, 3, 1), 1), (date(2025, 5, 1), 2), (date(2025, 6, 1), 1)]
    assert result["totals"] == {
        "customers": 4,
        "events": Interaction.objects.count(),
        "first_event": at(1, month=1),
        "last_event": at(10),
    }


def test_command_tops_up_or_rebuilds():
    from io import StringIO

    from django.core.management import call_command

    InteractionFactory.create_batch(2, occurred_at=at(2), customer=CustomerFactory(signed_up_at=at(1)))
    out = StringIO()
    call_command("refresh_daily_counts", "--json", stdout=out)
    assert out.getvalue().strip() == '{"rebuilt": false, "added": 3}'  # 2 interactions and 1 sign-up
    DailyCount.objects.filter(day=date(2025, 6, 2)).update(interactions=99)
    call_command("refresh_daily_counts", "--rebuild", stdout=StringIO())
    assert stored() == {date(2025, 6, 1): (0, 1), date(2025, 6, 2): (2, 0)}


def test_trends_start_with_a_whole_week_and_flag_the_one_still_going_on():
    customer = CustomerFactory(signed_up_at=at(1, month=5))
    # One event a day from Monday 2 June to Tuesday 10 June 2025.
    for day in range(2, 11):
        InteractionFactory(customer=customer, occurred_at=at(day))
    result = trends(weeks=1)
    # A week back from Tuesday 10 June starts on Wednesday 4 June: the week of 2 June is cut short at its start
    # (it would read as a drop) and left out; the week of 9 June is going on, flagged rather than read as a drop.
    assert result["events"] == [(date(2025, 6, 9), 2)]
    assert result["partial"] == {"customers": True, "events": True}
    InteractionFactory(customer=customer, occurred_at=at(15))  # Sunday: the week of 9 June is whole
    assert trends(weeks=1)["partial"]["events"] is False
