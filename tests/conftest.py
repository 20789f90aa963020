"""Shared fixtures."""

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from shop.models import ApiClient, hash_api_key

DATASETS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
ML100K_DIR = DATASETS_DIR / "ml-100k"
ONLINE_RETAIL_FILE = DATASETS_DIR / "online-retail" / "OnlineRetail.csv.gz"


def require_dataset(path: Path) -> Path:
    """Skip (with the reason) when a shared data set is not beside the project."""
    if not path.exists():
        pytest.skip(f"shared data set not found at {path} (see ../shared/datasets/README.md)")
    return path


@pytest.fixture
def ml100k_dir() -> Path:
    return require_dataset(ML100K_DIR)


@pytest.fixture
def online_retail_file() -> Path:
    return require_dataset(ONLINE_RETAIL_FILE)


@pytest.fixture(scope="session", autouse=True)
def _no_stray_sessions_at_teardown(django_db_setup, django_db_blocker):
    """Before this worker's PostgreSQL test database is dropped, end any other session still connected to it
    (an idle connection left by a background thread of the code under test), so that the drop succeeds and the
    shared server is left as it was found. The tests of the threads we know of close their connections; this
    catches any other."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api_key(db) -> str:
    raw = ApiClient.generate_key()
    ApiClient.objects.create(name="test-frontend", key_prefix=raw[:8], key_hash=hash_api_key(raw))
    return raw


@pytest.fixture
def api_client(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()
