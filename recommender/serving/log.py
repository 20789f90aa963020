"""Served recommendations, for attribution: buffered in the serving process and written in bulk.

The recommendation id itself names the model run and the customer (`<run>.<customer>.<time><random>`,
hex), so an event carrying it can be attributed even before its log row is written.
"""

from __future__ import annotations

import atexit
import logging
import secrets
import threading
import time

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from recommender.models import ServedRecommendation

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# Plain tuples: building model instances is left to the flush, off the per-request path.
_buffer: list[tuple] = []
_oldest = 0.0


def new_recommendation_id(run_id: int | None, customer_id: int | None) -> str:
    return f"{run_id or 0:x}.{customer_id or 0:x}.{time.time_ns() // 1_000_000:x}{secrets.randbits(24):06x}"


def parse_recommendation_id(recommendation_id: str) -> tuple[int | None, int | None]:
    """(run id, customer id) encoded in a recommendation id; (None, None) when it is not one of ours."""
    try:
        run, customer, _ = recommendation_id.split(".")
        return (int(run, 16) or None, int(customer, 16) or None)
    except ValueError:
        return None, None


def record(
    *, recommendation_id: str, run_id: int | None, customer_id: int | None, surface: str, results: list[dict]
) -> None:
    """Remember what was served; written with the next flush (every few seconds or a few hundred rows)."""
    global _oldest
    if not getattr(settings, "RECOMMENDER_LOG_SERVED", True):
        return
    entry = (recommendation_id, run_id, customer_id, surface, results, timezone.now())
    with _lock:
        if not _buffer:
            _oldest = time.monotonic()
        _buffer.append(entry)
        due = len(_buffer) >= getattr(settings, "RECOMMENDER_LOG_BATCH", 500) or time.monotonic() - _oldest >= getattr(
            settings, "RECOMMENDER_LOG_FLUSH_SECONDS", 5
        )
    if due:
        flush()


def flush() -> int:
    """Write the buffered rows now; returns how many."""
    with _lock:
        batch = _buffer[:]
        _buffer.clear()
    if not batch:
        return 0
    rows = [
        ServedRecommendation(
            recommendation_id=recommendation_id,
            run_id=run_id,
            customer_id=customer_id,
            surface=surface,
            skus=[r["sku"] for r in results],
            reasons=[r["reason"] for r in results],
            served_at=served_at,
        )
        for recommendation_id, run_id, customer_id, surface, results, served_at in batch
    ]
    try:
        ServedRecommendation.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    except DatabaseError:
        logger.exception("could not write %d served recommendations", len(batch))
        return 0
    return len(batch)


def pending() -> int:
    return len(_buffer)


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:
        logger.warning("served recommendations lost at exit", exc_info=True)


atexit.register(_flush_at_exit)
