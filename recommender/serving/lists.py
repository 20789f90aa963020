"""Every customer's precomputed top-N list in the database, written once per training run, read per request.

A web process holds no per-customer data: one indexed query per request finds the customer by external id
and their list of the active run together. Memory per process therefore stays the same at 100,000 or
10,000,000 customers, and a second web machine serves exactly what the first does.

A list is packed as records of (item index, score, explaining history item, what the customer did with it),
13 bytes a slot, in the run's item indexes; an empty list is an empty payload.
"""

from __future__ import annotations

import logging

import numpy as np
from django.db import transaction
from django.utils import timezone

from recommender.models import PrecomputedList, TrainingRun
from shop.bulk import insert_columns

logger = logging.getLogger(__name__)

RECORD = np.dtype([("item", "<i4"), ("score", "<f4"), ("because", "<i4"), ("kind", "i1")])
# Runs whose lists are kept beside the active one's: the newest few, so a rollback finds its lists.
KEEP_RUNS = 3
WRITE_BATCH = 20_000


class CustomerList:
    """One customer's list, best first: item indexes, scores, explaining item (-1 none) and its kind code.

    Decoded from its payload when first read; `head` decodes only the first few slots, which is all most
    requests read."""

    __slots__ = ("_arrays", "_payload")

    def __init__(self, payload: bytes | memoryview):
        self._payload = payload
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._payload) // RECORD.itemsize

    def _decoded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = _fields(np.frombuffer(self._payload, dtype=RECORD))
        return self._arrays

    @property
    def items(self) -> np.ndarray:
        return self._decoded()[0]

    @property
    def scores(self) -> np.ndarray:
        return self._decoded()[1]

    @property
    def because(self) -> np.ndarray:
        return self._decoded()[2]

    @property
    def kinds(self) -> np.ndarray:
        return self._decoded()[3]

    def head(self, depth: int) -> tuple[list[int], list[float], list[int], list[int]]:
        """The first `depth` slots as plain lists (items, scores, explaining items, kinds)."""
        if self._arrays is not None:
            return tuple(field[:depth].tolist() for field in self._arrays)
        records = np.frombuffer(self._payload, dtype=RECORD, count=min(depth, len(self)))
        return tuple(field.tolist() for field in _fields(records))


def _fields(records: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Scores rounded once here, as the answers show them.
    return records["item"], np.round(records["score"].astype(np.float64), 6), records["because"], records["kind"]


def pack_lists(
    top_items: np.ndarray, top_scores: np.ndarray, top_because: np.ndarray, top_because_kind: np.ndarray
) -> list[bytes]:
    """One payload per row of the (rows x N) arrays, each cut at its first empty (-1) slot."""
    if not (top_items.shape == top_scores.shape == top_because.shape == top_because_kind.shape):
        raise ValueError(
            f"precomputed arrays differ in shape: {top_items.shape}, {top_scores.shape}, "
            f"{top_because.shape}, {top_because_kind.shape}"
        )
    records = np.empty(top_items.shape, dtype=RECORD)
    records["item"] = top_items
    records["score"] = top_scores
    records["because"] = top_because
    records["kind"] = top_because_kind
    width = top_items.shape[1] if top_items.ndim == 2 else 0
    # Slots are filled left to right: the first -1 ends the list.
    empty = top_items < 0
    lengths = np.where(empty.any(axis=1), empty.argmax(axis=1), width) if width else np.zeros(len(top_items), int)
    return [records[row, :length].tobytes() for row, length in enumerate(lengths.tolist())]


def unpack_list(payload: bytes | memoryview) -> CustomerList:
    return CustomerList(payload)


def publish_lists(
    *,
    run: TrainingRun,
    customer_ids: np.ndarray,
    top_items: np.ndarray,
    top_scores: np.ndarray,
    top_because: np.ndarray,
    top_because_kind: np.ndarray,
) -> int:
    """Write the run's lists (one row per customer, replacing any it had) and mark the run as published;
    then drop the lists of older runs beyond the newest KEEP_RUNS and the active one. Returns rows written.

    Each batch commits on its own: on SQLite one transaction over millions of rows would hold the database's
    only write lock (and the events API waiting on it) for minutes. Serving reads a run's lists only once the
    run is published; a failed write removes what it wrote.
    """
    payloads = pack_lists(top_items, top_scores, top_because, top_because_kind)
    ids = np.asarray(customer_ids, dtype=np.int64).tolist()
    if len(ids) != len(payloads):
        raise ValueError(f"{len(ids)} customer ids for {len(payloads)} precomputed lists")
    TrainingRun.objects.filter(pk=run.pk).update(lists_published_at=None)
    PrecomputedList.objects.filter(run=run).delete()
    written = 0
    try:
        for start in range(0, len(ids), WRITE_BATCH):
            batch = ids[start : start + WRITE_BATCH]
            with transaction.atomic():
                result = insert_columns(
                    PrecomputedList,
                    {
                        "run_id": [run.pk] * len(batch),
                        "customer_id": batch,
                        "payload": payloads[start : start + WRITE_BATCH],
                    },
                )
            written += result.written
    except BaseException:
        PrecomputedList.objects.filter(run=run).delete()
        raise
    run.lists_published_at = timezone.now()
    TrainingRun.objects.filter(pk=run.pk).update(lists_published_at=run.lists_published_at)
    prune_lists()
    return written


def prune_lists(*, keep: int = KEEP_RUNS) -> list[int]:
    """Delete the lists of runs other than the active one and the newest `keep` published ones; their runs
    still serve (from the model, per customer) if rolled back to. Returns the runs pruned."""
    published = TrainingRun.objects.filter(lists_published_at__isnull=False)
    kept = set(published.order_by("-lists_published_at", "-id").values_list("id", flat=True)[:keep])
    kept.update(TrainingRun.objects.active().values_list("id", flat=True))
    stale = list(published.exclude(id__in=kept).values_list("id", flat=True))
    if stale:
        with transaction.atomic():
            PrecomputedList.objects.filter(run_id__in=stale).delete()
            TrainingRun.objects.filter(id__in=stale).update(lists_published_at=None)
        logger.info("dropped the precomputed lists of runs %s", stale)
    return stale
