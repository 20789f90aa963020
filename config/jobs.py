"""Background jobs that survive a dead worker and a dead broker: heartbeats, leases and fast-failing queuing.

A long job (training, a segmentation run) claims its row as RUNNING with a heartbeat, and a thread refreshes
that heartbeat every TASK_HEARTBEAT_SECONDS while the job computes. A worker killed with SIGKILL stops
beating; the reaper (a Celery beat task, and a check whenever a run is queued) marks any RUNNING row whose
heartbeat is older than TASK_LEASE_SECONDS failed with the reason, so its slot is free and the model or
segmentation that served before keeps serving.

Queuing publishes once, without retries and without waiting on the result backend: with the broker down
the caller hears so within about a second (QueueUnavailable), and the queued row is failed rather than
left behind to block its definition.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, models
from django.utils import timezone

logger = logging.getLogger(__name__)


def lease_seconds() -> int:
    """How long a running job may go without a heartbeat before it counts as dead."""
    return int(getattr(settings, "TASK_LEASE_SECONDS", 60))


def heartbeat_seconds() -> float:
    return float(getattr(settings, "TASK_HEARTBEAT_SECONDS", 15))


class QueueUnavailable(Exception):
    """The job could not be handed to the broker; the message says why, in one line."""


class Heartbeat:
    """Refresh `heartbeat_at` of one row from a background thread while the block runs.

    Stops by itself once the row leaves `running_status` (a reaper failed it, or it finished). The thread
    has its own database connection, closed when it stops.
    """

    def __init__(self, queryset: models.QuerySet, pk: int, *, running_status: str, interval: float | None = None):
        self.rows = queryset.filter(pk=pk, status=running_status)
        self.interval = heartbeat_seconds() if interval is None else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{queryset.model.__name__}-{pk}", daemon=True)
        self.beats = 0

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 10)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    alive = self.rows.update(heartbeat_at=timezone.now())
                except Exception:
                    logger.warning("heartbeat of %s failed", self._thread.name, exc_info=True)
                    close_old_connections()
                    continue
                self.beats += 1
                if not alive:
                    return
        finally:
            connection.close()


def fail_stale(queryset: models.QuerySet, *, running_status: str, failed_status: str, what: str) -> list[int]:
    """Mark rows RUNNING with a heartbeat older than the lease failed, with the reason; return their ids.

    One conditional UPDATE per row, so a job that beats (or finishes) at the same moment is left alone.
    """
    now = timezone.now()
    lease = lease_seconds()
    cutoff = now - timedelta(seconds=lease)
    stale = queryset.filter(status=running_status).filter(
        models.Q(heartbeat_at__lt=cutoff) | models.Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    failed = []
    for pk, beat in stale.values_list("pk", "heartbeat_at"):
        seen = f"last heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC" if beat else "no heartbeat"
        reason = (
            f"Worker lost: {what} was running but its worker stopped answering ({seen}, lease {lease} s); "
            "marked failed. The model or segments that served before keep serving."
        )
        updated = (
            queryset.filter(pk=pk, status=running_status, heartbeat_at=beat)
            .filter(models.Q(heartbeat_at__lt=cutoff) | models.Q(heartbeat_at__isnull=True))
            .update(status=failed_status, error=reason, finished_at=now, updated_at=now)
        )
        if updated:
            logger.error("%s #%s: %s", what, pk, reason)
            failed.append(pk)
    return failed


def publish(send: Callable[[], object], *, what: str) -> None:
    """Hand a job to the broker once; QueueUnavailable (one clear line) when the broker cannot take it."""
    from kombu.exceptions import OperationalError

    try:
        send()
    except (OperationalError, OSError, TimeoutError) as exc:
        url = _safe_broker_url()
        raise QueueUnavailable(
            f"Could not queue {what}: the task broker ({url}) is unreachable ({str(exc).splitlines()[0]}). "
            "Nothing was queued; try again once the broker is back."
        ) from exc


def apply_options() -> dict:
    """apply_async options for queuing a job: no publish retries and no result subscription (the row
    in the database is the job's result), so a dead broker or result store fails in about a second."""
    return {"retry": False, "ignore_result": True}


def _safe_broker_url() -> str:
    from config.celery import app

    try:
        uri = app.connection_for_write().as_uri()  # a password shows as **
        return uri.replace("://:**@", "://")  # none was set
    except Exception:  # noqa: BLE001
        return "broker"
