"""Celery wrappers: take ids, call one service."""

from __future__ import annotations

from celery import shared_task

from recommender.models import TrainingRun
from recommender.services import train_model, training_runs_fail_stale


# Time limits are set per call by recommender.services.queue_training (read from settings then, not at import).
@shared_task(acks_late=True)
def train_recommender(algorithm: str | None = None, run_id: int | None = None, search: bool | None = None) -> dict:
    """Train a model (a queued run when `run_id` is given); the champion gate decides whether it serves.

    `search` None (the nightly schedule's default): search the settings again when the latest search is
    missing or stale, else train with what it picked. A re-delivered task for a run that is no longer queued
    returns that run as it is.
    """
    run = TrainingRun.objects.get(pk=run_id) if run_id else None
    run = train_model(algorithm=algorithm, run=run, search=search)
    return {"run": run.pk, "status": run.status, "is_active": run.is_active}


@shared_task(max_retries=0)
def fail_stale_training_runs() -> list[int]:
    """Beat (every TASK_REAPER_SECONDS): fail running runs whose worker died; the active model keeps serving."""
    return training_runs_fail_stale()
