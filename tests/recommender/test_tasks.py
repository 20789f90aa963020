"""The Celery task and the queued-run path (eager Celery in tests)."""

import pytest

from recommender.models import TrainingRun
from recommender.services import queue_training
from recommender.tasks import train_recommender

pytestmark = pytest.mark.django_db


def test_task_trains_and_reports_the_run(shop):
    result = train_recommender.delay(algorithm="ease").get()
    run = TrainingRun.objects.get(pk=result["run"])
    assert result == {"run": run.pk, "status": "succeeded", "is_active": True}
    assert run.algorithm == "ease"


def test_queued_run_is_trained_once_the_transaction_commits(shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = queue_training(algorithm="item_knn")
        assert run.status == TrainingRun.Status.QUEUED
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.algorithm == "item_knn"
    assert TrainingRun.objects.count() == 1


def test_task_has_a_time_limit():
    assert train_recommender.time_limit and train_recommender.soft_time_limit < train_recommender.time_limit


def test_command_prints_one_json_summary(shop, capsys):
    import json

    from django.core.management import call_command

    call_command("train_recommender", "--algorithm", "ease", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "succeeded"
    assert summary["is_active"] is True
    assert set(summary["metrics"]) >= {"ndcg@10", "precision@10"}
    assert summary["data"]["interactions"] == 280
