"""Settings shared by every environment; every deploy-specific value comes from the environment."""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "axes",
    "corsheaders",
    "shop",
    "segments",
    "recommender",
    "marketing",
]

MIDDLEWARE = [
    # First: every log line written while serving a request carries its id (X-Request-ID).
    "config.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before CommonMiddleware, as django-cors-headers asks: answers the shop's preflights, adds the headers.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before CommonMiddleware (Django's order): the language from the switch or Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
]

# --- Login brute-force protection (django-axes) ---------------------------------------------
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# A username is locked for one address after 5 failures, for 15 minutes (staff can unlock in admin / axes_reset).
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Behind a reverse proxy, the number of proxies whose X-Forwarded-For entries to trust (0: use REMOTE_ADDR).
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("AXES_PROXY_COUNT", "0")) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if os.environ.get("AXES_PROXY_COUNT") else ["REMOTE_ADDR"]
)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite file by default (the embedded mode); DATABASE_URL switches to PostgreSQL.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets API writes and background reads proceed together; a busy timeout instead of "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The interface in English and Simplified Chinese: the browser's Accept-Language, or the switch in the page header.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
# Browser libraries pinned in package.json / package-lock.json (`make assets` installs them; no CDN, the
# product works offline), served under their own prefixes, e.g. {% static "vendor/chartjs/chart.umd.min.js" %}.
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    ("vendor/chartjs", NODE_MODULES / "chart.js" / "dist"),
    ("vendor/chartjs-chart-matrix", NODE_MODULES / "chartjs-chart-matrix" / "dist"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/axe-core", NODE_MODULES / "axe-core"),
]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))
# Model artifacts and uploaded import files: local files under MEDIA_ROOT, or, with DJANGO_STORAGE_BUCKET set, an
# S3-compatible bucket (AWS S3, MinIO, Ceph, R2) through django-storages, so every web and worker machine sees
# the same files. Credentials come from the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an instance role).
STORAGE_BUCKET = os.environ.get("DJANGO_STORAGE_BUCKET", "")
if STORAGE_BUCKET:
    FILE_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": STORAGE_BUCKET,
            "endpoint_url": os.environ.get("DJANGO_STORAGE_ENDPOINT_URL") or None,  # MinIO, R2...: their URL
            "region_name": os.environ.get("DJANGO_STORAGE_REGION") or None,
            "location": os.environ.get("DJANGO_STORAGE_PREFIX", ""),  # a folder inside the bucket
            # A stored model is never replaced under its name: its recorded checksum must keep matching.
            "file_overwrite": False,
            "default_acl": None,  # the bucket's own (private) policy
        },
    }
else:
    FILE_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": FILE_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Admin uploads of large import files are streamed to disk, not held in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- The shop's browser client (shop/static/shop/shop-client.js) --------------------------------
