"""The one bulk writer for SQLite and PostgreSQL: row checks, inserts and upserts, plus the SQLite load helpers.

Every fast write path goes through here: the events API and the customer / product upserts (shop.services),
the importers (shop.importers), the demo shop (shop.demo.services) and the served-recommendation log
(recommender.serving.log). A value one of the databases would refuse, or store differently from the other, is
refused per row with a reason before any SQL runs, identically on both:

- a NUL character (U+0000) in any text, or in any string or key inside a JSON value (PostgreSQL cannot store it);
- an integer outside its column's range (PostgreSQL's, also applied on SQLite, which would store it);
- a number that is not finite, or a decimal with more digits than its column holds;
- a text longer than its column (PostgreSQL refuses it, SQLite keeps it whole);
- NULL in a column that does not take it.

Upserts merge `attributes` into the stored dict (a key sent replaces that key, keys not sent are kept), for
the API and the importers alike; the other fields sent replace their stored values.
"""

from __future__ import annotations

import fcntl
import math
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils import timezone
from tqdm import tqdm

NUL = "\x00"
# Rows per lookup query: stays under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 900
# PostgreSQL's wire protocol takes at most 65,535 parameters per statement (Django records no limit).
POSTGRES_MAX_PARAMS = 65_535
# Below this many rows, updating the indexes row by row costs less than rebuilding them.
DEFERRED_INDEX_MIN_ROWS = 50_000


# --- checks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one value cannot be stored: the field, a short code for reports, and a message for people."""

    field: str
    code: str
    message: str

    @property
    def key(self) -> str:
        """A report key such as `nul_character_in_name` or `out_of_range_quantity`."""
        return f"{self.code}_{self.field}"

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def has_nul(value: Any) -> bool:
    """A NUL character in a string, or in any string or key inside nested dicts and lists."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, Mapping):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(item) for item in value)
    obj = getattr(value, "obj", None)  # psycopg's Jsonb wrapper
    return obj is not None and has_nul(obj)


def integer_range(model_field: models.Field) -> tuple[int, int] | None:
    """The column's integer range on PostgreSQL, which SQLite is held to as well; None for other fields."""
    target = model_field.target_field if model_field.is_relation else model_field
    return BaseDatabaseOperations.integer_field_ranges.get(target.get_internal_type())


def _text_problems(name: str, max_length: int | None, values: Sequence) -> dict[int, Problem]:
    strings = [value for value in values if type(value) is str]
    # Fast path: one join and one max() answer for a whole column that is fine.
    nul = NUL in "".join(strings)
    too_long = max_length is not None and bool(strings) and max(map(len, strings)) > max_length
    if not nul and not too_long:
        return {}
    problems: dict[int, Problem] = {}
    for position, value in enumerate(values):
        if type(value) is not str:
            continue
        if NUL in value:
            problems[position] = Problem(name, "nul_character_in", "must not contain NUL characters (\\u0000)")
        elif max_length is not None and len(value) > max_length:
            problems[position] = Problem(name, "too_long", f"longer than {max_length} characters")
    return problems


def _integer_problems(name: str, bounds: tuple[int, int], values: Sequence) -> dict[int, Problem]:
    low, high = bounds
    numbers = [value for value in values if value is not None]
    if not numbers:
        return {}
    try:
        if low <= min(numbers) and max(numbers) <= high:
            return {}
    except TypeError:
        pass
    problems: dict[int, Problem] = {}
    for position, value in enumerate(values):
        if value is None:
            continue
        try:
            number = int(value)
            ok = number == value and low <= number <= high
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            problems[position] = Problem(name, "out_of_range", f"{value!r} is not an integer from {low} to {high}")
    return problems


def _numbers_within(values: Sequence, limit: float) -> bool:
    """Fast path for a numeric column: all finite and below `limit` in magnitude (checked in numpy)."""
    try:
        array = np.asarray([value for value in values if value is not None], dtype=float)
    except (TypeError, ValueError, OverflowError):
        return False
    return bool(np.isfinite(array).all() and (np.abs(array) < limit).all())


def _float_problems(name: str, values: Sequence) -> dict[int, Problem]:
    if _numbers_within(values, math.inf):
        return {}
    problems: dict[int, Problem] = {}
    for position, value in enumerate(values):
        if value is None:
            continue
        try:
            ok = math.isfinite(value)
        except TypeError:
            ok = False
        if not ok:
            problems[position] = Problem(name, "not_finite", f"{value!r} is not a finite number")
    return problems


