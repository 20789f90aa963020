"""Segments with chosen members, for campaign tests that need an audience without running a segmentation."""

from segments.models import Membership, Segment, SegmentationDefinition, SegmentationRun


def segmentation_run(name: str = "Test segments", *, previous: SegmentationRun | None = None) -> SegmentationRun:
    definition, _ = SegmentationDefinition.objects.get_or_create(name=name, defaults={"method": "rules"})
    run = SegmentationRun.objects.create(
        definition=definition, method="rules", status="succeeded", previous_run=previous
    )
    SegmentationDefinition.objects.filter(pk=definition.pk).update(active_run=run)
    return run


def segment_with(customers, *, key: str = "vip", name: str = "", run: SegmentationRun | None = None) -> Segment:
    run = run or segmentation_run()
    segment = Segment.objects.create(run=run, key=key, name=name or key.title(), size=len(customers))
    Membership.objects.bulk_create(Membership(segment=segment, customer=c) for c in customers)
    return segment
