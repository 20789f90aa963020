"""Probes for the orchestrator, and the API's own description, all public."""

import pytest


def test_live(client):
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_checks_the_database(client):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_schema_is_public_and_describes_the_shop_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/events", "/api/v1/customers/{external_id}", "/api/v1/products/{sku}"} <= set(schema["paths"])
    assert set(schema["paths"]["/api/v1/customers"]) >= {"put"}
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["in"] == "header"
    event = schema["components"]["schemas"]["Event"]
    # A visitor's event names anonymous_id instead of customer_id, and a login names no product: only these two
    # are required of every event; the rest are described.
    assert set(event["required"]) == {"event_id", "kind"}
    assert {"customer_id", "anonymous_id", "sku", "coupon", "recommendation_id"} <= set(event["properties"])
    assert "login" in schema["components"]["schemas"]["EventKindEnum"]["enum"]


@pytest.mark.django_db
def test_docs_page_is_public_and_served_offline(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()


@pytest.mark.django_db
def test_redoc_page_is_public_and_asks_no_other_site_for_anything(client):
    response = client.get("/api/redoc/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in page
    assert "https://" not in page and "http://" not in page
