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


def test_queued_task_gets_its_time_limits_from_settings_when_queued(db, settings, django_capture_on_commit_callbacks):
    from unittest import mock

    settings.RECOMMENDER_TRAIN_TIME_LIMIT = 120
    with (
        mock.patch.object(train_recommender, "apply_async") as apply_async,
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = queue_training(algorithm="ease")
    apply_async.assert_called_once_with(
        kwargs={"algorithm": "ease", "run_id": run.pk, "search": None},
        soft_time_limit=120,
        time_limit=180,
        retry=False,  # one attempt: a dead broker fails the request at once
        ignore_result=True,  # the run row is the result; no wait on the result store
    )


def test_a_redelivered_task_for_the_active_run_changes_nothing(shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = queue_training(algorithm="ease")
    run.refresh_from_db()
    assert run.is_active
    result = train_recommender.delay(algorithm="ease", run_id=run.pk).get()
    assert result == {"run": run.pk, "status": "succeeded", "is_active": True}
    after = TrainingRun.objects.get(pk=run.pk)
    assert (after.artifact_path, after.finished_at) == (run.artifact_path, run.finished_at)


def test_a_redelivered_task_for_a_finished_candidate_does_not_retrain_it(shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = queue_training(algorithm="ease")
        second = queue_training(algorithm="popularity")
    second.refresh_from_db()
    assert second.status == "succeeded" and not second.is_active
    train_recommender.delay(algorithm="popularity", run_id=second.pk).get()
    after = TrainingRun.objects.get(pk=second.pk)
    assert (after.artifact_path, after.finished_at, after.status) == (
        second.artifact_path,
        second.finished_at,
        "succeeded",
    )
    assert TrainingRun.objects.get(is_active=True) == first


def test_command_prints_one_json_summary(shop, capsys):
    import json

    from django.core.management import call_command

    call_command("train_recommender", "--algorithm", "ease", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "succeeded"
    assert summary["is_active"] is True
    assert set(summary["metrics"]) >= {"ndcg@10", "precision@10"}
    assert summary["data"]["interactions"] == 280


def test_command_reports_a_failed_run_in_one_line(db, capsys, caplog):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="no interactions to learn from"):
        call_command("train_recommender")
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert not any(record.exc_info for record in caplog.records)
    assert "ValueError: no interactions to learn from" in caplog.text
    assert "Traceback" in TrainingRun.objects.get().error  # kept on the run for the admin


def test_command_trains_the_content_model_from_product_text(shop, capsys, api_client):
    import json

    from django.core.management import call_command

    call_command("train_recommender", "--algorithm", "content", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "succeeded", summary["error"]
    assert summary["algorithm"] == "content"
    payload = api_client.get("/api/v1/recommendations/c00", {"n": 5}).json()
    assert payload["strategy"] == "personal" and len(payload["results"]) == 5
