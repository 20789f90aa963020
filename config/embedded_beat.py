"""The periodic jobs without a broker or a worker: Celery beat in a thread of the web process.

With no broker configured (the embedded default that `make demo` runs) every task is eager, so each job the
schedule makes due — attribution of purchases, launching scheduled campaigns, releasing waves, completing
finished campaigns, and the staff's own schedules of django-celery-beat — runs right there in beat's thread.
Nothing is sent anywhere: the broker is kombu's in-process memory transport, only so that beat can start.
"""

from __future__ import annotations

import logging
import threading

from celery.beat import Service
from django.conf import settings
from django.db import connections

from config.celery import app

logger = logging.getLogger(__name__)

_started: _BeatThread | None = None
_lock = threading.Lock()


class _BeatThread(threading.Thread):
    """Celery's embedded beat thread (as `celery.beat.EmbeddedService(thread=True)` makes it), which also closes
    its database connections when it stops: one left open would keep the database in use."""

    def __init__(self):
        super().__init__(name="Beat", daemon=True)
        # A short max interval, as Celery's own embedded thread has, so that stop() returns within a second.
        self.service = Service(app, max_interval=1, scheduler_cls=settings.CELERY_BEAT_SCHEDULER, remote_control=False)

    def run(self) -> None:
        app.set_current()
        try:
            self.service.start()
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.service.stop(wait=True)


def start_embedded_beat() -> threading.Thread | None:
    """Start beat in this process, once; None (nothing started) when a broker is configured, since then a
    real `celery beat` and workers run the schedule."""
    global _started
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    with _lock:
        if _started is None:
            app.conf.broker_url = "memory://"
            # What a worker does on start: import every app's tasks (and CELERY_IMPORTS), so that beat finds each
            # scheduled task registered and applies it, eagerly, instead of sending it to the (empty) broker.
            app.loader.import_default_modules()
            _started = _BeatThread()
            _started.start()
            logger.info("periodic jobs run in this process (no broker): %s", ", ".join(sorted(app.conf.beat_schedule)))
    return _started


def stop_embedded_beat() -> None:
    global _started
    with _lock:
        if _started is not None:
            _started.stop()
            _started.join(timeout=10)
            _started = None
