"""Each run stores a sample of its customers on two principal components, per segment, for the explorer's scatter."""

import pytest

from segments import services
from segments.models import RunStatus
from tests.segments.factories import build_shop

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["kmeans", "rfm"])
def test_a_run_stores_a_projection_sample_per_segment(method):
    build_shop()
    definition = services.segmentation_definition_create(name="P", method=method)
    run = services.segmentation_run(definition=definition)
    assert run.status == RunStatus.SUCCEEDED, run.error

    segments = list(run.segments.all())
    total = sum(len(s.profile["projection"]) for s in segments)
    # The small shop fits in the sample whole: every labelled customer is one point of their segment.
    assert total == sum(s.size for s in segments) > 0
    for segment in segments:
        points = segment.profile["projection"]
        assert all(len(p) == 2 and all(isinstance(v, float) for v in p) for p in points)
    explained = run.metrics["projection_explained"]
    assert len(explained) == 2 and 0 < explained[1] <= explained[0] <= 1
    assert "projection" in run.timings
    if method == "kmeans":
        # The two kinds of buyers the shop holds lie apart on the first axis.
        buyers = [s for s in segments if s.key != "no_purchases"]
        means = sorted(sum(p[0] for p in s.profile["projection"]) / len(s.profile["projection"]) for s in buyers)
        assert means[-1] - means[0] > 1.0
