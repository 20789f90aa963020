"""What every importer shares: the report, reading tables with line numbers, event ids, batched writes.

Importers parse and validate with vectorised pandas, then write through the one bulk writer (shop.bulk) in a few
large batches inside one transaction. A file that cannot be read at all fails with a ValidationError naming the file
and the problem; a bad row is skipped with its line number and reason and the others are imported, the same way on
SQLite and PostgreSQL (the bulk writer refuses per row what either database would refuse).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.utils import timezone

from shop import bulk
from shop.bulk import LOOKUP_CHUNK, sqlite_indexes_deferred, sqlite_page_cache
from shop.models import Interaction
from shop.services import EARLIEST_YEAR, MAX_CLOCK_SKEW

# How many line numbers the report keeps for each skip reason.
EXAMPLE_LINES = 10
# Text has few control characters (a NUL in a cell is a bad row, not a bad file); random bytes read as latin-1
# have about 24 %. Above this share of its first characters, a file is binary.
BINARY_CONTROL_SHARE = 0.10
NUL = "\x00"
ALREADY_IMPORTED = "already_imported"
UNCHANGED = "unchanged"


@dataclass
class ImportReport:
    """What an import did: rows read, imported, skipped by reason (with the first line numbers of each)."""

    kind: str
    source: str
    rows_read: int = 0
    imported: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_lines: dict[str, list] = field(default_factory=dict)
    # Exact duplicate rows found in the file (each counted once per extra copy), whatever else was wrong with them.
    duplicates: int = 0
    # Rows written per model: {"customers": {"created": 3, "updated": 1}, ...}.
    objects: dict[str, dict[str, int]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    _started: float = field(default_factory=time.perf_counter, repr=False)
    _cpu_started: float = field(default_factory=time.process_time, repr=False)

    def skip(self, reason: str, lines: Iterable) -> None:
        lines = list(lines)
        if not lines:
            return
        self.skipped[reason] += len(lines)
        examples = self.skipped_lines.setdefault(reason, [])
        examples.extend(_plain(line) for line in lines[: EXAMPLE_LINES - len(examples)])

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a step of the import (kept in details["stage_seconds"] to see where the time goes)."""
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            for key, elapsed in (
                ("stage_seconds", time.perf_counter() - start),
                ("stage_cpu_seconds", time.process_time() - cpu_start),
            ):
                stages = self.details.setdefault(key, {})
                stages[name] = round(stages.get(name, 0.0) + elapsed, 3)

    def count_objects(self, name: str, *, created: int = 0, updated: int = 0) -> None:
        counts = self.objects.setdefault(name, {"created": 0, "updated": 0})
        counts["created"] += created
        counts["updated"] += updated

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def accounted(self) -> bool:
        """Every row read is either imported or skipped with a reason."""
        return self.imported + self.skipped_total == self.rows_read

    def finish(self) -> ImportReport:
        self.seconds = round(time.perf_counter() - self._started, 3)
        # Wall time depends on what else the machine runs; CPU time is this import's own cost.
        self.cpu_seconds = round(time.process_time() - self._cpu_started, 3)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "rows_read": self.rows_read,
            "imported": self.imported,
            "skipped": self.skipped_total,
            "skipped_by_reason": dict(sorted(self.skipped.items())),
            "skipped_lines": {reason: self.skipped_lines[reason] for reason in sorted(self.skipped_lines)},
            "duplicates": self.duplicates,
            "accounted": self.accounted,
            "objects": self.objects,
            "details": self.details,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_seconds,
        }

    def summary(self) -> str:
        lines = [
            f"{self.kind} import of {self.source}",
            f"  rows read:  {self.rows_read:>10,}",
            f"  imported:   {self.imported:>10,}",
            f"  skipped:    {self.skipped_total:>10,}",
        ]
        for reason, count in sorted(self.skipped.items(), key=lambda item: -item[1]):
            where = ", ".join(str(line) for line in self.skipped_lines.get(reason, []))
            more = ", ..." if count > len(self.skipped_lines.get(reason, [])) else ""
            lines.append(f"    {reason.replace('_', ' '):<32} {count:>10,}   (lines {where}{more})")
        if self.duplicates:
            lines.append(f"  exact duplicate rows in the file: {self.duplicates:,}")
        for name, counts in self.objects.items():
            lines.append(f"  {name}: {counts['created']:,} created, {counts['updated']:,} updated")
        lines.append(f"  took {self.seconds:.1f} s ({self.cpu_seconds:.1f} s of CPU)")
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class Reasons:
    """The first reason that applies to each row wins; rows with no reason are valid."""

    def __init__(self, index: pd.Index):
        self.reason = pd.Series("", index=index, dtype=object)
        self._valid = np.ones(len(index), dtype=bool)

    def flag(self, mask: pd.Series, reason: str) -> None:
        if mask.dtype != bool:
            mask = mask.fillna(True).astype(bool)
        hit = self._valid & mask.to_numpy()
        if hit.any():
            self.reason.iloc[np.flatnonzero(hit)] = reason
            self._valid &= ~hit

    @property
    def valid(self) -> pd.Series:
        return pd.Series(self._valid.copy(), index=self.reason.index)

    def report_to(self, report: ImportReport, lines: pd.Series) -> None:
        skipped = self.reason[self.reason != ""]
        # Reasons in the order they were flagged, each with its lines in file order.
        for reason in dict.fromkeys(skipped):
            report.skip(reason, lines[skipped.index[skipped == reason]])


