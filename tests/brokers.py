"""A Celery broker that is down: a loopback port nothing listens on. Used as a pytest fixture."""

import socket

import pytest


def closed_port() -> int:
    """A loopback port that refuses connections (bound then released, so nothing listens there)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_broker(settings):
    """Celery publishing for real (not eagerly) to a broker and result store that refuse connections."""
    from config.celery import app

    url = f"redis://127.0.0.1:{closed_port()}/0"
    saved = {key: app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager")}
    settings.CELERY_BROKER_URL = url
    app.conf.update(broker_url=url, result_backend=url, task_always_eager=False)
    _forget_connections(app)
    yield url
    app.conf.update(saved)
    _forget_connections(app)


def _forget_connections(app) -> None:
    """Drop the app's connection pools and result backend: they keep the URL they were made with."""
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)
