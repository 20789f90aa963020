"""Each API client is throttled at its own rate."""

import pytest
from rest_framework.test import APIClient

from shop.services import create_api_client


@pytest.mark.django_db
def test_client_over_its_rate_gets_429_and_others_are_not_affected():
    _, slow_key = create_api_client(name="slow", throttle_rate="2/minute")
    _, other_key = create_api_client(name="other")
    client = APIClient()

    statuses = [client.get("/api/v1/products/none", HTTP_X_API_KEY=slow_key).status_code for _ in range(3)]

    assert statuses == [404, 404, 429]
    assert "Retry-After" in client.get("/api/v1/products/none", HTTP_X_API_KEY=slow_key)
    assert client.get("/api/v1/products/none", HTTP_X_API_KEY=other_key).status_code == 404
