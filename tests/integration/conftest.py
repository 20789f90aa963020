"""Real PostgreSQL + Redis + a Celery worker process, for the integration tests.

`make test` runs these with DATABASE_URL pointing at PostgreSQL and TEST_REDIS_URL at a Redis
database of their own; the worker is a separate process that reads the test database.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.fail("integration tests need TEST_REDIS_URL (make test writes it to .ci/services.env)")
    return url


@pytest.fixture(scope="session")
def redis_url():
    """The test Redis database, left as it was found: flushed at the end only if it started empty."""
    import redis

    url = _redis_url()
    client = redis.Redis.from_url(url)
    client.ping()
    was_empty = client.dbsize() == 0
    yield url
    if was_empty:
        client.flushdb()


@pytest.fixture(scope="session", autouse=True)
def _require_postgres():
    if connection.vendor != "postgresql":
        pytest.fail("integration tests must run on PostgreSQL: set DATABASE_URL (make test does)")


@pytest.fixture
def celery_processes(transactional_db, redis_url, settings):
    """Start real `celery worker` / `celery beat` processes on the test Redis and database, with extra
    environment (e.g. a short lease); every process started is stopped by its pid at the end."""
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    app.conf.broker_url = redis_url
    app.conf.result_backend = redis_url
    app._pool = None  # connections made for another broker URL
    app.amqp._producer_pool = None
    db = connection.settings_dict
    base_env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_BROKER_URL=redis_url,
        CELERY_RESULT_BACKEND=redis_url,
        DJANGO_MEDIA_ROOT=str(settings.MEDIA_ROOT),
        OPENBLAS_NUM_THREADS="1",
    )
    queues = ",".join(sorted({"default", *(r["queue"] for r in settings.CELERY_TASK_ROUTES.values())}))
    started: list[subprocess.Popen] = []
    files = contextlib.ExitStack()

    def start(kind: str = "worker", **env) -> subprocess.Popen:
        if kind == "worker":
            args = ["worker", "-P", "solo", "-Q", queues, "-l", "warning",
                    "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        else:
            args = ["beat", "-l", "warning", "--max-interval", "1"]
        # A file, not a pipe: a full pipe would block the process.
        output = files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - closed by the ExitStack
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT, env={**base_env, **env}, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        proc.output = output
        started.append(proc)
        if kind == "worker":
            _wait_for_a_worker(app, proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        files.close()
        app.conf.task_always_eager = True


def _wait_for_a_worker(app, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            proc.output.seek(0)
            pytest.fail(f"celery worker exited early:\n{proc.output.read().decode()[-3000:]}")
        if app.control.ping(timeout=0.5):
            return
    pytest.fail("celery worker did not answer a ping within 60 s")


@pytest.fixture
def celery_worker(celery_processes):
    """A real `celery worker` process on every queue, reading the test database; stopped by its pid."""
    return celery_processes("worker")