# Shop origins allowed to call the API from a browser, e.g. "https://shop.example.com" (CORS, and the
# origin check of browser keys: a key holding only the public scopes is refused from any other origin).
CORS_ALLOWED_ORIGINS = env_list("SHOP_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/v1/.*$"
CORS_ALLOW_HEADERS = ["accept", "content-type", "authorization", "x-api-key", "x-request-id"]
CORS_ALLOW_CREDENTIALS = False
# The demo storefront under /shop/: served with DEBUG on (make demo), or with DEMO_STOREFRONT=1.
DEMO_STOREFRONT = env_bool("DEMO_STOREFRONT", False)

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "shop.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["shop.api.permissions.IsApiClientOrStaff"],
    "DEFAULT_THROTTLE_CLASSES": ["shop.api.throttling.ApiKeyRateThrottle"],
    # One counter per caller across every endpoint: an API client (its own rate if set) or a staff session.
    "DEFAULT_THROTTLE_RATES": {
        "api_key": os.environ.get("API_THROTTLE_RATE", "6000/minute"),
        "staff": os.environ.get("API_STAFF_THROTTLE_RATE", "600/minute"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # orjson: faster, and a deeply nested body is a 400 rather than a RecursionError.
    "DEFAULT_PARSER_CLASSES": ["shop.api.fastjson.ORJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "shop.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Segments, recommendations and campaigns API",
    "DESCRIPTION": (
        "Events in, segments, recommendations and offers out. Authenticate with `Authorization: Api-Key <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema and its docs are public; the operations they describe are not.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Documents the answers every API operation can give (401/403/429, 400, 404) where a view did not.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "shop.api.schema.document_api_answers",
    ],
}

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------
# With no broker configured every task runs eagerly in-process: the embedded default.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or "django-db")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "3600"))
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "3300"))
CELERY_TASK_ACKS_LATE = True
# With late acks Redis re-delivers a task not acknowledged within this time: keep it above the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Queuing fails fast with the broker down (one attempt, see config.jobs): seconds to wait for a connection.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "2"))
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = CELERY_BROKER_CONNECTION_TIMEOUT
# A running job beats every TASK_HEARTBEAT_SECONDS; one silent for TASK_LEASE_SECONDS lost its worker and is
# marked failed by the reaper, a beat task every TASK_REAPER_SECONDS (and a check whenever a run is queued).
TASK_HEARTBEAT_SECONDS = float(os.environ.get("TASK_HEARTBEAT_SECONDS", "15"))
TASK_LEASE_SECONDS = int(os.environ.get("TASK_LEASE_SECONDS", "60"))
TASK_REAPER_SECONDS = float(os.environ.get("TASK_REAPER_SECONDS", "30"))
# /health/ready reports the workers as missing when none answers a ping within this many seconds.
HEALTH_WORKER_PING_TIMEOUT = float(os.environ.get("HEALTH_WORKER_PING_TIMEOUT", "1"))
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "shop.tasks.*": {"queue": "imports"},
    "segments.tasks.*": {"queue": "ml"},
    "recommender.tasks.*": {"queue": "ml"},
    "marketing.tasks.*": {"queue": "marketing"},
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Product settings -----------------------------------------------------------------------
IMPORT_BATCH_SIZE = int(os.environ.get("IMPORT_BATCH_SIZE", "5000"))
# CSV width: a file with more columns is refused before its rows are read; a row with a longer cell is skipped.
IMPORT_MAX_COLUMNS = int(os.environ.get("IMPORT_MAX_COLUMNS", "200"))
IMPORT_MAX_FIELD_CHARS = int(os.environ.get("IMPORT_MAX_FIELD_CHARS", str(64 * 1024)))
EVENTS_MAX_BATCH = 1000
# Largest API request body (413 above it), and the size of a customer's or product's free-form attributes.
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(10 * 1024 * 1024)))
ATTRIBUTES_MAX_KEYS = 100
ATTRIBUTES_MAX_BYTES = 8192
# A segmentation run taking longer is stopped and marked failed; the previous active run stays.
SEGMENTS_RUN_TIME_LIMIT = int(os.environ.get("SEGMENTS_RUN_TIME_LIMIT", "1800"))
RECOMMENDER_TRAIN_TIME_LIMIT = int(os.environ.get("RECOMMENDER_TRAIN_TIME_LIMIT", "3600"))
# A new model serves only if its offline nDCG@10 is at most this much below the active model's.
RECOMMENDER_PROMOTION_TOLERANCE = float(os.environ.get("RECOMMENDER_PROMOTION_TOLERANCE", "0.01"))
# What a customer did with a product that keeps it out of their recommendations.
RECOMMENDER_EXCLUDE_KINDS = tuple(env_list("RECOMMENDER_EXCLUDE_KINDS", "purchase"))
# At most this many recommendations from one category in an answer (None: no cap).
RECOMMENDER_MAX_PER_CATEGORY = (
    int(os.environ["RECOMMENDER_MAX_PER_CATEGORY"]) if os.environ.get("RECOMMENDER_MAX_PER_CATEGORY") else None
)