# --- reading ------------------------------------------------------------------------------------------------


@dataclass
class Table:
    """A file's rows as strings ("" when empty), with the line (or sheet:row) each came from."""

    frame: pd.DataFrame
    lines: pd.Series

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)


def read_table(path: Path, *, report: ImportReport, sep: str = ",") -> Table:
    """Read a .csv, .csv.gz, .tsv or .xlsx file.

    A file that cannot be read at all (missing, a directory, corrupt or truncated gzip, not a workbook, binary,
    a header that repeats a column) raises a ValidationError naming the file and the problem. Rows that cannot
    be read (wrong number of fields, an unterminated quote, a NUL character) are skipped and reported with their
    line numbers. UTF-8, UTF-16 (by its byte-order mark or its zero bytes) and latin-1 text are read.
    """
    path = Path(path)
    if not path.exists():
        raise ValidationError(f"{path}: no such file")
    if not path.is_file():
        raise ValidationError(f"{path} is not a file (a directory?): give the path of the file to import")
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        table = _read_xlsx(path, report=report)
        table = _drop_rows_with_long_fields(table, report=report)
        return _drop_rows_with_nul(table, report=report, name=path.name)
    return read_delimited_bytes(_read_bytes(path), name=path.name, report=report, sep=sep)


def read_delimited_bytes(raw: bytes, *, name: str, report: ImportReport, sep: str = ",") -> Table:
    """The rows of a CSV (or other delimited) file's content, read as `read_table` reads a file: an uploaded
    list gets the same rules (encodings, one clear error for an unreadable file, bad lines skipped and reported
    with their numbers, an unterminated quote never swallowing the lines after it)."""
    text, encoding = _decode(raw, name=name)
    report.details["encoding"] = encoding
    table = _read_delimited(text, sep=sep, report=report, name=name)
    if len(text) > settings.IMPORT_MAX_FIELD_CHARS:  # else no cell can be that long
        table = _drop_rows_with_long_fields(table, report=report)
    if NUL not in text:  # one scan of the text spares a look at every cell
        return table
    return _drop_rows_with_nul(table, report=report, name=name)


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            magic = handle.read(2)
        if magic != b"\x1f\x8b":
            return path.read_bytes()
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ValidationError(
            f"{path.name} is a corrupt or truncated gzip file ({error or type(error).__name__})"
        ) from error
    except OSError as error:
        raise ValidationError(f"{path.name} cannot be read: {error.strerror or error}") from error


def _decode(raw: bytes, *, name: str) -> tuple[str, str]:
    """The file's text and the encoding it was read in."""
    encoding = _utf16_encoding(raw)
    if encoding:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise ValidationError(
                f"{name} looks UTF-16 encoded but is not valid UTF-16 ({error.reason} at byte "
                f"{error.start}): save it as UTF-8"
            ) from error
        return text.removeprefix("\ufeff"), "utf-16"
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        # Exports from spreadsheet tools are often Windows-1252 / latin-1.
        text, encoding = raw.decode("latin-1"), "latin-1"
    sample = text[:65_536]
    controls = sum(1 for ch in sample if (ch < " " and ch not in "\t\n\r") or "\x7f" <= ch <= "\x9f")
    if controls >= 8 and controls > BINARY_CONTROL_SHARE * len(sample):
        raise ValidationError(
            f"{name} is not a text (CSV) file: {controls:,} control characters in its first {len(sample):,} "
            "(a binary file, or a compressed one with the wrong name?)"
        )
    return text, encoding


