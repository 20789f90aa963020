"""Runs whose worker died are failed by their lapsed heartbeat; queuing with the broker down fails at once."""
# ruff: noqa: F811 - dead_broker is a fixture imported from tests.brokers

from datetime import timedelta

import pytest
from django.utils import timezone

from config.jobs import Heartbeat, QueueUnavailable
from segments import services, tasks
from segments.models import RunStatus, SegmentationRun
from tests.brokers import dead_broker  # noqa: F401 - a fixture
from tests.segments.factories import build_shop

pytestmark = pytest.mark.django_db


def _running(definition, *, beat_seconds_ago: float) -> SegmentationRun:
    run = services.segmentation_run_create(definition=definition)
    assert services.segmentation_run_claim(run=run)
    SegmentationRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=beat_seconds_ago))
    return run


def test_a_run_silent_for_longer_than_the_lease_is_failed_with_the_reason_and_frees_its_definition(settings):
    settings.TASK_LEASE_SECONDS = 60
    build_shop(big=5, small=5, browsers=2)
    definition = services.segmentation_definition_create(name="RFM", method="rfm")
    active = services.segmentation_run(definition=definition)
    dead = _running(definition, beat_seconds_ago=61)

    assert tasks.fail_stale_segmentation_runs.delay().get() == [dead.pk]

    dead.refresh_from_db()
    definition.refresh_from_db()
    assert dead.status == RunStatus.FAILED and dead.finished_at is not None
    assert dead.error.startswith("Worker lost: segmentation run was running but its worker stopped answering")
    assert "lease 60 s" in dead.error
    assert definition.active_run == active  # the segments that served keep serving
    assert services.segmentation_run(definition=definition).status == RunStatus.SUCCEEDED  # free again


def test_a_run_that_beats_within_the_lease_is_left_alone(settings):
    settings.TASK_LEASE_SECONDS = 60
    definition = services.segmentation_definition_create(name="K", method="kmeans")
    alive = _running(definition, beat_seconds_ago=50)
    assert services.segmentation_runs_fail_stale() == []
    alive.refresh_from_db()
    assert alive.status == RunStatus.RUNNING


def test_queuing_a_run_reaps_a_dead_one_of_the_same_definition_first(settings, django_capture_on_commit_callbacks):
    settings.TASK_LEASE_SECONDS = 60
    build_shop(big=5, small=5, browsers=2)
    definition = services.segmentation_definition_create(name="RFM", method="rfm")
    dead = _running(definition, beat_seconds_ago=3600)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.segmentation_run_enqueue(definition=definition)
    run.refresh_from_db()
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and run.status == RunStatus.SUCCEEDED


def test_only_one_delivery_claims_a_queued_run():
    definition = services.segmentation_definition_create(name="K", method="kmeans")
    run = services.segmentation_run_create(definition=definition)
    assert services.segmentation_run_claim(run=run) is True
    assert services.segmentation_run_claim(run=run) is False
    assert run.status == RunStatus.RUNNING and run.heartbeat_at is not None


def test_a_run_reaped_while_it_computed_is_never_made_active(monkeypatch):
    build_shop(big=5, small=5, browsers=2)
    definition = services.segmentation_definition_create(name="RFM", method="rfm")
    active = services.segmentation_run(definition=definition)
    run = services.segmentation_run_create(definition=definition)
    services.segmentation_run_claim(run=run)
    real = services.selectors.feature_inputs

    def reaped_meanwhile():
        SegmentationRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="Worker lost")
        return real()

    monkeypatch.setattr(services.selectors, "feature_inputs", reaped_meanwhile)
    services.segmentation_run_execute(run=run)
    run.refresh_from_db()
    definition.refresh_from_db()
    assert run.status == RunStatus.FAILED and "marked failed while it ran" in run.error
    assert definition.active_run == active and not run.segments.exists()


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_refreshes_the_run_until_it_stops_running():
    import time

    definition = services.segmentation_definition_create(name="K", method="kmeans")
    run = services.segmentation_run_create(definition=definition)
    services.segmentation_run_claim(run=run)
    first = run.heartbeat_at
    with Heartbeat(SegmentationRun.objects.all(), run.pk, running_status=RunStatus.RUNNING, interval=0.05) as beat:
        deadline = time.monotonic() + 10
        while beat.beats < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    run.refresh_from_db()
    assert beat.beats >= 2 and run.heartbeat_at > first
    SegmentationRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
    with Heartbeat(SegmentationRun.objects.all(), run.pk, running_status=RunStatus.RUNNING, interval=0.05) as beat:
        time.sleep(0.5)
    assert beat.beats == 1  # the row left RUNNING: one empty beat, then the thread stopped


def test_the_reapers_are_scheduled_on_the_default_queue(settings):
    from config.celery import app

    entries = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    for task in ("segments.tasks.fail_stale_segmentation_runs", "recommender.tasks.fail_stale_training_runs"):
        assert entries[task]["schedule"] == settings.TASK_REAPER_SECONDS
        assert entries[task]["options"]["queue"] == "default"


# Committed transactions, as in production: queuing happens as soon as the run's row is committed.
@pytest.mark.django_db(transaction=True)
def test_run_now_with_the_broker_down_fails_fast_with_a_message_and_leaves_no_queued_run(admin_client, dead_broker):
    definition = services.segmentation_definition_create(name="RFM", method="rfm")
    response = admin_client.post(
        "/admin/segments/segmentationdefinition/",
        {"action": "run_now", "_selected_action": [definition.pk]},
        follow=True,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Could not queue segmentation run" in html and "broker" in html and "unreachable" in html
    run = SegmentationRun.objects.get(definition=definition)
    assert run.status == RunStatus.FAILED and run.error.startswith("Could not queue")
    assert not SegmentationRun.objects.in_progress().exists()  # the definition is not blocked


@pytest.mark.django_db(transaction=True)
def test_enqueue_with_the_broker_down_raises_queue_unavailable(dead_broker):
    definition = services.segmentation_definition_create(name="K", method="kmeans")
    with pytest.raises(QueueUnavailable, match="Nothing was queued"):
        services.segmentation_run_enqueue(definition=definition)
    assert SegmentationRun.objects.get().status == RunStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_the_command_line_queue_fails_with_one_line_when_the_broker_is_down(dead_broker, capsys):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=r"^Could not queue segmentation run #\d+ of “RFM”: the task broker"):
        call_command("run_segmentation", "--method", "rfm", "--queue")
    assert "Traceback" not in capsys.readouterr().err
    assert SegmentationRun.objects.get().status == RunStatus.FAILED  # not left queued


def test_the_command_line_queue_refuses_a_definition_already_in_progress():
    from django.core.management import CommandError, call_command

    definition = services.segmentation_definition_create(name="RFM", method="rfm")
    services.segmentation_run_create(definition=definition)
    with pytest.raises(CommandError, match="already has a run queued or running"):
        call_command("run_segmentation", "--definition", str(definition.pk), "--queue")
