"""Production settings: the deployed entry points' fallback, safe without being told, and deploy-checked.

Each case runs in a fresh interpreter with production settings (the test process keeps its own settings).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRET = "x7Gq2LmV9pR4tW8zK1cN6bH3jD5fS0aYeU7iO2uP9lQ4wE6rT8yZ"  # 50+ characters, as check --deploy wants


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SENTRY_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="shop.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),  # empty: collectstatic never ran
        DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
    )
    env.pop("REDIS_URL", None)
    env.pop("CELERY_BROKER_URL", None)
    env.update(extra)
    return env


def run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_at_warning_level_with_nothing_silenced(tmp_path):
    env = production_env(tmp_path, REDIS_URL="redis://127.0.0.1:6379/15")  # the check only reads the setting

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout
    silenced = run(
        "import django; django.setup(); from django.conf import settings; print(settings.SILENCED_SYSTEM_CHECKS)", env
    )
    assert silenced.stdout.strip() == "[]"


def test_check_deploy_warns_when_the_cache_is_per_process(tmp_path):
    env = production_env(tmp_path)  # no REDIS_URL: each process would keep its own cache

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "shop.W001" in result.stderr + result.stdout
    assert "REDIS_URL" in result.stderr + result.stdout


@pytest.mark.parametrize("module", ["config.wsgi", "config.celery"])
def test_deployed_entry_points_fall_back_to_production(tmp_path, module):
    env = production_env(tmp_path)
    del env["DJANGO_SETTINGS_MODULE"]

    result = run(
        f"import {module}; import django; django.setup(); from django.conf import settings; "
        "print(settings.SETTINGS_MODULE, settings.DEBUG, settings.SECURE_SSL_REDIRECT)",
        env,
    )

    assert result.stdout.split() == ["config.settings.production", "False", "True"], result.stderr


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_a_forgotten_variable_stops_the_deployed_app(tmp_path, missing):
    env = production_env(tmp_path)
    del env["DJANGO_SETTINGS_MODULE"]
    del env[missing]

    result = run("import config.wsgi", env)

    assert result.returncode != 0
    assert f"{missing} must be set in production" in result.stderr


def test_manage_py_keeps_dev_settings(tmp_path):
    env = production_env(tmp_path)
    del env["DJANGO_SETTINGS_MODULE"]

    result = run_manage("diffsettings", "--all", env=env)

    assert "SETTINGS_MODULE = 'config.settings.dev'" in result.stdout, result.stderr


SERVE = """
import json, django
django.setup()
from django.test import Client
out = {}
plain = Client(HTTP_HOST="shop.example.com")
proxied = Client(HTTP_HOST="shop.example.com", HTTP_X_FORWARDED_PROTO="https")
for name, client, path in [
    ("api_plain", plain, "/api/v1/popular"),
    ("live_plain", plain, "/health/live"),
    ("ready_plain", plain, "/health/ready"),
    ("api_proxied", proxied, "/api/v1/popular"),
    ("admin", proxied, "/admin/login/"),
    ("docs", proxied, "/api/docs/"),
]:
    response = client.get(path)
    out[name] = [response.status_code, response.get("Location", ""), response.get("Strict-Transport-Security", "")]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def proxied_env(tmp_path_factory) -> dict[str, str]:
    """Production behind a TLS-terminating proxy, on a migrated database, static files never collected."""
    env = production_env(
        tmp_path_factory.mktemp("production"), DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https"
    )
    migrated = run_manage("migrate", "--noinput", "-v", "0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    return env


@pytest.fixture(scope="module")
def served(proxied_env) -> tuple[dict, str]:
    result = run(SERVE, proxied_env)
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_https_redirect_and_hsts_behind_a_tls_proxy_with_health_exempt(served):
    answers, _ = served

    assert answers["api_plain"][0] == 301
    assert answers["api_plain"][1] == "https://shop.example.com/api/v1/popular"
    assert answers["live_plain"][0] == 200
    assert answers["ready_plain"][0] in (200, 503)  # answered, not redirected
    assert answers["api_proxied"][0] == 401  # over HTTPS: reaches the API (no key sent)
    assert "max-age=31536000" in answers["api_proxied"][2]
    assert "includeSubDomains" in answers["api_proxied"][2]


def test_admin_and_api_docs_render_without_collectstatic(served):
    answers, stderr = served

    assert answers["admin"][0] == 200, stderr[-2000:]
    assert answers["docs"][0] == 200, stderr[-2000:]
    assert "not collected; run collectstatic" in stderr


def test_a_malformed_proxy_header_setting_is_refused_by_name(tmp_path):
    env = production_env(tmp_path, DJANGO_SECURE_PROXY_SSL_HEADER="https")

    result = run("import django; django.setup()", env)

    assert result.returncode != 0
    assert "DJANGO_SECURE_PROXY_SSL_HEADER must look like" in result.stderr


LOG_REQUESTS = """
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="shop.example.com", HTTP_X_FORWARDED_PROTO="https")
response = client.get("/api/v1/customers/alice-liddell-42/export", HTTP_X_REQUEST_ID="req-123")
print("ANSWER", response.status_code, response["X-Request-ID"])
response = client.get("/no/such/page/alice-liddell-42")
print("ANSWER", response.status_code, response["X-Request-ID"])
"""


def test_logs_are_json_with_request_ids_and_no_customer_ids(proxied_env):
    result = run(LOG_REQUESTS, {**proxied_env, "LOG_LEVEL": "INFO"})

    answers = [line.split() for line in result.stdout.splitlines() if line.startswith("ANSWER")]
    assert answers[0] == ["ANSWER", "401", "req-123"]
    generated_id = answers[1][2]
    assert len(generated_id) == 32
    # Every log line is JSON (Python warnings, e.g. WhiteNoise's about the missing static folder, are not logs).
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines
    access = [line for line in lines if line["logger"] == "config.access"]
    assert [(a["request_id"], a["status"]) for a in access] == [("req-123", 401), (generated_id, 404)]
    assert access[0]["route"] == "api/v1/customers/<str:external_id>/export"
    warnings = [line for line in lines if line["logger"] == "django.request"]
    assert {w["request_id"] for w in warnings} == {"req-123", generated_id}
    assert "alice" not in result.stderr


def test_sentry_is_initialised_only_when_a_dsn_is_set(tmp_path):
    code = "import django; django.setup(); import sentry_sdk; print(sentry_sdk.get_client().is_active())"

    with_dsn = run(code, production_env(tmp_path, SENTRY_DSN="https://public@127.0.0.1:9/1"))
    without = run(code, production_env(tmp_path))

    assert with_dsn.stdout.strip() == "True", with_dsn.stderr
    assert without.stdout.strip() == "False", without.stderr


def test_procfile_runs_threaded_gunicorn_and_migrates_on_release():
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line and not line.startswith("#")
    )

    assert "--worker-class gthread" in procfile["web"]
    assert "--threads" in procfile["web"]
    assert "manage.py migrate --noinput" in procfile["release"]


