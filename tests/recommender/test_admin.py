"""Admin: the model registry list, its actions, Train now, and the per-customer staff page."""

import pytest
from django.urls import reverse

from recommender.models import TrainingRun
from recommender.services import train_model

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


def test_promote_and_roll_back_actions(admin_client, trained):
    other = train_model(algorithm="popularity")
    assert not other.is_active  # popularity is far worse: kept as a candidate
    admin_client.post(CHANGELIST, {"action": "promote", "_selected_action": [other.pk]})
    assert TrainingRun.objects.get(is_active=True) == other
    admin_client.post(CHANGELIST, {"action": "roll_back", "_selected_action": [other.pk]})
    assert TrainingRun.objects.get(is_active=True) == trained


def test_promote_needs_exactly_one_run(admin_client, trained):
    other = train_model(algorithm="popularity")
    response = admin_client.post(
        CHANGELIST, {"action": "promote", "_selected_action": [other.pk, trained.pk]}, follow=True
    )
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