# --- Campaigns (marketing) ------------------------------------------------------------------
# E-mail: SMTP when EMAIL_HOST is set (or any backend named in EMAIL_BACKEND, e.g. django-anymail's), else files
# in EMAIL_FILE_PATH (the demo: each sent message is a file to open). Tests use locmem.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(MEDIA_ROOT / "outbox"))
MARKETING_FROM_EMAIL = os.environ.get("MARKETING_FROM_EMAIL", "Shop <news@shop.example.com>")
# Tracking links (open pixel, click redirect, unsubscribe) point here: this server as customers reach it.
MARKETING_BASE_URL = os.environ.get("MARKETING_BASE_URL", "http://127.0.0.1:8000")
MARKETING_PRODUCT_URL = os.environ.get("MARKETING_PRODUCT_URL", "https://shop.example.com/products/{sku}")
MARKETING_PRODUCT_IMAGE_URL = os.environ.get("MARKETING_PRODUCT_IMAGE_URL", "https://shop.example.com/images/{sku}.jpg")
MARKETING_FREQUENCY_CAP = int(os.environ.get("MARKETING_FREQUENCY_CAP", "3"))
MARKETING_FREQUENCY_DAYS = int(os.environ.get("MARKETING_FREQUENCY_DAYS", "7"))
MARKETING_QUIET_HOURS = os.environ.get("MARKETING_QUIET_HOURS", "21-8")
MARKETING_QUIET_HOURS_CHANNELS = tuple(env_list("MARKETING_QUIET_HOURS_CHANNELS", "sms,push"))
MARKETING_SEND_BATCH = int(os.environ.get("MARKETING_SEND_BATCH", "200"))
MARKETING_SEND_RATE = float(os.environ.get("MARKETING_SEND_RATE", "0"))
if os.environ.get("MARKETING_BUILD_PROCESSES"):
    MARKETING_BUILD_PROCESSES = int(os.environ["MARKETING_BUILD_PROCESSES"])
MARKETING_BUILD_PARALLEL_MIN = int(os.environ.get("MARKETING_BUILD_PARALLEL_MIN", "5000"))
MARKETING_WEBHOOK_URL = os.environ.get("MARKETING_WEBHOOK_URL", "")
MARKETING_WEBHOOK_SECRET = os.environ.get("MARKETING_WEBHOOK_SECRET", "")
CELERY_BEAT_SCHEDULE = {
    "launch due campaigns": {"task": "marketing.tasks.launch_due_campaigns", "schedule": 60.0},
    "resume stalled campaign sends": {"task": "marketing.tasks.resume_stalled_sends", "schedule": 300.0},
    "complete finished campaigns": {"task": "marketing.tasks.complete_finished_campaigns", "schedule": 3600.0},
    "attribute campaign purchases": {
        "task": "marketing.attribution_tasks.attribute_recent_purchases",
        "schedule": float(os.environ.get("MARKETING_ATTRIBUTION_SECONDS", "900")),
        "options": {"queue": "marketing"},
    },
    # Adaptive campaigns: each due wave is shared among the variants by the conversions so far, then sent.
    "release adaptive campaign waves": {
        "task": "marketing.wave_tasks.release_due_waves",
        "schedule": float(os.environ.get("MARKETING_WAVE_SECONDS", "300")),
        "options": {"queue": "marketing"},
    },
    # The dashboard's counts per day: topped up with the rows added since (they are also topped up on read), and
    # rebuilt nightly, which corrects them after erasures and rows committed late under a lower id.
    "refresh daily counts": {"task": "shop.tasks.refresh_daily_counts", "schedule": 300.0},
    "rebuild daily counts": {
        "task": "shop.tasks.refresh_daily_counts",
        "schedule": crontab(hour=2, minute=30),
        "kwargs": {"rebuild": True},
    },
}
# Segmentation, retraining and the triggered-campaign check are database schedules (segments migration 0003) that
# staff edit on the staff site's Schedules page.
# Task modules outside an app's tasks.py (autodiscovery finds only those).
CELERY_IMPORTS = ["marketing.attribution_tasks", "marketing.trigger_tasks", "marketing.wave_tasks"]