def _utf16_encoding(raw: bytes) -> str | None:
    """'utf-16' for a byte-order mark, 'utf-16-le' / '-be' for text whose every other byte is zero."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = raw[:4096]
    if len(sample) < 4:
        return None
    pairs = len(sample) // 2
    odd_zeros, even_zeros = sample[1::2].count(0), sample[0::2].count(0)
    if odd_zeros > 0.9 * pairs and even_zeros < 0.1 * pairs:
        return "utf-16-le"
    if even_zeros > 0.9 * pairs and odd_zeros < 0.1 * pairs:
        return "utf-16-be"
    return None


def _read_delimited(text: str, *, sep: str, report: ImportReport, name: str) -> Table:
    if not text.strip():
        raise ValidationError(f"{name}: the file is empty")
    # A bare carriage return ends a line, as in the csv module; in an unquoted cell it used to abort the read.
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    header = _header(text, sep=sep, name=name)
    frame = None
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=object, keep_default_na=False, skip_blank_lines=False, quotechar='"'
        )
    except (pd.errors.ParserError, csv.Error, ValueError, OverflowError):
        frame = None
    # With blank lines kept, each physical line after the header is one row, unless a quoted cell spans lines.
    physical_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if frame is not None and physical_lines == len(frame) + 1 and len(frame.columns) == len(header):
        frame.columns = header
        lines = pd.Series(np.arange(2, len(frame) + 2), index=frame.index)
        return _drop_blank_rows(Table(frame=frame, lines=lines))
    return _read_delimited_exactly(text, header=header, sep=sep, report=report)


def _header(text: str, *, sep: str, name: str) -> list[str]:
    """The first line's column names; a repeated name is refused (which column would be meant?)."""
    first = text.split("\n", 1)[0]
    try:
        header = [column.strip() for column in next(csv.reader([first], delimiter=sep))]
    except (csv.Error, StopIteration) as error:
        raise ValidationError(f"{name}: the header line cannot be read ({error})") from error
    if NUL in first:
        raise ValidationError(f"{name}: the header line contains a NUL character (is the file binary?)")
    _check_width(len(header), name=name)
    repeated = sorted(column for column, count in Counter(header).items() if count > 1 and column)
    if repeated:
        raise ValidationError(
            f"{name}: column name(s) repeated in the header: {', '.join(repr(c) for c in repeated[:10])}; "
            "rename or remove the extra column(s)"
        )
    return header


def _check_width(columns: int, *, name: str) -> None:
    """A file wider than any import needs is refused before its rows are read (a million columns would take
    minutes and gigabytes to parse)."""
    limit = settings.IMPORT_MAX_COLUMNS
    if columns > limit:
        raise ValidationError(
            f"{name}: {columns:,} columns in the header, more than the {limit:,} an import reads "
            "(IMPORT_MAX_COLUMNS); remove the columns not imported"
        )


def _drop_rows_with_long_fields(table: Table, *, report: ImportReport) -> Table:
    """Rows with a cell longer than IMPORT_MAX_FIELD_CHARS are skipped as `field_too_long`."""
    frame = table.frame
    if frame.empty:
        return table
    limit = settings.IMPORT_MAX_FIELD_CHARS
    hit = np.zeros(len(frame), dtype=bool)
    for position in range(frame.shape[1]):
        hit |= (frame.iloc[:, position].str.len().fillna(0) > limit).to_numpy(bool)
    if not hit.any():
        return table
    report.rows_read += int(hit.sum())
    report.skip("field_too_long", table.lines[hit].tolist())
    keep = ~hit
    return Table(frame=frame[keep].reset_index(drop=True), lines=table.lines[keep].reset_index(drop=True))


