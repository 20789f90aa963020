"""Train now in the model registry says what happened to the run, not "queued" when it already ran."""

import pytest
from django.contrib.messages import get_messages

from recommender.models import TrainingRun

# A real commit: the queued run is handed to Celery (eager here) when the request's write commits, as in the demo.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.recommender.urls")]

TRAIN = "/admin/recommender/trainingrun/train/"


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_train_now_without_a_broker_says_the_run_ran_and_succeeded(admin_client, shop):
    response = admin_client.post(TRAIN, {"algorithm": "popularity"})

    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert _messages(response) == [f"Training run #{run.pk} (popularity) ran now and succeeded."]


def test_train_now_reports_a_failed_run_with_its_reason(admin_client, shop, monkeypatch):
    from recommender import services

    def broken(run, **kwargs):
        raise RuntimeError("the matrix is empty")

    monkeypatch.setattr(services, "_train", broken)
    response = admin_client.post(TRAIN, {"algorithm": "popularity"})

    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.FAILED
    [message] = _messages(response)
    assert message == f"Training run #{run.pk} (popularity) failed: RuntimeError: the matrix is empty"
