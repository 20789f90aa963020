"""The jobs data staff schedule, run by a real worker over Redis against PostgreSQL."""

import pytest

from recommender.models import TrainingRun
from recommender.tasks import train_recommender
from segments import services as segment_services
from segments.models import Membership, SegmentationRun
from segments.tasks import run_segmentation
from shop.demo.services import generate_demo_data
from shop.models import Customer

pytestmark = pytest.mark.integration


@pytest.fixture
def demo_shop(transactional_db):
    generate_demo_data(customers=400, seed=3)
    return Customer.objects.count()


def test_worker_runs_a_segmentation_and_switches_it_active(demo_shop, celery_worker):
    definition = segment_services.segmentation_definition_create(name="Worker RFM", method="rfm")

    run_id = run_segmentation.delay(definition.pk).get(timeout=180)

    run = SegmentationRun.objects.get(pk=run_id)
    definition.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert definition.active_run_id == run.pk
    assert Membership.objects.filter(segment__run=run).count() == sum(s.size for s in run.segments.all())
    assert sum(s.size for s in run.segments.all()) > 0


def test_worker_trains_a_model_that_becomes_active(demo_shop, celery_worker):
    summary = train_recommender.delay().get(timeout=300)

    run = TrainingRun.objects.get(pk=summary["run"])
    assert run.status == "succeeded", run.error
    assert run.is_active and summary["is_active"]
    assert run.metrics.get("ndcg@10", 0) > 0
