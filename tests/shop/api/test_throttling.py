"""One request counter per API client, shared by every endpoint and every process, with Retry-After."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from shop.api.throttling import parse_rate
from shop.services import create_api_client


@pytest.fixture(autouse=True)
def _no_served_log(settings):
    """These tests call the recommendation endpoints for their answers' status only: log nothing served, so
    no background write outlives the test."""
    settings.RECOMMENDER_LOG_SERVED = False


@pytest.mark.django_db
def test_client_over_its_rate_gets_429_and_others_are_not_affected():
    _, slow_key = create_api_client(name="slow", throttle_rate="2/minute")
    _, other_key = create_api_client(name="other")
    client = APIClient()

    statuses = [client.get("/api/v1/products/none", HTTP_X_API_KEY=slow_key).status_code for _ in range(3)]

    assert statuses == [404, 404, 429]
    refused = client.get("/api/v1/products/none", HTTP_X_API_KEY=slow_key)
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert client.get("/api/v1/products/none", HTTP_X_API_KEY=other_key).status_code == 404


@pytest.mark.django_db
def test_one_counter_across_drf_and_lean_endpoints():
    _, key = create_api_client(name="mixed", throttle_rate="3/minute")
    client = APIClient()

    answers = [
        client.get("/api/v1/products/none", HTTP_X_API_KEY=key).status_code,
        client.get("/api/v1/popular", HTTP_X_API_KEY=key).status_code,
        client.post(
            "/api/v1/events",
            [{"event_id": "e1", "customer_id": "C1", "sku": "S1", "kind": "view"}],
            format="json",
            HTTP_X_API_KEY=key,
        ).status_code,
        client.get("/api/v1/popular", HTTP_X_API_KEY=key),
    ]

    assert answers[:3] == [404, 200, 200]
    lean_refusal = answers[3]
    assert lean_refusal.status_code == 429
    assert 1 <= int(lean_refusal["Retry-After"]) <= 60
    assert lean_refusal.json() == {"detail": lean_refusal.json()["detail"]}
    assert "throttled" in lean_refusal.json()["detail"].lower()


@pytest.mark.django_db
def test_the_counter_lives_in_the_shared_cache(settings):
    """Another process sees the same count: here, the cache is all the counter has (no per-process state)."""
    from django.core.cache import cache

    _, key = create_api_client(name="shared", throttle_rate="2/minute")
    client = APIClient()
    assert client.get("/api/v1/popular", HTTP_X_API_KEY=key).status_code == 200
    assert client.get("/api/v1/popular", HTTP_X_API_KEY=key).status_code == 200

    cache.clear()  # what a fresh window (or a cache without the counter) looks like

    assert client.get("/api/v1/popular", HTTP_X_API_KEY=key).status_code == 200


@pytest.mark.django_db
def test_default_rate_applies_per_scope(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "2/minute", "staff": "1/minute"},
    }
    _, key = create_api_client(name="default-rate")
    staff = get_user_model().objects.create_user("marketer", password="pw", is_staff=True)
    session = APIClient()
    session.force_login(staff)
    client = APIClient()

    keyed = [client.get("/api/v1/popular", HTTP_X_API_KEY=key).status_code for _ in range(3)]
    staffed = [session.get("/api/v1/products/none").status_code for _ in range(2)]

    assert keyed == [200, 200, 429]
    assert staffed == [404, 429]


def test_shipped_default_rates_throttle_something():
    from django.conf import settings

    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert set(rates) == {"api_key", "staff"}
    for rate in rates.values():
        count, seconds = parse_rate(rate)
        assert count / seconds <= 1000, rate


@pytest.mark.parametrize(("rate", "parsed"), [("600/minute", (600, 60)), ("5/s", (5, 1)), ("100/day", (100, 86400))])
def test_parse_rate(rate, parsed):
    assert parse_rate(rate) == parsed
