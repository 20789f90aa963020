"""The segments part of `setup_demo`: a learned segmentation and an RFM one, when none is active yet."""

from __future__ import annotations

from shop.demo.setup import DemoSetupContext

DEMO_SEGMENTATIONS = (
    ("Learned segments (K-means)", "kmeans"),
    ("RFM", "rfm"),
)


def run_demo_segmentations(context: DemoSetupContext) -> str:
    from segments import services
    from segments.models import SegmentationDefinition

    lines = []
    for name, method in DEMO_SEGMENTATIONS:
        definition = SegmentationDefinition.objects.filter(name=name).first()
        if definition is not None and definition.active_run_id:
            lines.append(f"{name}: reusing its active run")
            continue
        if definition is None:
            definition = services.segmentation_definition_create(name=name, method=method)
        run = services.segmentation_run(definition=definition)
        if run.status != "succeeded":
            lines.append(f"{name}: run failed: {run.error.splitlines()[0] if run.error else 'unknown error'}")
            continue
        segments = ", ".join(f"{s.name} ({s.size})" for s in run.segments.order_by("-size"))
        lines.append(f"{name}: {segments}")
    return "\n  ".join(lines)
