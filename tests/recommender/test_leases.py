"""Training runs whose worker died are failed by their lapsed heartbeat; queuing with the broker down fails fast."""
# ruff: noqa: F811 - dead_broker is a fixture imported from tests.brokers

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from config.jobs import QueueUnavailable
from recommender import services
from recommender.models import TrainingRun
from recommender.services import queue_training, train_model, training_runs_fail_stale
from recommender.tasks import fail_stale_training_runs
from tests.brokers import dead_broker  # noqa: F401 - a fixture
from tests.recommender.factories import TrainingRunFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.recommender.urls")]


def test_a_running_run_silent_past_the_lease_is_failed_and_the_active_model_stays(settings, trained):
    settings.TASK_LEASE_SECONDS = 60
    now = timezone.now()
    dead = TrainingRunFactory(status="running", started_at=now, heartbeat_at=now - timedelta(seconds=61))
    alive = TrainingRunFactory(status="running", started_at=now, heartbeat_at=now - timedelta(seconds=30))

    assert fail_stale_training_runs.delay().get() == [dead.pk]

    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == "failed" and dead.finished_at is not None
    assert dead.error.startswith("Worker lost: training run was running but its worker stopped answering")
    assert alive.status == "running"
    assert TrainingRun.objects.get(is_active=True) == trained


def test_a_run_that_never_beat_counts_from_its_start(settings):
    settings.TASK_LEASE_SECONDS = 60
    old = TrainingRunFactory(status="running", started_at=timezone.now() - timedelta(minutes=5), heartbeat_at=None)
    assert training_runs_fail_stale() == [old.pk]
    old.refresh_from_db()
    assert "no heartbeat" in old.error


def test_queuing_a_run_reaps_dead_ones_first(settings, shop, django_capture_on_commit_callbacks):
    settings.TASK_LEASE_SECONDS = 60
    dead = TrainingRunFactory(
        status="running", started_at=timezone.now(), heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = queue_training(algorithm="ease")
    dead.refresh_from_db()
    run.refresh_from_db()
    assert dead.status == "failed" and run.status == "succeeded" and run.is_active


def test_a_run_reaped_while_it_trained_is_not_promoted(shop, monkeypatch):
    real = services._train

    def reaped_meanwhile(run, **kwargs):
        real(run, **kwargs)
        TrainingRun.objects.filter(pk=run.pk).update(status="failed", error="Worker lost: test")

    monkeypatch.setattr(services, "_train", reaped_meanwhile)
    run = train_model(algorithm="ease")
    assert run.status == "failed" and run.error == "Worker lost: test"
    assert not TrainingRun.objects.filter(is_active=True).exists()


def test_training_claims_the_run_with_a_heartbeat(shop):
    run = TrainingRun.objects.create(algorithm="ease")
    before = timezone.now()
    run = train_model(run=run)
    assert run.status == "succeeded" and run.heartbeat_at >= before


@pytest.mark.django_db(transaction=True)
def test_train_now_with_the_broker_down_fails_fast_with_a_message_and_no_queued_run(admin_client, dead_broker):
    response = admin_client.post(reverse("admin:recommender_trainingrun_train"), {"algorithm": "ease"}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Could not queue training run" in html and "unreachable" in html
    run = TrainingRun.objects.get()
    assert run.status == "failed" and run.error.startswith("Could not queue training run")
    assert not TrainingRun.objects.filter(status__in=["queued", "running"]).exists()


@pytest.mark.django_db(transaction=True)
def test_queue_training_with_the_broker_down_raises_queue_unavailable(dead_broker):
    with pytest.raises(QueueUnavailable, match="Nothing was queued"):
        queue_training(algorithm="ease")
    assert TrainingRun.objects.get().status == "failed"


@pytest.mark.django_db(transaction=True)
def test_the_command_line_queue_fails_with_one_line_when_the_broker_is_down(dead_broker, capsys):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=r"^Could not queue training run #\d+: the task broker .* is unreachable"):
        call_command("train_recommender", "--queue")
    assert "Traceback" not in capsys.readouterr().err
    assert TrainingRun.objects.get().status == "failed"


def test_the_command_line_queue_without_a_broker_trains_in_process(shop, capsys, django_capture_on_commit_callbacks):
    import json

    from django.core.management import call_command

    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_recommender", "--queue", "--algorithm", "ease", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["queued"] is True
    assert TrainingRun.objects.get(pk=summary["run"]).status == "succeeded"  # eager: no broker configured