def _decimal_problems(name: str, max_digits: int, decimal_places: int, values: Sequence) -> dict[int, Problem]:
    limit = Decimal(10) ** (max_digits - decimal_places)
    # Rounding to float cannot carry a value below 99.9 % of the limit over it.
    if _numbers_within(values, float(limit) * 0.999):
        return {}
    problems: dict[int, Problem] = {}
    for position, value in enumerate(values):
        if value is None:
            continue
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
            ok = number.is_finite() and abs(number.quantize(Decimal(1).scaleb(-decimal_places))) < limit
        except (InvalidOperation, ValueError, TypeError):
            ok = False
        if not ok:
            message = f"{value!r} does not fit {max_digits} digits with {decimal_places} after the point"
            problems[position] = Problem(name, "out_of_range", message)
    return problems


def _json_problems(name: str, values: Sequence) -> dict[int, Problem]:
    problems: dict[int, Problem] = {}
    for position, value in enumerate(values):
        # Text already dumped as JSON carries a NUL as the escape \u0000, which PostgreSQL's jsonb refuses too.
        bad = ("\\u0000" in value or NUL in value) if isinstance(value, str) else has_nul(value)
        if bad:
            problems[position] = Problem(name, "nul_character_in", "must not contain NUL characters (\\u0000)")
    return problems


def column_problems(model_field: models.Field, values: Sequence) -> dict[int, Problem]:
    """Problems of one column's values (by position) that either database would refuse or store differently."""
    name = model_field.name
    problems: dict[int, Problem] = {}
    if not model_field.null:
        for position, value in enumerate(values):
            if value is None:
                problems[position] = Problem(name, "missing", "must not be empty (null)")
    if isinstance(model_field, models.JSONField):
        found = _json_problems(name, values)
    elif (bounds := integer_range(model_field)) is not None:
        found = _integer_problems(name, bounds, values)
    elif isinstance(model_field, models.FloatField):
        found = _float_problems(name, values)
    elif isinstance(model_field, models.DecimalField):
        found = _decimal_problems(name, model_field.max_digits, model_field.decimal_places, values)
    elif isinstance(model_field, models.BooleanField):
        found = {}
    else:  # text, and dates already adapted to text for SQLite
        found = _text_problems(name, getattr(model_field, "max_length", None), values)
    for position, problem in found.items():
        problems.setdefault(position, problem)
    return problems


def row_problems(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence]) -> dict[int, Problem]:
    """The first problem of each bad row (by position in `rows`), checked column by column."""
    fields = [model._meta.get_field(name) for name in columns]
    problems: dict[int, Problem] = {}
    if not rows:
        return problems
    for model_field, values in zip(fields, zip(*rows, strict=True), strict=True):
        for position, problem in column_problems(model_field, values).items():
            problems.setdefault(position, problem)
    return problems


def value_problems(model: type[models.Model], values: Mapping[str, Any]) -> dict[str, Problem]:
    """Problems of one record's values, by field name."""
    problems: dict[str, Problem] = {}
    for name, value in values.items():
        found = column_problems(model._meta.get_field(name), [value])
        if found:
            problems[name] = found[0]
    return problems


# --- inserts --------------------------------------------------------------------------------------------


@dataclass
class InsertResult:
    """What insert_columns did: rows sent to the database, rows it stored, rows refused before any SQL."""

    written: int = 0
    inserted: int = 0
    rejected: dict[int, Problem] = field(default_factory=dict)


def insert_rows(
    model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence], **options: Any
) -> InsertResult:
    """insert_columns for rows given as tuples in the order of `columns`."""
    data = dict(zip(columns, zip(*rows, strict=True), strict=True)) if rows else dict.fromkeys(columns, ())
    return insert_columns(model, data, **options)


