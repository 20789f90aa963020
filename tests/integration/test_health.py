"""/health/ready names the dependency that is down, and says when no worker answers."""
# ruff: noqa: F811 - dead_broker is a fixture imported from tests.brokers

import pytest

from tests.brokers import closed_port, dead_broker  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def live_broker(settings, redis_url):
    """Celery pointed at the test Redis (broker and result backend); no worker unless a test starts one."""
    from config.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "result_backend")}
    settings.CELERY_BROKER_URL = redis_url
    app.conf.update(broker_url=redis_url, result_backend=redis_url)
    _forget(app)
    yield redis_url
    app.conf.update(saved)
    _forget(app)


def _forget(app):
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


def test_ready_with_everything_up_and_a_worker_answering(client, live_broker, celery_worker):
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {k: v for k, v in body["checks"].items() if k != "workers"} == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
        "result_backend": "ok",
    }
    assert body["checks"]["workers"].startswith("ok (1 answered)")


def test_ready_says_when_no_worker_answers_without_failing_the_web_process(client, db, live_broker, settings):
    settings.HEALTH_WORKER_PING_TIMEOUT = 0.3
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body  # the web process still serves; a balancer must keep it
    assert body["status"] == "degraded"
    assert body["checks"]["workers"].startswith("error: no worker answered a ping within 0.3 s")
    assert body["checks"]["broker"] == "ok"


def test_ready_names_a_dead_broker_and_result_backend(client, db, dead_broker):
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error:") and "refused" in body["checks"]["broker"].lower()
    assert body["checks"]["result_backend"].startswith("error:")
    assert body["checks"]["workers"] == "unknown: the broker is down"


def test_ready_names_a_dead_cache(client, db, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["cache"].startswith("error:") and body["checks"]["database"] == "ok"
