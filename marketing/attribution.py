"""Attribution: which purchases followed each recipient's message, within the campaign's attribution window.

For each recipient with a known customer, every purchase the customer made from the start of its window to
`attribution_window_days` later is stored as a Conversion (once per recipient and purchase). The window starts
at the send (`sent_at`); for on-site campaigns at the first impression, or the would-be send time when there was
none. Control recipients have `sent_at` too (when their message would have gone), so treatment and control are
measured over the same span and uplift compares like with like.

Revenue is the amount of those purchases, as the shop reported them. Returns are not deducted: they arrive
weeks later, after the window closed, and would make a finished report change under the reader's eyes.

A purchase that carried the recipient's coupon code, the campaign offer's shared code, or the recommendation id
of the recipient's message is marked direct (shown in reports; uplift never depends on it).

Set-based: one INSERT ... SELECT per campaign (the join of recipients with their customers' purchases through
the customer/time index), then one UPDATE of the recipients' totals from their conversions. Both are
idempotent, so recomputing a campaign (or running the periodic task twice) changes nothing; the same SQL runs
on SQLite and PostgreSQL (Django compiles the window arithmetic for each).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from marketing.models import Campaign, Conversion, Recipient
from marketing.report_summaries import campaign_summary_refresh
from shop.models import InteractionKind

logger = logging.getLogger(__name__)

# Campaigns still collecting purchases: windows closed less than this long ago are recomputed once more, for
# purchases that reach the shop late (an offline store's batch upload).
LATE_EVENTS = timedelta(days=2)
MAX_WINDOW = timedelta(days=90)  # the longest attribution window a campaign may have
MONEY = DecimalField(max_digits=14, decimal_places=2)


def _window_start(campaign: Campaign, prefix: str = ""):
    """Where a recipient's window starts: the send, or for on-site the first impression (else the send time)."""
    if campaign.channel == Campaign.Channel.ONSITE:
        return Coalesce(F(f"{prefix}impression_at"), F(f"{prefix}sent_at"))
    return F(f"{prefix}sent_at")


def _outer_window_start(campaign: Campaign):
    if campaign.channel == Campaign.Channel.ONSITE:
        return Coalesce(OuterRef("impression_at"), OuterRef("sent_at"))
    return OuterRef("sent_at")


def _direct_condition(campaign: Campaign) -> Q:
    """The purchase carried the recipient's coupon, the offer's shared code or the message's recommendation id."""
    interaction = "customer__interactions__"
    direct = Q(**{f"{interaction}coupon": F("coupon_code")}) & ~Q(coupon_code="")
    direct |= Q(**{f"{interaction}recommendation_id": F("recommendation_id")}) & ~Q(recommendation_id="")
    offer = campaign.offer
    if offer is not None and offer.code_mode == offer.CodeMode.SHARED and offer.code:
        direct |= Q(**{f"{interaction}coupon": offer.code})
    return direct


def _conversion_rows(campaign: Campaign, *, since: datetime | None = None):
    """SELECT (recipient, interaction, occurred_at, amount, direct) of every purchase inside a window."""
    window = timedelta(days=campaign.attribution_window_days)
    start = _window_start(campaign)
    recipients = (
        Recipient.objects.filter(campaign=campaign, customer__isnull=False)
        .exclude(status=Recipient.Status.EXCLUDED)
        .annotate(window_start=ExpressionWrapper(start, output_field=DateTimeField()))
        .filter(window_start__isnull=False)
    )
    if since is not None:
        # Only windows still open at `since` can gain purchases.
        recipients = recipients.filter(window_start__gt=since - window)
    interaction = "customer__interactions__"
    return (
        recipients.filter(
            **{
                f"{interaction}kind": InteractionKind.PURCHASE,
                f"{interaction}occurred_at__gte": F("window_start"),
                f"{interaction}occurred_at__lt": ExpressionWrapper(
                    F("window_start") + Value(window), output_field=DateTimeField()
                ),
            }
        )
        .order_by()
        .values_list(
            "pk",
            f"{interaction}pk",
            f"{interaction}occurred_at",
            Coalesce(F(f"{interaction}amount"), Value(0, output_field=MONEY), output_field=MONEY),
            Case(
                When(_direct_condition(campaign), then=Value(True)), default=Value(False), output_field=BooleanField()
            ),
        )
    )