def insert_columns(
    model: type[models.Model],
    data: Mapping[str, Sequence],
    *,
    defaults: models.Model | None = None,
    ignore_conflicts: bool = False,
    conflict_fields: Sequence[str] = (),
    batch_size: int = 20_000,
    progress: bool = False,
    label: str = "rows",
) -> InsertResult:
    """INSERT the rows of `data` ({field name or attname: one value per row}) without model instances.

    Values are ready for the database (as `get_db_prep_save` would give them, dates as the caller's backend
    stores them) except JSON, which may be plain dicts and lists. Columns not given take their value from
    `defaults` (default: `model()`), prepared once the way the ORM would (defaults, auto_now_add), so a new
    model field needs no change in the callers. Rows with a value either database would refuse are left out
    and returned in `rejected` with the reason; the others are written. With `ignore_conflicts`, a row that
    breaks a unique constraint (on `conflict_fields`, or any) is skipped by the database, on both backends
    with the same ON CONFLICT DO NOTHING (never SQLite's INSERT OR IGNORE, which also skips CHECK failures).

    SQLite: one prepared statement stepped over every row. PostgreSQL: COPY when no conflict can arise,
    else multi-row VALUES (executemany there costs a round trip per row).
    """
    meta = model._meta
    given = {meta.get_field(name).attname: list(values) for name, values in data.items()}
    count = len(next(iter(given.values()))) if given else 0
    result = InsertResult()
    if count == 0:
        return result
    for name, values in given.items():
        if len(values) != count:
            raise ValueError(f"column {name} has {len(values)} values, expected {count}")
    fields = [f for f in meta.concrete_fields if not f.primary_key or f.attname in given]
    for name, values in given.items():
        for position, problem in column_problems(meta.get_field(name), values).items():
            result.rejected.setdefault(position, problem)

    template = defaults if defaults is not None else model()
    columns: list[Sequence | Iterable] = []
    for model_field in fields:
        values = given.get(model_field.attname)
        if values is None:
            fixed = model_field.get_db_prep_save(model_field.pre_save(template, add=True), connection)
            columns.append([fixed] * count)
        else:
            columns.append(_adapt(model_field, values))
    params = list(zip(*columns, strict=True))
    if result.rejected:
        params = [row for position, row in enumerate(params) if position not in result.rejected]

    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    names = ", ".join(quote(model_field.column) for model_field in fields)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = ""
    if ignore_conflicts:
        target = ", ".join(quote(meta.get_field(name).column) for name in conflict_fields)
        tail = f" ON CONFLICT {'(' + target + ') ' if target else ''}DO NOTHING"
    with (
        connection.cursor() as cursor,
        tqdm(total=len(params), desc=label, unit="rows", file=sys.stderr, disable=not progress) as bar,
    ):
        if connection.vendor == "postgresql" and not ignore_conflicts:
            sql = f"COPY {table} ({names}) FROM STDIN"
            # COPY goes to psycopg directly; log it as Django logs its own queries (debug log, query counts).
            logged = cursor.debug_sql(sql) if hasattr(cursor, "debug_sql") else nullcontext()
            with logged, cursor.cursor.copy(sql) as copy:
                for row in params:
                    copy.write_row(row)
            result.inserted = len(params)
            bar.update(len(params))
        elif connection.vendor == "postgresql":
            per_statement = max(1, min(batch_size, POSTGRES_MAX_PARAMS // len(fields)))
            for batch in _chunks(params, per_statement):
                sql = f"INSERT INTO {table} ({names}) VALUES " + ", ".join([placeholders] * len(batch)) + tail
                cursor.execute(sql, [value for row in batch for value in row])
                result.inserted += max(cursor.rowcount, 0)
                bar.update(len(batch))
        else:
            sql = f"INSERT INTO {table} ({names}) VALUES {placeholders}{tail}"
            for batch in _chunks(params, batch_size):
                cursor.executemany(sql, batch)
                result.inserted += max(cursor.rowcount, 0)
                bar.update(len(batch))
    result.written = len(params)
    return result


def _adapt(model_field: models.Field, values: list) -> list:
    if isinstance(model_field, models.JSONField):
        adapt_json = connection.ops.adapt_json_value
        return [adapt_json(value, model_field.encoder) if isinstance(value, dict | list) else value for value in values]
    if isinstance(model_field, models.DateTimeField) and connection.vendor == "sqlite":
        adapt = connection.ops.adapt_datetimefield_value
        return [adapt(value) if hasattr(value, "tzinfo") else value for value in values]
    return values


def _chunks(values: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- upserts --------------------------------------------------------------------------------------------


@dataclass
class UpsertResult:
    """Each record's object by key (rejected ones left out), which keys were created or updated, and why the
    rejected ones were refused ({key: {field: message}})."""

    objects: dict[Any, models.Model] = field(default_factory=dict)
    created: set = field(default_factory=set)
    updated: set = field(default_factory=set)
    rejected: dict[Any, dict[str, str]] = field(default_factory=dict)


def merge_attributes(stored: Any, given: Any) -> Any:
    """`attributes` sent are merged into the stored ones: a key sent replaces that key, keys not sent stay."""
    if isinstance(stored, dict) and isinstance(given, dict):
        return {**stored, **given}
    return given


def upsert_by_key(
    model: type[models.Model],
    *,
    key: str,
    records: Mapping[Any, Mapping[str, Any]],
    stamps: Mapping[str, str] | None = None,
    validate: Callable[[models.Model], None] | None = None,
    batch_size: int = 1000,
) -> UpsertResult:
    """Create the records whose key is new and update the fields that differ on the others: one read per 900
    keys, one bulk INSERT, one bulk UPDATE. Fields not in a record keep their stored values.

    `attributes` merge (merge_attributes). `stamps` ({field: time field}) set the time field to now when the
    field is first given or changes (consent is evidence: when it changed matters). A record with a value either
    database would refuse, or that `validate` (e.g. `clean_fields`) refuses, is not written and is returned in
    `rejected` with its reasons; the others are.
    """
    stamps = stamps or {}
    now = timezone.now()
    result = UpsertResult()
    keys = list(records)
    # A key the database cannot even compare (a NUL character on PostgreSQL) is refused before the lookup.
    for position, problem in column_problems(model._meta.get_field(key), keys).items():
        result.rejected[keys[position]] = {key: problem.message}
    keys = [record_key for record_key in keys if record_key not in result.rejected]
    existing: dict[Any, models.Model] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        existing.update(model.objects.in_bulk(keys[start : start + LOOKUP_CHUNK], field_name=key))
    # First what would change on each record, then the checks column by column (one call per field, not per value).
    planned: list[tuple[Any, models.Model, bool, dict[str, Any]]] = []
    attnames = {name: model._meta.get_field(name).attname for values in records.values() for name in values}
    for record_key in keys:
        obj = existing.get(record_key)
        adding = obj is None
        if obj is None:
            obj = model(**{key: record_key})
        changed: dict[str, Any] = {}
        for name, value in records[record_key].items():
            stored = getattr(obj, attnames[name])
            if name == "attributes":
                value = merge_attributes(stored, value)
            if adding or stored != value:
                changed[attnames[name]] = value
                if name in stamps:
                    changed[stamps[name]] = now
        planned.append((record_key, obj, adding, changed))
    problems: dict[Any, dict[str, str]] = {}
    for attname in {attname for _, _, _, changed in planned for attname in changed}:
        owners = [(record_key, changed[attname]) for record_key, _, _, changed in planned if attname in changed]
        found = column_problems(model._meta.get_field(attname), [value for _, value in owners])
        for position, problem in found.items():
            problems.setdefault(owners[position][0], {})[problem.field] = problem.message

    to_create: list[models.Model] = []
    to_update: list[models.Model] = []
    changed_fields: set[str] = set()
    for record_key, obj, adding, changed in planned:
        for attname, value in changed.items():
            setattr(obj, attname, value)
        if record_key not in problems and validate is not None:
            try:
                validate(obj)
            except ValidationError as error:
                problems[record_key] = {name: " ".join(messages) for name, messages in error.message_dict.items()}
        if record_key in problems:
            result.rejected[record_key] = problems[record_key]
            continue
        result.objects[record_key] = obj
        if adding:
            to_create.append(obj)
        elif changed:
            to_update.append(obj)
            changed_fields.update(changed)
    model.objects.bulk_create(to_create, batch_size=batch_size)
    if to_update:
        for obj in to_update:
            obj.updated_at = now
        update_fields = sorted(changed_fields | ({"updated_at"} if hasattr(model, "updated_at") else set()))
        model.objects.bulk_update(to_update, update_fields, batch_size=500)
    result.created = {getattr(obj, key) for obj in to_create}
    result.updated = {getattr(obj, key) for obj in to_update}
    return result


# --- SQLite load helpers (no-ops elsewhere) ----------------------------------------------------------------


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
    if getattr(_writer_turn, "held", False):  # a caller holds the turn around a service that takes it too
        yield
        return
    with open(f"{name}.writer-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        _writer_turn.held = True
        try:
            yield
        finally:
            _writer_turn.held = False
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def holds_sqlite_writer_turn() -> bool:
    """Whether this thread is inside sqlite_writer_turn on a SQLite file: its transaction has the database's
    writes to itself, so no concurrent writer can conflict with it."""
    return getattr(_writer_turn, "held", False)


# Per thread: a second flock on a new file description would wait for this thread's own lock forever.
_writer_turn = threading.local()