class _Lines:
    """The file's physical lines for csv.reader, from a position that can be moved back to re-read."""

    def __init__(self, lines: list[str], position: int):
        self.lines = lines
        self.position = position

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1] + "\n"


def _read_delimited_exactly(text: str, *, header: list[str], sep: str, report: ImportReport) -> Table:
    """The slow path, for files with ragged rows, quoted line breaks or broken quotes: exact line numbers.

    A record that spans lines but has the wrong number of fields, or an odd number of quote characters, is an
    unterminated quote: its first line is reported and reading resumes on the next line, so it never swallows
    the lines after it. A line the csv module cannot parse is reported the same way.
    """
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: dict[str, list[int]] = {}
    source = _Lines(physical, 1)
    reader = csv.reader(source, delimiter=sep)
    while source.position < len(physical):
        start = source.position
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            # A cell past the csv module's own cap (csv.field_size_limit, 128 KiB) is too long as well.
            reason = "field_too_long" if "field larger than field limit" in str(error) else "unreadable_line"
            bad.setdefault(reason, []).append(start + 1)
            source.position = start + 1
            reader = csv.reader(source, delimiter=sep)
            continue
        spanned = source.position - start > 1
        if spanned and (len(row) != width or "\n".join(physical[start : source.position]).count('"') % 2):
            bad.setdefault("unterminated_quote", []).append(start + 1)
            source.position = start + 1
            reader = csv.reader(source, delimiter=sep)
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            bad.setdefault("wrong_number_of_fields", []).append(start + 1)
            continue
        rows.append(row)
        lines.append(start + 1)
    for reason, numbers in bad.items():
        report.rows_read += len(numbers)
        report.skip(reason, sorted(numbers))
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    return Table(frame=frame, lines=pd.Series(lines, index=frame.index, dtype="int64"))


def _drop_rows_with_nul(table: Table, *, report: ImportReport, name: str) -> Table:
    """Rows with a NUL character in any cell are skipped as `nul_character` (no database stores it the same)."""
    frame = table.frame
    if frame.empty:
        return table
    if any(NUL in str(column) for column in frame.columns):
        raise ValidationError(f"{name}: the header contains a NUL character (is the file binary?)")
    hit = np.zeros(len(frame), dtype=bool)
    for column in frame.columns:
        values = frame[column]
        hit |= by_unique(values, lambda unique: [NUL in str(value) for value in unique.tolist()]).to_numpy(bool)
    if not hit.any():
        return table
    report.rows_read += int(hit.sum())
    report.skip("nul_character", table.lines[hit].tolist())
    keep = ~hit
    return Table(frame=frame[keep].reset_index(drop=True), lines=table.lines[keep].reset_index(drop=True))


def _drop_blank_rows(table: Table) -> Table:
    frame = table.frame
    if frame.empty:
        return table
    blank = frame.eq("").all(axis=1).to_numpy()
    if blank.any():
        keep = ~blank
        frame = frame[keep].reset_index(drop=True)
        return Table(frame=frame, lines=table.lines[keep].reset_index(drop=True))
    return table


