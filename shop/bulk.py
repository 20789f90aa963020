"""Large loads into SQLite (importers, the demo shop): a bigger page cache, and plain indexes built once at the end.

Each is a no-op on other databases. Both are used by shop.importers.common.insert_interactions and by
shop.demo.services.write_demo_shop; keep one copy here.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models

# Below this many rows, updating the indexes row by row costs less than rebuilding them.
DEFERRED_INDEX_MIN_ROWS = 50_000


@contextmanager
def sqlite_page_cache(megabytes: int = 256) -> Iterator[None]:
    """A large page cache while bulk writing to SQLite: its 2 MB default turns index updates into disk reads."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = -{int(megabytes) * 1024}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {previous}")


@contextmanager
def sqlite_indexes_deferred(
    model: type[models.Model], *, rows: int, min_rows: int = DEFERRED_INDEX_MIN_ROWS
) -> Iterator[None]:
    """On SQLite, for a load as large as the table, drop its plain indexes and rebuild them after the inserts.

    Millions of inserts update every secondary index at random places; building an index once from the finished
    table is one sort. Only inside a transaction: DDL is transactional in SQLite, so a failure rolls the indexes
    back with the rows, and other connections keep reading the committed state. Unique indexes always stay:
    ON CONFLICT (event_id) needs them during the load, and they keep duplicates out as rows go in. Indexes behind
    UNIQUE / PRIMARY KEY columns have no SQL in sqlite_master and are never touched.
    """
    if connection.vendor != "sqlite" or rows < min_rows or not connection.in_atomic_block:
        yield
        return
    quote = connection.ops.quote_name
    table = model._meta.db_table
    indexes: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        # MAX(id) answers from the primary key; COUNT(*) would scan the table.
        cursor.execute(f"SELECT COALESCE(MAX({quote(model._meta.pk.column)}), 0) FROM {quote(table)}")
        if cursor.fetchone()[0] <= rows:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                [table],
            )
            indexes = [(name, sql) for name, sql in cursor.fetchall() if not _is_unique(sql)]
            for name, _sql in indexes:
                cursor.execute(f"DROP INDEX {quote(name)}")
    yield
    if not indexes:
        return
    with connection.cursor() as cursor:
        for _name, sql in indexes:
            cursor.execute(sql)


def _is_unique(sql: str) -> bool:
    return " ".join(sql.split()).upper().startswith("CREATE UNIQUE")


@contextmanager
def sqlite_writer_turn() -> Iterator[None]:
    """On SQLite, wait for this process's turn to write by a blocking file lock beside the database.

    SQLite lets one writer in at a time; the others poll with growing sleeps (up to 100 ms) and so sit idle
    after the lock is free. A kernel lock wakes the next web worker the moment the previous one commits.
    No-op on other databases and on in-memory SQLite.
    """
    name = str(connection.settings_dict.get("NAME") or "")
    if connection.vendor != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
        yield
        return
    with open(f"{name}.writer-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
