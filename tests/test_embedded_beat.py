"""The demo's periodic jobs: with no broker, beat runs in the web process and applies each due job there."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from config.embedded_beat import start_embedded_beat, stop_embedded_beat
from segments import services
from segments.models import RunStatus, SegmentationRun
from tests.segments.factories import build_shop


@pytest.fixture
def reaper_every_half_second(settings):
    settings.TASK_LEASE_SECONDS = 60
    schedule, broker = app.conf.beat_schedule, app.conf.broker_url
    app.conf.beat_schedule = {
        "fail stale segmentation runs": {"task": "segments.tasks.fail_stale_segmentation_runs", "schedule": 0.5}
    }
    yield
    stop_embedded_beat()
    app.conf.beat_schedule, app.conf.broker_url = schedule, broker


@pytest.mark.django_db(transaction=True)
def test_a_due_job_runs_in_this_process_without_a_broker_or_worker(reaper_every_half_second):
    build_shop(big=5, small=5, browsers=2)
    definition = services.segmentation_definition_create(name="RFM", method="rfm")
    run = services.segmentation_run_create(definition=definition)
    assert services.segmentation_run_claim(run=run)
    SegmentationRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))

    assert start_embedded_beat() is not None

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and SegmentationRun.objects.get(pk=run.pk).status == RunStatus.RUNNING:
        time.sleep(0.2)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("Worker lost")


def test_nothing_starts_when_a_broker_runs_the_schedule(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    assert start_embedded_beat() is None