def _read_xlsx(path: Path, *, report: ImportReport) -> Table:
    """Every sheet with the first sheet's header (Online Retail II ships one sheet per year)."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError) as error:
        # An .xlsx is a zip of XML parts; a CSV renamed to .xlsx, or a zip that is not a workbook, lands here.
        raise ValidationError(f"{path.name} is not an Excel workbook (.xlsx): {error}") from error
    except Exception as error:
        raise ValidationError(f"{path.name} is a damaged Excel workbook (.xlsx): {error}") from error
    try:
        return _workbook_table(workbook, name=path.name)
    except ValidationError:
        raise
    except Exception as error:
        raise ValidationError(f"{path.name} is a damaged Excel workbook (.xlsx): {error}") from error
    finally:
        workbook.close()


def _workbook_table(workbook: Any, *, name: str) -> Table:
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[Any] = []
    sheets = workbook.worksheets
    for sheet in sheets:
        values = sheet.iter_rows(values_only=True)
        sheet_header = next(values, None)
        if sheet_header is None:
            continue
        sheet_header = [_cell_text(cell).strip() for cell in sheet_header]
        while sheet_header and not sheet_header[-1]:
            sheet_header.pop()
        if header is None:
            header = sheet_header
            _check_width(len(header), name=name)
            repeated = sorted(column for column, count in Counter(header).items() if count > 1 and column)
            if repeated:
                raise ValidationError(
                    f"{name}: column name(s) repeated in the header: {', '.join(repr(c) for c in repeated[:10])}; "
                    "rename or remove the extra column(s)"
                )
        elif sheet_header != header:
            continue  # a notes or pivot sheet, not data
        width = len(header)
        for number, row in enumerate(values, start=2):
            cells = [_cell_text(cell) for cell in row[:width]]
            if not any(cell.strip() for cell in cells):
                continue
            cells += [""] * (width - len(cells))
            rows.append(cells)
            lines.append(number if len(sheets) == 1 else f"{sheet.title}:{number}")
    if header is None:
        raise ValidationError(f"{name}: the workbook has no rows")
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    return Table(frame=frame, lines=pd.Series(lines, index=frame.index, dtype=object))


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


def resolve_columns(
    columns: Sequence[str],
    *,
    fields: dict[str, Sequence[str]],
    required: Sequence[str],
    mapping: dict[str, str] | None = None,
    name: str = "file",
) -> dict[str, str]:
    """Map each known field to the file's column: by `mapping` (column -> field), then by name or alias.

    Names match ignoring case, spaces and underscores. Raises ValidationError naming the missing required columns.
    """
    found: dict[str, str] = {}
    for column, target in (mapping or {}).items():
        if column not in columns:
            raise ValidationError(f"{name}: --map names column {column!r}, which is not in the file")
        found[target] = column
    by_key: dict[str, str] = {}
    same: dict[str, list[str]] = {}
    for column in columns:
        if column not in (mapping or {}):
            by_key.setdefault(_column_key(column), column)
            same.setdefault(_column_key(column), []).append(column)
    for target, aliases in fields.items():
        if target in found:
            continue
        for alias in (target, *aliases):
            if _column_key(alias) in by_key:
                if len(same[_column_key(alias)]) > 1:  # "Customer ID" and "customer_id": which one is meant?
                    both = " and ".join(repr(column) for column in same[_column_key(alias)])
                    raise ValidationError(f"{name}: columns {both} both name {target}; rename one or use --map")
                found[target] = by_key[_column_key(alias)]
                break
    missing = [target for target in required if target not in found]
    if missing:
        raise ValidationError(
            f"{name}: missing required column(s): {', '.join(missing)} (found: {', '.join(columns) or 'none'})"
        )
    return found


def _column_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


# --- values -------------------------------------------------------------------------------------------------


def content_event_ids(prefix: str, parts: Sequence[pd.Series]) -> pd.Series:
    """A deterministic event id per row from its normalised content.

    Exact duplicate rows get the same id, which is why importers drop them before writing; any two rows that differ
    in any part get different ids, and the same row imported again gets the same id (so it is not added twice).
    """
    blake2b = hashlib.blake2b
    columns = [as_text(part).tolist() for part in parts]
    keys = ("\x1f".join(values) for values in zip(*columns, strict=True))
    ids = [f"{prefix}:{blake2b(key.encode(), digest_size=16).hexdigest()}" for key in keys]
    return pd.Series(ids, index=parts[0].index, dtype=object)


def by_unique(values: pd.Series, transform: Callable[[pd.Series], Any]) -> pd.Series:
    """Apply `transform` to the distinct values only and spread the results back.

    Columns of invoice lines repeat a lot (dates, codes, prices, countries): this does a fraction of the work.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    mapped = pd.Series(transform(pd.Series(uniques, dtype=object)))
    result = mapped.take(codes)
    result.index = values.index
    return result


def stripped(values: pd.Series) -> pd.Series:
    """Text without surrounding spaces."""
    return by_unique(values, lambda unique: [str(value).strip() for value in unique.tolist()]).astype(object)


def as_text(values: pd.Series) -> pd.Series:
    """str() of each value (NaN as "nan"), for hashing."""
    return by_unique(values, lambda unique: [str(value) for value in unique.tolist()]).astype(object)


