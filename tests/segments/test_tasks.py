"""The Celery task in eager mode, and the admin's queueing path."""

import pytest

from segments import services, tasks
from segments.models import RunStatus, SegmentationRun
from tests.segments.factories import build_shop

pytestmark = pytest.mark.django_db


def test_task_runs_a_new_run_and_returns_its_id():
    build_shop(big=10, small=10, browsers=3)
    definition = services.segmentation_definition_create(name="RFM", method="rfm")
    run_id = tasks.run_segmentation.delay(definition.pk).get()
    run = SegmentationRun.objects.get(pk=run_id)
    assert run.status == RunStatus.SUCCEEDED and run.progress == 100
    definition.refresh_from_db()
    assert definition.active_run_id == run_id


def test_enqueue_runs_the_queued_run_on_commit(django_capture_on_commit_callbacks):
    build_shop(big=10, small=10, browsers=3)
    definition = services.segmentation_definition_create(name="K", method="kmeans", parameters={"k": 2})
    with django_capture_on_commit_callbacks(execute=True):
        run = services.segmentation_run_enqueue(definition=definition)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_task_does_nothing_while_another_run_is_in_progress():
    definition = services.segmentation_definition_create(name="K", method="kmeans")
    queued = services.segmentation_run_create(definition=definition)
    assert tasks.run_segmentation.delay(definition.pk).get() is None
    assert list(SegmentationRun.objects.filter(definition=definition)) == [queued]


def test_enqueue_sends_the_time_limit_and_the_task_goes_to_the_ml_queue(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.SEGMENTS_RUN_TIME_LIMIT = 120
    calls = []
    monkeypatch.setattr(tasks.run_segmentation, "apply_async", lambda *args, **kwargs: calls.append((args, kwargs)))
    definition = services.segmentation_definition_create(name="K", method="kmeans")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.segmentation_run_enqueue(definition=definition)
    assert calls == [
        (
            ((definition.pk,), {"run_id": run.pk}),
            {"soft_time_limit": 120, "time_limit": 180, "retry": False, "ignore_result": True},
        )
    ]
    assert settings.CELERY_TASK_ROUTES["segments.tasks.*"]["queue"] == "ml"


def test_a_redelivered_task_does_not_run_a_finished_run_again():
    build_shop(big=5, small=5, browsers=2)
    definition = services.segmentation_definition_create(name="RFM", method="rfm")
    run = services.segmentation_run(definition=definition)
    finished_at = run.finished_at
    assert tasks.run_segmentation.delay(definition.pk, run_id=run.pk).get() == run.pk
    run.refresh_from_db()
    assert run.finished_at == finished_at and SegmentationRun.objects.count() == 1
