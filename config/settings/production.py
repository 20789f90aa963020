"""Production: the fallback of the deployed entry points (config.wsgi, config.celery). No secret defaults:
refuses to start without DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS. HTTPS only, with HSTS; behind a
TLS-terminating proxy set DJANGO_SECURE_PROXY_SSL_HEADER (e.g. "X-Forwarded-Proto: https")."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import FILE_STORAGE, LOGGING, env_bool, env_list

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production.")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set in production (comma-separated).")
DEBUG = env_bool("DJANGO_DEBUG", False)

# --- HTTPS ----------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Load balancers and orchestrators probe over plain HTTP: the health endpoints answer without a redirect.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)


def _proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto: https` -> ("HTTP_X_FORWARDED_PROTO", "https"). Only set it behind a proxy that
    sets (and strips from clients) that header: otherwise any client could claim to be on HTTPS."""
    if not value.strip():
        return None
    header, sep, expected = value.partition(":")
    if not sep or not header.strip() or not expected.strip():
        raise ImproperlyConfigured(
            f"DJANGO_SECURE_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto: https'; got {value!r}."
        )
    return "HTTP_" + header.strip().upper().replace("-", "_"), expected.strip()


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", ""))

# --- Static files ---------------------------------------------------------------------------
# Hashed names from collectstatic's manifest; without it pages still render (unhashed URLs, see the storage).
STORAGES = {
    "default": FILE_STORAGE,
    "staticfiles": {"BACKEND": "config.staticfiles.ForgivingManifestStaticFilesStorage"},
}

# --- Logs and errors ------------------------------------------------------------------------
# One JSON object per line with the request id; never a customer id, path or body (see config.observability).
LOGGING = {
    **LOGGING,
    "formatters": {**LOGGING["formatters"], "json": {"()": "config.observability.JsonFormatter"}},
    "filters": {"request_context": {"()": "config.observability.RequestContextFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_context"]},
    },
}
# One line per request (method, URL route, status, milliseconds, request id), instead of gunicorn's access log.
ACCESS_LOG = env_bool("DJANGO_ACCESS_LOG", True)
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    from config.observability import init_sentry

    init_sentry(dsn=SENTRY_DSN)

# Campaign e-mail really leaves: SMTP (EMAIL_HOST...) unless EMAIL_BACKEND names another (e.g. django-anymail's);
# never the demo's file outbox, where a launched campaign would vanish without an error.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