def parse_datetimes(values: pd.Series, *, tz: str | None = None) -> pd.Series:
    """Aware UTC timestamps from ISO 8601 (or US m/d/Y H:M) text; NaT where unreadable.

    Times without an offset are local to `tz` (default: settings.TIME_ZONE).
    """
    return by_unique(values, lambda unique: _parse_distinct_datetimes(unique, tz=tz))


def _parse_distinct_datetimes(values: pd.Series, *, tz: str | None) -> pd.Series:
    text = pd.Series([str(value).strip() for value in values.tolist()], index=values.index, dtype=object)
    # Microseconds, not pandas' nanoseconds: those stop at 1677 and 2262, and a date beyond raised
    # OutOfBoundsDatetime for the whole file. Such dates now parse, and the event-time rule refuses them by row.
    result = pd.Series(pd.NaT, index=values.index, dtype=DATETIME_DTYPE)
    if text.empty:
        return result
    with_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    if with_offset.any():
        result[with_offset] = _as_us(pd.to_datetime(text[with_offset], format="ISO8601", errors="coerce", utc=True))
    naive_text = text[~with_offset]
    if not naive_text.empty:
        naive = _as_us(pd.to_datetime(naive_text, format="ISO8601", errors="coerce"))
        retry = naive.isna() & naive_text.ne("")
        if retry.any():
            naive[retry] = _as_us(pd.to_datetime(naive_text[retry], format="%m/%d/%Y %H:%M", errors="coerce"))
        local = naive.dt.tz_localize(
            tz or settings.TIME_ZONE, ambiguous=np.zeros(len(naive), dtype=bool), nonexistent="shift_forward"
        )
        result[~with_offset] = local.dt.tz_convert("UTC")
    # Python's datetime (and so Django) stops at years 1 and 9999: anything beyond is unreadable, not a crash.
    result[(result < PYTHON_EARLIEST) | (result > PYTHON_LATEST)] = pd.NaT
    return result


DATETIME_DTYPE = "datetime64[us, UTC]"
PYTHON_EARLIEST = pd.Timestamp("0001-01-02", tz="UTC")
PYTHON_LATEST = pd.Timestamp("9999-12-30", tz="UTC")


def _as_us(stamps: pd.Series) -> pd.Series:
    if stamps.dtype == object:  # all NaT, or mixed: nothing parsed as a date
        stamps = pd.to_datetime(stamps, errors="coerce")
    return stamps.dt.as_unit("us")


def flag_event_times(reasons: Reasons, times: pd.Series, *, now: datetime | None = None) -> None:
    """The events API's rule for event times, for every importer: not before 1900, not in the future
    (more than MAX_CLOCK_SKEW ahead). Unparsed times (NaT) are left to the caller's own reason."""
    now = now or timezone.now()
    earliest = pd.Timestamp(datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC))
    reasons.flag(times.notna() & times.lt(earliest), f"before_{EARLIEST_YEAR}")
    reasons.flag(times.notna() & times.gt(pd.Timestamp(now + MAX_CLOCK_SKEW)), "in_the_future")


def parse_booleans(values: pd.Series) -> pd.Series:
    """True / False from yes/no, true/false, 1/0, y/n, t/f, on/off; None when empty; NaN when unreadable."""
    lookup = {"1": True, "true": True, "t": True, "yes": True, "y": True, "on": True}
    lookup |= {"0": False, "false": False, "f": False, "no": False, "n": False, "off": False, "": None}
    return by_unique(
        values, lambda unique: [lookup.get(str(value).strip().lower(), np.nan) for value in unique.tolist()]
    ).astype(object)


def epoch_seconds(stamps: pd.Series) -> pd.Series:
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[s]").astype("int64")


# --- writing ------------------------------------------------------------------------------------------------


def chunks(values: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def existing_keys(model: type[models.Model], field_name: str, keys: Sequence[str]) -> set[str]:
    """Which of `keys` are already stored. Plain SQL: the ORM spends longer building these queries than running them."""
    if not keys or not model.objects.exists():
        return set()
    quote = connection.ops.quote_name
    column = quote(model._meta.get_field(field_name).column)
    found: set[str] = set()
    with connection.cursor() as cursor:
        for chunk in chunks(list(keys), LOOKUP_CHUNK):
            placeholders = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT {column} FROM {quote(model._meta.db_table)} WHERE {column} IN ({placeholders})", chunk
            )
            found.update(row[0] for row in cursor.fetchall())
    return found


