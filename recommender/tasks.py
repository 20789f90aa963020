"""Celery wrappers: take ids, call one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from recommender.models import TrainingRun
from recommender.services import train_model

TRAIN_TIME_LIMIT = getattr(settings, "RECOMMENDER_TRAIN_TIME_LIMIT", 3600)


@shared_task(time_limit=TRAIN_TIME_LIMIT, soft_time_limit=TRAIN_TIME_LIMIT - 60, acks_late=True)
def train_recommender(algorithm: str | None = None, run_id: int | None = None) -> dict:
    """Train a model (a queued run when `run_id` is given); the champion gate decides whether it serves."""
    run = TrainingRun.objects.get(pk=run_id) if run_id else None
    run = train_model(algorithm=algorithm, run=run)
    return {"run": run.pk, "status": run.status, "is_active": run.is_active}
