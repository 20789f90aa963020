from io import StringIO

import pytest
from django.core.management import call_command

from recommender.models import TrainingRun
from segments.models import SegmentationDefinition

pytestmark = pytest.mark.django_db


def test_setup_demo_leaves_segments_and_a_serving_model_and_reuses_them():
    out = StringIO()
    call_command("setup_demo", customers=400, seed=5, stdout=out)

    definitions = SegmentationDefinition.objects.filter(active_run__isnull=False)
    assert sorted(d.method for d in definitions) == ["kmeans", "rfm"]
    active = TrainingRun.objects.get(is_active=True)
    assert "Learned segments (K-means):" in out.getvalue()
    assert f"trained {active.algorithm}" in out.getvalue()

    again = StringIO()
    call_command("setup_demo", customers=400, seed=5, stdout=again)
    assert again.getvalue().count("reusing its active run") == 2
    assert TrainingRun.objects.count() == 1
