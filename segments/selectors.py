"""Reads: who is in which segment (used by the API, the recommender and marketing)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from segments.models import Membership, Segment, SegmentationDefinition, SegmentationRun

ID_BATCH = 900  # below SQLite's bound-parameter limit


def customer_segments(*, customer_id: int) -> list[Segment]:
    """The customer's segments in every active segmentation (run and definition loaded)."""
    return list(
        Segment.objects.active()
        .filter(memberships__customer_id=customer_id)
        .with_definition()
        .order_by("run__definition__name", "name")
    )


def segment_member_ids(*, segment_id: int) -> list[int]:
    return list(
        Membership.objects.filter(segment_id=segment_id).order_by("customer_id").values_list("customer_id", flat=True)
    )


def active_segment_ids_by_customer(*, customer_ids: Iterable[int]) -> dict[int, list[int]]:
    """customer id -> ids of its segments in every active segmentation (customers in none are absent)."""
    ids = list(dict.fromkeys(customer_ids))
    active_runs = list(
        SegmentationDefinition.objects.filter(active_run__isnull=False).values_list("active_run", flat=True)
    )
    result: dict[int, list[int]] = defaultdict(list)
    if not active_runs or not ids:
        return {}
    for start in range(0, len(ids), ID_BATCH):
        rows = (
            Membership.objects.filter(customer_id__in=ids[start : start + ID_BATCH], segment__run_id__in=active_runs)
            .order_by("customer_id", "segment_id")
            .values_list("customer_id", "segment_id")
        )
        for customer_id, segment_id in rows:
            result[customer_id].append(segment_id)
    return dict(result)


def active_run(*, definition_id: int) -> SegmentationRun | None:
    definition = SegmentationDefinition.objects.select_related("active_run").filter(pk=definition_id).first()
    return definition.active_run if definition else None


def run_labels(*, run_id: int) -> dict[int, str]:
    """customer id -> segment key in that run."""
    return dict(
        Membership.objects.filter(segment__run_id=run_id)
        .values_list("customer_id", "segment__key")
        .iterator(chunk_size=20000)
    )
