"""Beat task for triggered campaigns (scheduled in CELERY_BEAT_SCHEDULE): thin, it calls one service."""

from __future__ import annotations

from celery import shared_task

from marketing.triggers import evaluate_triggered_campaigns


@shared_task(name="marketing.trigger_tasks.evaluate_triggered_campaigns", acks_late=True, max_retries=0)
def evaluate_triggered_campaigns_task() -> list[dict]:
    """Every few minutes: let the customers each running triggered campaign finds now enter it, and send."""
    return [
        {"campaign": r.campaign_id, "candidates": r.candidates, "entered": r.entered, "error": r.error}
        for r in evaluate_triggered_campaigns()
    ]
