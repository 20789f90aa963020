import pytest

pytestmark = pytest.mark.integration


def test_ready_checks_postgres_and_the_broker(client, settings, redis_url, db):
    settings.CELERY_BROKER_URL = redis_url
    from config.celery import app

    app.conf.broker_url = redis_url
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"] == {"database": "ok", "broker": "ok"}


def test_ready_reports_a_dead_broker_as_unavailable(client, settings, db):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    from config.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = settings.CELERY_BROKER_URL
    try:
        response = client.get("/health/ready")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error")
