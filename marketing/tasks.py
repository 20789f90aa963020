"""Celery wrappers for campaigns: take ids, call one service."""

from __future__ import annotations

from celery import shared_task

from marketing import services
from marketing.models import Campaign


@shared_task(acks_late=True, max_retries=0)
def build_and_send_campaign(campaign_id: int) -> dict:
    """Build the audience (once) and send what is pending. A re-delivered task resumes; it never sends twice."""
    return services.campaign_deliver(campaign_id=campaign_id)


@shared_task(acks_late=True, max_retries=0)
def estimate_campaign(campaign_id: int) -> dict:
    return services.campaign_estimate(campaign=Campaign.objects.get(pk=campaign_id))


@shared_task(max_retries=0)
def launch_due_campaigns() -> list[int]:
    """Beat (every minute): launch scheduled campaigns whose time has come."""
    return services.launch_due_campaigns()


@shared_task(max_retries=0)
def resume_stalled_sends() -> list[int]:
    """Beat: resume sends whose worker died (no progress for a lease); the claim protocol prevents duplicates."""
    ids = services.stalled_sends()
    for campaign_id in ids:
        build_and_send_campaign.delay(campaign_id)
    return ids


@shared_task(max_retries=0)
def complete_finished_campaigns() -> list[int]:
    """Beat (hourly): complete running campaigns whose attribution window has closed."""
    return services.complete_finished_campaigns()
