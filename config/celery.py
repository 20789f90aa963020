"""The Celery app. Configuration comes from Django settings under the CELERY_ namespace."""

import os

from celery import Celery

# Workers and beat are deployed processes: production unless told otherwise (manage.py keeps dev).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
# implicit / numpy must not oversubscribe the worker's cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def schedule_reapers(sender, **kwargs):
    """The reapers run every TASK_REAPER_SECONDS on the default queue (not behind long jobs on `ml`).

    django_celery_beat's database scheduler installs these entries; staff can change them in admin.
    """
    from django.conf import settings

    every = float(getattr(settings, "TASK_REAPER_SECONDS", 30))
    for name, task in (
        ("fail stale training runs", "recommender.tasks.fail_stale_training_runs"),
        ("fail stale segmentation runs", "segments.tasks.fail_stale_segmentation_runs"),
    ):
        sender.conf.beat_schedule.setdefault(
            name, {"task": task, "schedule": every, "options": {"queue": "default", "expires": every}}
        )
