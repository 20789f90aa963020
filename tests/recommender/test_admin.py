"""Admin: the model registry list, its actions, Train now, and the per-customer staff page."""

import pytest
from django.urls import reverse

from recommender.models import ModelSwitch, TrainingRun
from recommender.services import promote_model, train_model

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.recommender.urls")]

CHANGELIST = "/admin/recommender/trainingrun/"


def test_run_list_shows_metrics_side_by_side_and_the_active_model(admin_client, trained):
    candidate = train_model(algorithm="popularity")
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "nDCG@10" in html and "P@10" in html and "MAP" in html
    assert f"{trained.metrics['ndcg@10']:.4f}" in html
    assert f"{candidate.metrics['ndcg@10']:.4f}" in html
    assert "Train now" in html
    assert 'alt="True"' in html  # the active marker


def _switch(client, action: str, run_pk: int, reason: str = "checked by hand", **extra):
    data = {"action": action, "_selected_action": [run_pk], "confirm": "yes", "reason": reason}
    return client.post(CHANGELIST, {**data, **extra}, follow=True)


def test_promote_and_roll_back_actions(admin_client, admin_user, trained):
    other = train_model(algorithm="popularity")
    assert not other.is_active  # popularity is far worse: kept as a candidate
    _switch(admin_client, "promote", other.pk, reason="popularity for the sale week")
    assert TrainingRun.objects.get(is_active=True) == other
    _switch(admin_client, "roll_back", other.pk, reason="sale over")  # the active run selected: the one before
    assert TrainingRun.objects.get(is_active=True) == trained
    promote, rollback = ModelSwitch.objects.filter(acting_user=admin_user).order_by("switched_at", "id")
    assert (promote.kind, promote.from_run, promote.to_run) == ("promote", trained, other)
    assert (rollback.kind, rollback.from_run, rollback.to_run) == ("rollback", other, trained)
    assert (promote.reason, rollback.reason) == ("popularity for the sale week", "sale over")
    assert rollback.acting_user_name == admin_user.username


def test_a_switch_asks_for_the_reason_first_and_does_nothing_without_one(admin_client, trained):
    other = train_model(algorithm="popularity")
    page = admin_client.post(CHANGELIST, {"action": "promote", "_selected_action": [other.pk]})
    html = page.content.decode()
    assert page.status_code == 200 and "Why:" in html and f"run #{trained.pk}" in html  # what serves now
    assert TrainingRun.objects.get(is_active=True) == trained
    again = _switch(admin_client, "promote", other.pk, reason="   ")
    assert "Give the reason" in again.content.decode()
    assert TrainingRun.objects.get(is_active=True) == trained
    assert not ModelSwitch.objects.exclude(kind="automatic").exists()


def test_roll_back_returns_to_the_selected_run_not_merely_the_previous_one(admin_client):
    from tests.recommender.test_registry import run_with_artifact

    knn, als, ease = (run_with_artifact(0.3, algorithm=name) for name in ("item_knn", "als", "ease"))
    for run in (knn, als, ease):
        promote_model(run=run)
    _switch(admin_client, "roll_back", knn.pk, reason="als and ease both regressed")
    assert TrainingRun.objects.get(is_active=True) == knn
    ease.refresh_from_db()
    assert ease.rolled_back_at is not None
    last = ModelSwitch.objects.first()
    assert (last.kind, last.from_run, last.to_run) == ("rollback", ease, knn)


def test_run_page_and_history_list_show_who_switched_when_and_why(admin_client, admin_user, trained):
    other = train_model(algorithm="popularity")
    _switch(admin_client, "promote", other.pk, reason="campaign needs bestsellers")
    page = admin_client.get(f"{CHANGELIST}{other.pk}/change/").content.decode()
    assert "campaign needs bestsellers" in page and admin_user.username in page
    assert "Manual promotion" in page and f"#{trained.pk}" in page
    assert (
        "Automatic promotion (champion gate)" in admin_client.get(f"{CHANGELIST}{trained.pk}/change/").content.decode()
    )
    history = admin_client.get("/admin/recommender/modelswitch/").content.decode()
    assert "campaign needs bestsellers" in history and "champion gate (automatic)" in history


def test_inactive_runs_do_not_read_promoted(admin_client, trained):
    other = train_model(algorithm="popularity")
    _switch(admin_client, "promote", other.pk)
    _switch(admin_client, "roll_back", other.pk)
    html = admin_client.get(CHANGELIST).content.decode()
    assert "promoted:" not in html and "rolled back to from" not in html
    assert "rolled back on" in html and "(no longer served)" in html  # the popularity run
    trained.refresh_from_db()
    other.refresh_from_db()
    assert trained.serving_state == "serving"
    assert other.serving_state.startswith("rolled back on ")
    assert trained.decision.startswith("passed the champion gate")


def test_roll_back_to_a_run_that_never_served_is_refused(admin_client, trained):
    other = train_model(algorithm="popularity")
    response = _switch(admin_client, "roll_back", other.pk)
    assert "never served" in response.content.decode()
    assert TrainingRun.objects.get(is_active=True) == trained


def test_promote_needs_exactly_one_run(admin_client, trained):
    other = train_model(algorithm="popularity")
    response = _switch(admin_client, "promote", other.pk, _selected_action=[other.pk, trained.pk])
    assert "exactly one" in response.content.decode()
    assert TrainingRun.objects.get(is_active=True) == trained


def test_train_now_queues_a_run(admin_client, shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:recommender_trainingrun_train"), {"algorithm": "ease"})
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.algorithm == "ease"
    assert run.status == TrainingRun.Status.SUCCEEDED


def test_customer_page_shows_history_beside_recommendations_and_reasons(admin_client, trained):
    response = admin_client.get("/staff/recommender/customers/c00/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Recent history" in html and "Recommendations" in html
    assert "because you" in html
    assert "Product" in html
    assert f"model run #{trained.pk}" in html


def test_customer_search_redirects_to_the_page(admin_client, trained):
    response = admin_client.get("/staff/recommender/customers/", {"q": "c00"})
    assert response.status_code == 302
    assert response["Location"] == "/staff/recommender/customers/c00/"


def test_customer_page_is_staff_only_and_404_for_unknown(client, admin_client, trained):
    assert client.get("/staff/recommender/customers/c00/").status_code == 302  # to the login page
    assert admin_client.get("/staff/recommender/customers/nobody/").status_code == 404
