"""Request ids, JSON logs without customer data, and error reporting (Sentry) for production.

Every request gets an id (the `X-Request-ID` it came with, when sane, or a new one), returned in the
response's `X-Request-ID` and stamped on every log line written while it is served. Log lines name the URL
route (`api/v1/recommendations/<str:external_id>`), never the path, query or body: those can name a customer.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from contextvars import ContextVar

from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

_request_id: ContextVar[str] = ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
access_logger = logging.getLogger("config.access")
# Loggers whose messages carry the request path (e.g. "Not Found: /api/v1/customers/<id>").
_PATH_LOGGERS = frozenset({"django.request", "django.server"})


def current_request_id() -> str:
    return _request_id.get()


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None else "(unmatched)"


class RequestIdMiddleware:
    """First in the chain: gives the request its id and, with ACCESS_LOG on, writes one line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        request.request_id = request_id
        # Kept until the response is closed (request_finished): Django logs 4xx/5xx after the middleware.
        _request_id.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        if getattr(settings, "ACCESS_LOG", False) and access_logger.isEnabledFor(logging.INFO):
            access_logger.info(
                "request",
                extra={
                    "method": request.method,
                    "route": _route(request),
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return response


@receiver(request_finished, dispatch_uid="forget_request_id")
def _forget_request_id(**kwargs) -> None:
    _request_id.set("-")


class RequestContextFilter(logging.Filter):
    """Stamps the request id on each record, and keeps customer ids out of Django's request logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        request = record.__dict__.pop("request", None)
        if record.name in _PATH_LOGGERS and isinstance(record.args, tuple) and len(record.args) == 2:
            # "%s: %s" % (reason, request.path): the path may hold a customer's id; log the route instead.
            route = _route(request) if request is not None and not isinstance(request, str) else "(path)"
            record.args = (record.args[0], route)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, request_id and the record's extra fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s", *args[1:], **kwargs)


def _scrub(event, hint):
    """No customer data to Sentry: drop the request's URL, query, body, cookies and headers (the transaction
    name is the URL route already)."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("url", "query_string", "data", "cookies", "headers", "env"):
            request.pop(key, None)
    event.setdefault("tags", {})["request_id"] = _request_id.get()
    return event


def init_sentry(*, dsn: str) -> None:
    """Error reporting through Sentry (Django and Celery integrations enable themselves)."""
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=os.environ.get("SENTRY_ENVIRONMENT", "production"),
        release=os.environ.get("SENTRY_RELEASE") or None,
        send_default_pii=False,
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
        before_send=_scrub,
    )
