"""Served recommendations, for attribution: buffered in the serving process and written in bulk.

The recommendation id itself names the model run and the customer (`<time><random>.<run>.<customer>`,
hex), so an event carrying it can be attributed even before its log row is written.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from datetime import UTC, datetime

from django.db import DatabaseError, connections, transaction

from recommender.models import ServedRecommendation
from recommender.serving.conf import setting
from shop.bulk import insert_rows

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# Plain tuples: building model instances is left to the flush, off the per-request path.
_buffer: list[tuple] = []
_oldest = 0.0


def new_recommendation_id(run_id: int | None, customer_id: int | None) -> str:
    # Unique, not secret: the process's own random generator (reseeded after fork) is enough.
    # Time first, so ids grow and the log's unique index is appended to rather than written all over.
    return f"{time.time_ns() // 1_000_000:x}{random.getrandbits(24):06x}.{run_id or 0:x}.{customer_id or 0:x}"


def parse_recommendation_id(recommendation_id: str) -> tuple[int | None, int | None]:
    """(run id, customer id) encoded in a recommendation id; (None, None) when it is not one of ours."""
    try:
        _, run, customer = recommendation_id.split(".")
        return (int(run, 16) or None, int(customer, 16) or None)
    except ValueError:
        return None, None


def record(
    *, recommendation_id: str, run_id: int | None, customer_id: int | None, surface: str, results: list[dict]
) -> None:
    """Remember what was served; written with the next flush (every few seconds or a few hundred rows)."""
    global _oldest
    if not setting("RECOMMENDER_LOG_SERVED"):
        return
    entry = (recommendation_id, run_id, customer_id, surface, results, time.time())
    with _lock:
        if not _buffer:
            _oldest = time.monotonic()
        _buffer.append(entry)
        due = len(_buffer) >= setting("RECOMMENDER_LOG_BATCH") or (
            time.monotonic() - _oldest >= setting("RECOMMENDER_LOG_FLUSH_SECONDS")
        )
    if due:
        _flush_in_background()


_due = threading.Event()
_flushing = threading.Event()
_writer: threading.Thread | None = None


def _flush_in_background() -> None:
    """Wake the process's writer thread (started once): the request never waits for the write."""
    global _writer
    _flushing.set()
    _due.set()
    if _writer is None or not _writer.is_alive():
        _writer = threading.Thread(target=_write_forever, name="served-recommendations-log", daemon=True)
        _writer.start()


def _write_forever() -> None:
    while True:
        _due.wait()
        _due.clear()
        try:
            flush()
        finally:
            # Holds no connection between flushes (a few seconds apart at least): an idle connection left open
            # would keep the database in use, and a test database could not be dropped at the end of a run.
            connections.close_all()
            _flushing.clear()


def flush() -> int:
    """Write the buffered rows now (through shop.bulk, no ORM per row); returns how many."""
    with _lock:
        batch = _buffer[:]
        _buffer.clear()
    if not batch:
        return 0
    rows = [
        (
            recommendation_id,
            run_id,
            customer_id,
            surface,
            [r["sku"] for r in results],
            [r["reason"] for r in results],
            datetime.fromtimestamp(served_at, UTC),
        )
        for recommendation_id, run_id, customer_id, surface, results, served_at in batch
    ]
    try:
        with transaction.atomic():
            # The shop's one bulk writer: the same SQL and the same per-row checks on SQLite and PostgreSQL.
            result = insert_rows(ServedRecommendation, LOG_COLUMNS, rows, ignore_conflicts=True)
    except DatabaseError:
        logger.exception("could not write %d served recommendations", len(batch))
        return 0
    for position, problem in result.rejected.items():
        logger.warning("served recommendation %s not logged: %s", rows[position][0], problem)
    return result.written


LOG_COLUMNS = ("recommendation_id", "run", "customer", "surface", "skus", "reasons", "served_at")


def pending() -> int:
    return len(_buffer)


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:
        logger.warning("served recommendations lost at exit", exc_info=True)


atexit.register(_flush_at_exit)
