"""Celery tasks of the measurement: attribute purchases to the campaigns still collecting them.

Registered in CELERY_IMPORTS and scheduled by CELERY_BEAT_SCHEDULE (config/settings/base.py); staff can change
the schedule in admin (django_celery_beat). Thin: ids in, one service call.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from marketing import attribution, offers


@shared_task(name="marketing.attribution_tasks.attribute_recent_purchases", max_retries=0)
def attribute_recent_purchases() -> list[dict]:
    """Beat: redeem the coupons of the last day's purchases; then refresh every campaign with an open attribution
    window (or one closed in the last two days): only windows open in the last day are joined again, the rest of
    the work is the idempotent totals update."""
    now = timezone.now()
    since = now - timedelta(days=1)
    # Coupons first: a redemption is the purchase carrying the code, counted once (idempotent over the same day).
    offers.redeem_coupons(since=since, until=now + timedelta(minutes=5))
    return attribution.attribute_recent(now=now, since=since)


@shared_task(name="marketing.attribution_tasks.attribute_campaign", acks_late=True, max_retries=0)
def attribute_campaign(campaign_id: int) -> dict:
    """Recompute one campaign's conversions whole (idempotent), e.g. after importing late purchases."""
    return attribution.attribute_campaign(campaign_id)