def ids_by_key(model: type[models.Model], field_name: str, keys: Iterable[str]) -> dict[str, int]:
    result: dict[str, int] = {}
    for chunk in chunks(sorted(set(keys)), LOOKUP_CHUNK):
        result.update(model.objects.filter(**{f"{field_name}__in": chunk}).values_list(field_name, "pk"))
    return result


def upsert_by_key(
    model: type[models.Model],
    *,
    key: str,
    records: dict[str, dict[str, Any]],
    stamps: dict[str, str] | None = None,
    batch_size: int | None = None,
) -> bulk.UpsertResult:
    """The one upsert (shop.bulk.upsert_by_key): `attributes` merge into the stored dict, other fields replace;
    a record either database would refuse comes back in `rejected` instead of failing the import."""
    return bulk.upsert_by_key(
        model, key=key, records=records, stamps=stamps, batch_size=batch_size or settings.IMPORT_BATCH_SIZE
    )


def flag_rejected(reasons: Reasons, keys: pd.Series, rejected: dict[Any, dict[str, str]]) -> None:
    """Skip the rows whose key the bulk writer refused, as `bad_<field>`."""
    for record_key, problems in rejected.items():
        reasons.flag(keys.eq(record_key), f"bad_{next(iter(problems))}")


INTERACTION_COLUMNS = (
    "customer_id",
    "product_id",
    "kind",
    "value",
    "quantity",
    "amount",
    "order_ref",
    "source",
    "occurred_at",
    "event_id",
)


def insert_interactions(
    rows: pd.DataFrame, *, progress: bool = False, batch_size: int | None = None, label: str = "interactions"
) -> bulk.InsertResult:
    """Insert interactions (columns INTERACTION_COLUMNS; occurred_at aware UTC) through the one bulk writer.

    ON CONFLICT (event_id) DO NOTHING, so a row another writer stored meanwhile is left alone. Rows the writer
    refuses come back in `rejected`, by position in `rows` (see flag_rejected_rows). Other columns
    (recommendation_id, coupon, created_at) take the model's defaults.
    """
    if rows.empty:
        return bulk.InsertResult()
    batch_size = batch_size or max(settings.IMPORT_BATCH_SIZE, 20_000)
    adapt = connection.ops.adapt_datetimefield_value
    # Adapt each distinct time once: invoices and sessions share their times.
    codes, distinct = pd.factorize(rows["occurred_at"])
    adapted = np.array([adapt(stamp) for stamp in distinct.to_pydatetime()], dtype=object)
    data = {
        "customer_id": rows["customer_id"].astype("int64").tolist(),
        "product_id": rows["product_id"].astype("int64").tolist(),
        "kind": rows["kind"].tolist(),
        "value": _nullable(rows["value"]),
        "quantity": rows["quantity"].astype("int64").tolist(),
        "amount": _nullable(rows["amount"].round(2) if rows["amount"].dtype.kind == "f" else rows["amount"]),
        "order_ref": rows["order_ref"].tolist(),
        "source": rows["source"].tolist(),
        "occurred_at": adapted[codes].tolist(),
        "event_id": rows["event_id"].tolist(),
    }
    with sqlite_page_cache(), sqlite_indexes_deferred(Interaction, rows=len(rows)):
        return bulk.insert_columns(
            Interaction,
            data,
            ignore_conflicts=True,
            conflict_fields=("event_id",),
            batch_size=batch_size,
            progress=progress,
            label=label,
        )


def flag_rejected_rows(reasons: Reasons, rows: pd.DataFrame, result: bulk.InsertResult) -> None:
    """Skip the rows the bulk writer refused (by position in `rows`) with its reason, e.g. `out_of_range_amount`."""
    by_reason: dict[str, list] = {}
    for position, problem in result.rejected.items():
        by_reason.setdefault(problem.key, []).append(rows.index[position])
    for reason, index in by_reason.items():
        reasons.flag(pd.Series(reasons.reason.index.isin(index), index=reasons.reason.index), reason)


def _nullable(values: pd.Series) -> list:
    """Values with None for missing ones, as the database driver wants them."""
    return values.astype(object).where(values.notna(), None).tolist()
