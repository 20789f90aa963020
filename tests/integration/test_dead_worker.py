"""A worker killed with SIGKILL in the middle of a job: its run is failed with the reason within the lease,
what served before keeps serving, and the next run succeeds (real Redis, worker and beat processes)."""

import os
import signal
import time

import pytest
from django.db import transaction

from recommender.models import TrainingRun
from recommender.services import queue_training, train_model
from recommender.serving import log
from segments import services as segment_services
from segments.models import RunStatus, SegmentationRun
from shop.demo.services import generate_demo_data
from shop.models import Customer

pytestmark = pytest.mark.integration

# Short for the test; production defaults are 15 / 60 / 30 s (TEST_TASK_* override them to measure those).
HEARTBEAT = os.environ.get("TEST_TASK_HEARTBEAT_SECONDS", "1")
LEASE = int(os.environ.get("TEST_TASK_LEASE_SECONDS", "6"))
REAPER = os.environ.get("TEST_TASK_REAPER_SECONDS", "2")
JOB_ENV = {"TASK_HEARTBEAT_SECONDS": HEARTBEAT, "TASK_LEASE_SECONDS": str(LEASE), "TASK_REAPER_SECONDS": REAPER}


@pytest.fixture
def demo_shop(transactional_db, settings):
    settings.TASK_LEASE_SECONDS = LEASE
    generate_demo_data(customers=1500, seed=3)
    return Customer.objects.count()


def _wait_for(condition, *, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _kill_once_it_beats(worker, model, pk: int) -> float:
    """SIGKILL the worker once the run is running and (with a short heartbeat) has refreshed its heartbeat
    from the worker's thread; the time of the kill."""
    wait_for_a_beat = float(HEARTBEAT) <= 2  # a 15 s beat would outlast a training on the test shop

    def beating():
        row = model.objects.filter(pk=pk).values("status", "started_at", "heartbeat_at").get()
        assert row["status"] in ("queued", "running"), f"the run ended ({row['status']}) before the kill"
        return row["status"] == "running" and (row["heartbeat_at"] > row["started_at"] or not wait_for_a_beat)

    _wait_for(beating, timeout=120, what=f"{model.__name__} #{pk} to run and beat")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    return time.monotonic()


def test_a_killed_training_is_failed_within_the_lease_and_the_old_model_keeps_serving(
    demo_shop, celery_processes, api_client
):
    old = train_model(algorithm="ease")
    assert old.is_active, old.error
    celery_processes("beat", **JOB_ENV)
    worker = celery_processes("worker", **JOB_ENV)
    # Long enough to be killed mid-fit on a quiet machine too (the default ALS fits the test shop in a blink):
    # the parameters are set before the run is published, which happens when this block commits.
    with transaction.atomic():
        run = queue_training(algorithm="als")
        TrainingRun.objects.filter(pk=run.pk).update(parameters={"factors": 256, "iterations": 400})

    killed_at = _kill_once_it_beats(worker, TrainingRun, run.pk)
    celery_processes("worker", **JOB_ENV)  # as a supervisor restarts it
    _wait_for(
        lambda: TrainingRun.objects.filter(pk=run.pk, status="failed").exists(),
        timeout=LEASE + 60,
        what="the dead run to be failed",
        interval=0.2,
    )
    print(f"\ntraining run marked failed {time.monotonic() - killed_at:.1f} s after SIGKILL (lease {LEASE} s)")

    run.refresh_from_db()
    assert run.error.startswith("Worker lost: training run was running but its worker stopped answering")
    assert TrainingRun.objects.get(is_active=True) == old
    customer = Customer.objects.filter(interactions__isnull=False).first()
    served = api_client.get(f"/api/v1/recommendations/{customer.external_id}", {"n": 5})
    assert served.status_code == 200 and served.json()["model"] == old.pk and served.json()["results"]
    assert log.flush() == 1  # the served-recommendation log, written while the test database exists

    again = queue_training(algorithm="ease")
    _wait_for(
        lambda: TrainingRun.objects.filter(pk=again.pk, status__in=["succeeded", "failed"]).exists(),
        timeout=300,
        what="the next training run",
        interval=0.2,
    )
    again.refresh_from_db()
    assert again.status == "succeeded", again.error


def test_a_killed_segmentation_is_failed_within_the_lease_and_frees_its_definition(
    demo_shop, celery_processes, api_client
):
    definition = segment_services.segmentation_definition_create(
        name="Worker K-means", method="kmeans", parameters={"k_max": 10}
    )
    old = segment_services.segmentation_run(definition=definition)
    assert old.status == RunStatus.SUCCEEDED, old.error
    celery_processes("beat", **JOB_ENV)
    worker = celery_processes("worker", **JOB_ENV)
    run = segment_services.segmentation_run_enqueue(definition=definition)

    killed_at = _kill_once_it_beats(worker, SegmentationRun, run.pk)
    celery_processes("worker", **JOB_ENV)
    _wait_for(
        lambda: SegmentationRun.objects.filter(pk=run.pk, status=RunStatus.FAILED).exists(),
        timeout=LEASE + 60,
        what="the dead run to be failed",
        interval=0.2,
    )
    print(f"\nsegmentation run marked failed {time.monotonic() - killed_at:.1f} s after SIGKILL (lease {LEASE} s)")

    run.refresh_from_db()
    definition.refresh_from_db()
    assert run.error.startswith("Worker lost: segmentation run was running but its worker stopped answering")
    assert definition.active_run_id == old.pk  # the old segments keep serving
    segment = old.segments.exclude(size=0).first()
    member = segment.memberships.select_related("customer").first().customer
    body = api_client.get(f"/api/v1/customers/{member.external_id}/segments").json()
    assert {"name": segment.name, "run": old.pk}.items() <= next(
        s for s in body["segments"] if s["segmentation"] == definition.name
    ).items()

    again = segment_services.segmentation_run_enqueue(definition=definition)  # the definition is free
    _wait_for(
        lambda: SegmentationRun.objects.filter(
            pk=again.pk, status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]
        ).exists(),
        timeout=300,
        what="the next segmentation run",
        interval=0.2,
    )
    again.refresh_from_db()
    definition.refresh_from_db()
    assert again.status == RunStatus.SUCCEEDED, again.error
    assert definition.active_run_id == again.pk
