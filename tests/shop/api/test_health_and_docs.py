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
    assert {"event_id", "customer_id", "sku", "kind"} <= set(event["required"])


@pytest.mark.django_db
def test_docs_page_is_public_and_served_offline(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
