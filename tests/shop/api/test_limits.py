"""Request bodies and free-form attributes have a size limit, answered with a clear 413 or 400."""

import io

import orjson
import pytest
from django.test import RequestFactory
from rest_framework.request import Request

from shop.api.fastjson import ORJSONParser
from shop.api.limits import RequestTooLarge
from shop.models import Customer


@pytest.mark.django_db
def test_an_over_large_events_body_is_413_naming_the_limit(api_client, settings):
    settings.API_MAX_BODY_BYTES = 50_000
    events = [{"event_id": f"e{i}", "customer_id": "C1", "sku": "S1", "kind": "view"} for i in range(1000)]

    response = api_client.post("/api/v1/events", events, format="json")

    assert response.status_code == 413
    assert "API_MAX_BODY_BYTES" in response.json()["detail"]
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_a_body_within_the_limit_is_accepted(api_client, settings):
    settings.API_MAX_BODY_BYTES = 50_000
    events = [{"event_id": f"e{i}", "customer_id": "C1", "sku": "S1", "kind": "view"} for i in range(10)]

    assert api_client.post("/api/v1/events", events, format="json").status_code == 200


def test_a_body_without_declared_length_is_cut_at_the_limit(settings):
    """A chunked body declares no length: the parser reads one byte past the limit, never the whole body."""
    settings.API_MAX_BODY_BYTES = 1000
    body = orjson.dumps(["x" * 100] * 100)
    stream = io.BytesIO(body)
    django_request = RequestFactory().post("/api/v1/events", data=b"", content_type="application/json")
    django_request.META.pop("CONTENT_LENGTH", None)

    with pytest.raises(RequestTooLarge):
        ORJSONParser().parse(stream, parser_context={"request": Request(django_request)})
    assert stream.tell() == 1001


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/customers/C1", "/api/v1/products/S1"])
def test_too_many_attribute_keys_is_400(api_client, path):
    attributes = {f"k{i}": i for i in range(101)}

    response = api_client.put(path, {"attributes": attributes}, format="json")

    assert response.status_code == 400
    assert "At most 100 attributes" in response.json()["attributes"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/customers/C1", "/api/v1/products/S1"])
def test_too_large_attributes_is_400(api_client, path):
    response = api_client.put(path, {"attributes": {"notes": "x" * 9000}}, format="json")

    assert response.status_code == 400
    assert "8,192 bytes" in response.json()["attributes"][0]


@pytest.mark.django_db
def test_attributes_within_limits_are_stored(api_client):
    attributes = {f"k{i}": "v" * 50 for i in range(100)}

    response = api_client.put("/api/v1/customers/C1", {"attributes": attributes}, format="json")

    assert response.status_code == 201
    assert Customer.objects.get(external_id="C1").attributes == attributes


@pytest.mark.django_db
def test_batch_upsert_names_the_item_with_too_large_attributes(api_client):
    items = [{"external_id": "C1"}, {"external_id": "C2", "attributes": {"notes": "x" * 9000}}]

    response = api_client.put("/api/v1/customers", items, format="json")

    assert response.status_code == 400
    assert "8,192 bytes" in str(response.json())
    assert not Customer.objects.exists()