def _insert_conversions(campaign: Campaign, *, since: datetime | None = None) -> int:
    select_sql, params = _conversion_rows(campaign, since=since).query.sql_with_params()
    quote = connection.ops.quote_name
    meta = Conversion._meta
    columns = ", ".join(
        quote(meta.get_field(name).column) for name in ("recipient", "interaction", "occurred_at", "amount", "direct")
    )
    conflict = f"{quote(meta.get_field('recipient').column)}, {quote(meta.get_field('interaction').column)}"
    # The SELECT always has a WHERE clause, which SQLite needs to parse INSERT ... SELECT ... ON CONFLICT.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) {select_sql} ON CONFLICT ({conflict}) DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _update_totals(campaign: Campaign) -> int:
    """Each recipient's conversions, revenue, first conversion and direct mark, from its conversions in window.

    Conversions outside the window (stored by real-time tracking for a coupon used late) are not counted.
    """
    window = timedelta(days=campaign.attribution_window_days)
    start = _outer_window_start(campaign)
    in_window = Conversion.objects.filter(
        recipient=OuterRef("pk"),
        occurred_at__gte=start,
        occurred_at__lt=ExpressionWrapper(start + Value(window), output_field=DateTimeField()),
    ).order_by()
    totals = in_window.values("recipient")
    return Recipient.objects.filter(campaign=campaign).update(
        conversions=Coalesce(Subquery(totals.annotate(n=Count("pk")).values("n")[:1]), Value(0)),
        revenue=Coalesce(
            Subquery(totals.annotate(total=Sum("amount")).values("total")[:1], output_field=MONEY),
            Value(0, output_field=MONEY),
            output_field=MONEY,
        ),
        converted_at=Subquery(totals.annotate(first=Min("occurred_at")).values("first")[:1]),
        directly_attributed=Exists(in_window.filter(direct=True)),
    )


def attribute_campaign(campaign_id: int, *, since: datetime | None = None) -> dict:
    """Store the purchases inside each recipient's window as conversions and refresh the recipients' totals, then
    the campaign's stored report figures (the staff pages read them instead of aggregating per request).

    Idempotent. With `since`, only recipients whose window was still open at that moment are joined again
    (the totals are always refreshed, from the stored conversions). Imported campaigns carry their results
    and are left as they are.
    """
    result, campaign = _attribute(campaign_id, since=since)
    if "skipped" not in result:
        campaign_summary_refresh(campaign=campaign)  # after the commit: reads, then one short write
    return result


@transaction.atomic
def _attribute(campaign_id: int, *, since: datetime | None) -> tuple[dict, Campaign]:
    campaign = Campaign.objects.select_related("offer").get(pk=campaign_id)
    if campaign.origin == Campaign.Origin.IMPORTED:
        return {"campaign": campaign.pk, "new_conversions": 0, "recipients": 0, "skipped": "imported"}, campaign
    added = _insert_conversions(campaign, since=since)
    updated = _update_totals(campaign)
    return {"campaign": campaign.pk, "new_conversions": added, "recipients": updated}, campaign


def campaigns_collecting(*, now: datetime | None = None):
    """Native campaigns with a recipient whose window is open, or closed less than LATE_EVENTS ago."""
    now = now or timezone.now()
    longest = MAX_WINDOW
    candidates = (
        Campaign.objects.filter(origin=Campaign.Origin.NATIVE)
        .exclude(status__in=[Campaign.Status.DRAFT, Campaign.Status.SCHEDULED, Campaign.Status.CANCELLED])
        .annotate(last_start=Max(Coalesce("recipients__impression_at", "recipients__sent_at")))
        .filter(last_start__gte=now - longest - LATE_EVENTS)
        .values_list("pk", "last_start", "attribution_window_days")
    )
    return [
        pk
        for pk, last_start, days in candidates
        if last_start is not None and last_start + timedelta(days=days) + LATE_EVENTS >= now
    ]


def attribute_recent(*, now: datetime | None = None, since: datetime | None = None) -> list[dict]:
    """Attribute every campaign still collecting purchases (the periodic task). `since` limits the join to
    windows open at that moment (the last run, less a margin); without it each campaign is recomputed whole."""
    now = now or timezone.now()
    results = []
    for campaign_id in campaigns_collecting(now=now):
        results.append(attribute_campaign(campaign_id, since=since))
    if results:
        logger.info("attributed %d campaign(s): %s", len(results), results)
    return results
