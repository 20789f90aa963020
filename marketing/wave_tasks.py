"""Celery task of adaptive sends: release the waves that are due, then send them.

Registered in CELERY_IMPORTS and scheduled by CELERY_BEAT_SCHEDULE (config/settings/base.py); staff can change
the schedule in admin (django_celery_beat). Thin: one service call, then the usual send task per campaign.
"""

from __future__ import annotations

from celery import shared_task

from marketing import waves


@shared_task(name="marketing.wave_tasks.release_due_waves", max_retries=0)
def release_due_waves() -> list[int]:
    """Beat: release the next wave of each sending adaptive campaign whose interval has passed, and send it
    (the send claims only the released rows; a wave released twice is impossible on the locked campaign)."""
    from marketing.tasks import build_and_send_campaign

    released = waves.release_due_waves()
    for campaign_id in released:
        build_and_send_campaign.delay(campaign_id)
    return released
