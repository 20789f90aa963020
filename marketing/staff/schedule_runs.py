"""Run a schedule's job now, as Celery beat would at its next run: the same task with the same arguments."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django_celery_beat.models import PeriodicTask

from config.jobs import apply_options, publish
from marketing.schedules import JOB_BY_TASK


def schedule_run_now(*, task: PeriodicTask) -> bool:
    """Send the schedule's task with its stored arguments. True when it has already run (no broker is configured,
    so Celery ran it in this process), False when it is queued for a worker. QueueUnavailable when the broker
    cannot take it; ValidationError for a schedule that is not one of the product's jobs."""
    job = JOB_BY_TASK.get(task.task)
    if job is None:
        raise ValidationError(_("“%(name)s” is not one of the product's job schedules.") % {"name": task.name})
    try:
        kwargs = json.loads(task.kwargs or "{}")
    except ValueError as exc:
        raise ValidationError(_("“%(name)s” has unreadable arguments.") % {"name": task.name}) from exc
    options = {**apply_options(), **({"queue": job.queue} if job.queue else {})}
    # The product's jobs are named by their module path (a fixed list, never a path typed by staff).
    celery_task = import_string(job.task)
    publish(lambda: celery_task.apply_async(kwargs=kwargs, **options), what=f"“{task.name}”")
    return bool(celery_task.app.conf.task_always_eager)
