"""Large SQLite loads: plain indexes dropped and rebuilt around the load, unique ones kept, only in a transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from shop.bulk import sqlite_indexes_deferred, sqlite_page_cache
from shop.demo import services as demo_services
from shop.demo.services import generate_demo_data
from shop.models import Interaction

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")

UNIQUE_INDEX = "interaction_event_order_uniq_test"


def indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
            [Interaction._meta.db_table],
        )
        return dict(cursor.fetchall())


@pytest.fixture
def unique_index():
    """A unique index created by CREATE UNIQUE INDEX (as a UniqueConstraint would be), dropped with the test."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE UNIQUE INDEX "{UNIQUE_INDEX}" ON "shop_interaction" ("event_id", "order_ref")')


def dropped(queries) -> set[str]:
    return {q["sql"].split('"')[1] for q in queries if q["sql"].startswith("DROP INDEX")}


@pytest.mark.django_db
def test_plain_indexes_are_rebuilt_after_a_large_load_and_unique_ones_stay(unique_index):
    before = indexes()

    with transaction.atomic(), sqlite_indexes_deferred(Interaction, rows=100_000):
        during = indexes()

    assert set(during) == {UNIQUE_INDEX}
    assert indexes() == before and "interaction_kind_time_idx" in before


@pytest.mark.django_db
def test_a_small_load_keeps_every_index():
    before = indexes()

    with transaction.atomic(), sqlite_indexes_deferred(Interaction, rows=10):
        assert indexes() == before


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_no_index_is_dropped():
    before = indexes()

    with sqlite_indexes_deferred(Interaction, rows=1_000_000):
        assert indexes() == before


@pytest.mark.django_db
def test_the_page_cache_is_restored():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        with sqlite_page_cache(megabytes=64):
            cursor.execute("PRAGMA cache_size")
            assert cursor.fetchone() == (-64 * 1024,)
        cursor.execute("PRAGMA cache_size")
        assert cursor.fetchone() == (previous,)


@pytest.mark.django_db
def test_the_demo_load_defers_the_same_indexes_and_keeps_unique_ones(unique_index, monkeypatch):
    monkeypatch.setattr(demo_services, "BULK_LOAD_INDEX_THRESHOLD", 1)
    before = indexes()

    with CaptureQueriesContext(connection) as queries:
        generate_demo_data(customers=20, seed=3)

    assert "interaction_kind_time_idx" in dropped(queries)
    assert UNIQUE_INDEX not in dropped(queries)
    assert indexes() == before
    assert Interaction.objects.exists()


def test_sqlite_writer_turn_holds_an_exclusive_lock_beside_a_file_database(tmp_path, monkeypatch):
    import fcntl

    from django.db import connection

    from shop.bulk import sqlite_writer_turn

    database = tmp_path / "shop.sqlite3"
    monkeypatch.setitem(connection.settings_dict, "NAME", str(database))
    with sqlite_writer_turn(), open(f"{database}.writer-lock", "a") as other_writer, pytest.raises(BlockingIOError):
        fcntl.flock(other_writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(f"{database}.writer-lock", "a") as next_writer:
        fcntl.flock(next_writer, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released once the turn is over
