"""Celery tasks: thin wrappers taking ids and calling one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.exceptions import ValidationError

from segments import services
from segments.models import SegmentationDefinition, SegmentationMethod, SegmentationRun

logger = logging.getLogger(__name__)


# Time limits: segmentation_run_enqueue passes SEGMENTS_RUN_TIME_LIMIT with each call; a call from elsewhere
# (a beat schedule) gets CELERY_TASK_TIME_LIMIT / CELERY_TASK_SOFT_TIME_LIMIT. A soft limit fails the run.
@shared_task(acks_late=True, max_retries=0)
def run_segmentation(definition_id: int, run_id: int | None = None) -> int | None:
    """Run a segmentation: the queued run `run_id`, or a new one. Returns the run's id, or None when
    another run of the definition is already in progress (at most one at a time)."""
    definition = SegmentationDefinition.objects.get(pk=definition_id)
    if run_id is None:
        try:
            run = services.segmentation_run_create(definition=definition)
        except ValidationError as exc:
            logger.info("segmentation %s not started: %s", definition_id, exc.messages[0])
            return None
    else:
        run = SegmentationRun.objects.select_related("definition").get(pk=run_id, definition_id=definition_id)
    if not services.segmentation_run_claim(run=run):  # a redelivered message: the run was taken already
        logger.info("segmentation run %s is %s; not run again", run.pk, run.status)
        return run.pk
    return services.segmentation_run_execute_leased(run=run).pk


@shared_task(max_retries=0)
def run_all_segmentations() -> list[int]:
    """Beat (the nightly default): queue a run of every segmentation except static lists (their members change
    only by a new list). A definition already running is skipped. Returns the queued runs' ids."""
    queued = []
    for definition in SegmentationDefinition.objects.exclude(method=SegmentationMethod.STATIC).order_by("pk"):
        try:
            queued.append(services.segmentation_run_enqueue(definition=definition).pk)
        except ValidationError as exc:
            logger.info("segmentation %s not started: %s", definition.pk, exc.messages[0])
    return queued


@shared_task(max_retries=0)
def fail_stale_segmentation_runs() -> list[int]:
    """Beat (every TASK_REAPER_SECONDS): fail running runs whose worker died, freeing their definitions."""
    return services.segmentation_runs_fail_stale()
