"""Liveness and readiness probes: plain Django views, no DRF, no auth.

`/health/ready` checks each dependency and names the one that is down: the database, the broker, the
Celery result backend and the cache answer 503 when unreachable. Workers are reported too ("workers":
when none answered a ping recently), as `"status": "degraded"` with 200: the web process still serves
events and recommendations without them, so a load balancer must not take it out. So are static files in
production ("static_files": collectstatic has not run): pages still render, without their styles.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

WORKERS_SEEN_KEY = "health:workers-last-seen"
# A ping answered this recently counts: probes every few seconds need not each wait on the workers.
WORKERS_FRESH_SECONDS = 30


def live(request):
    return JsonResponse({"status": "ok"})


def ready(request):
    checks: dict[str, str] = {}
    down = False
    for name, check in (("database", _database), ("cache", _cache)):
        checks[name], ok = _run(check)
        down |= not ok
    if settings.CELERY_BROKER_URL:
        checks["broker"], broker_ok = _run(_broker)
        checks["result_backend"], backend_ok = _run(_result_backend)
        down |= not (broker_ok and backend_ok)
        if broker_ok:
            checks["workers"], workers_ok = _run(_workers)
        else:
            checks["workers"], workers_ok = "unknown: the broker is down", False
    else:
        checks["broker"] = "eager (no broker configured)"
        workers_ok = True
    degraded = not workers_ok
    if _collected_static_expected():
        checks["static_files"], static_ok = _run(_static_files)
        degraded |= not static_ok
    status = "unavailable" if down else ("degraded" if degraded else "ok")
    return JsonResponse({"status": status, "checks": checks}, status=503 if down else 200)


def _run(check) -> tuple[str, bool]:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - any failure means this dependency is down
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"error: {type(exc).__name__}: {first_line}", False


def _database() -> tuple[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok", True


def _cache() -> tuple[str, bool]:
    cache.set("health:probe", 1, 10)
    if cache.get("health:probe") != 1:
        return "error: a value written to the cache could not be read back", False
    return "ok", True


def _broker() -> tuple[str, bool]:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=0, timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT)
    return "ok", True


def _result_backend() -> tuple[str, bool]:
    from config.celery import app

    backend = app.backend
    client = getattr(backend, "client", None)
    if client is not None and hasattr(client, "ping"):  # Redis
        client.ping()
        return "ok", True
    # django-db shares the database checked above; cache+memory lives in this process.
    return f"ok ({type(backend).__name__})", True


def _collected_static_expected() -> bool:
    """Production serves collected, hashed static files (a manifest storage); dev and tests the apps' own."""
    from django.contrib.staticfiles.storage import staticfiles_storage

    return hasattr(staticfiles_storage, "manifest_name")


def _static_files() -> tuple[str, bool]:
    from django.contrib.staticfiles.storage import staticfiles_storage

    if staticfiles_storage.exists(staticfiles_storage.manifest_name):
        return "ok", True
    return (
        f"error: static files are not collected (no {staticfiles_storage.manifest_name} in STATIC_ROOT): "
        "run collectstatic; pages show without their styles",
        False,
    )


def _workers() -> tuple[str, bool]:
    from config.celery import app

    now = time.time()
    last_seen = cache.get(WORKERS_SEEN_KEY)
    if last_seen is not None and now - last_seen < WORKERS_FRESH_SECONDS:
        return f"ok (answered {now - last_seen:.0f} s ago)", True
    timeout = float(getattr(settings, "HEALTH_WORKER_PING_TIMEOUT", 1.0))
    answers = app.control.ping(timeout=timeout)
    if answers:
        cache.set(WORKERS_SEEN_KEY, now, None)
        return f"ok ({len(answers)} answered)", True
    seen = (
        f"last answer {now - last_seen:.0f} s ago" if last_seen is not None else "none answered since the cache started"
    )
    return f"error: no worker answered a ping within {timeout:g} s ({seen}); queued jobs will wait", False