def test_campaign_email_goes_out_by_smtp_unless_another_backend_is_named(tmp_path):
    show = "import django; django.setup(); from django.conf import settings; print(settings.EMAIL_BACKEND)"

    assert run(show, production_env(tmp_path)).stdout.strip() == "django.core.mail.backends.smtp.EmailBackend"
    named = production_env(tmp_path, EMAIL_BACKEND="anymail.backends.test.EmailBackend")
    assert run(show, named).stdout.strip() == "anymail.backends.test.EmailBackend"


READY = """
import json, django
django.setup()
from django.test import Client
response = Client(HTTP_HOST="shop.example.com", HTTP_X_FORWARDED_PROTO="https").get("/health/ready")
print(json.dumps([response.status_code, response.json()]))
"""


def test_ready_reports_static_files_never_collected_and_then_collected(proxied_env, tmp_path):
    static_root = tmp_path / "static"
    env = {**proxied_env, "DJANGO_STATIC_ROOT": str(static_root)}

    status, body = json.loads(run(READY, env).stdout.strip().splitlines()[-1])
    assert status == 200 and body["status"] == "degraded"
    assert body["checks"]["static_files"].startswith("error: static files are not collected")

    static_root.mkdir()
    (static_root / "staticfiles.json").write_text('{"paths": {}, "version": "1.1", "hash": ""}')
    status, body = json.loads(run(READY, env).stdout.strip().splitlines()[-1])
    assert (status, body["status"], body["checks"]["static_files"]) == (200, "ok", "ok")
