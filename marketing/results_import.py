"""Import an experiment run elsewhere (one row per recipient) as a completed campaign, so it is reported,
broken down and modelled exactly as a campaign sent by this product.

Each row: its group (a variant name, or the control value), whether it converted (a 0/1 flag, true/false,
or a count: non-zero means converted), optionally its revenue, the customer's id in the shop and attribute
columns (kept on the recipient; numbers stored as numbers). A malformed row is reported with its line number
and left out; the others are imported. A file missing a named column is refused before anything is written.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from marketing.models import Campaign, Recipient, Variant
from segments.selectors import customer_ids_by_external_id
from shop.bulk import insert_columns

TRUE = {"true", "yes", "y", "t"}
FALSE = {"false", "no", "n", "f"}
MAX_HOLDOUT = 0.9  # the campaign's holdout_share bound; the true control share is kept in audience_counts
TICK_ROWS = 5000  # the reading bar moves every this many rows


@dataclass
class ImportedResults:
    campaign: Campaign
    rows: int = 0
    imported: int = 0
    control: int = 0
    variants: dict[str, int] = field(default_factory=dict)
    customers_matched: int = 0
    malformed: list[dict] = field(default_factory=list)  # [{"line": n, "error": "..."}]

    def as_dict(self) -> dict:
        return {
            "campaign": self.campaign.name,
            "campaign_id": self.campaign.pk,
            "rows": self.rows,
            "imported": self.imported,
            "control": self.control,
            "variants": self.variants,
            "customers_matched": self.customers_matched,
            "malformed": self.malformed,
        }


def _open(path: Path):
    """(text handle, the file's raw handle): the raw one's position is how far the reading got, in file bytes
    (compressed bytes for .gz), for the progress bar."""
    if path.is_dir():
        raise ValidationError(f"{path} is a directory, not a CSV file")
    try:
        raw = path.open("rb")
        try:
            binary = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
            handle = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
            handle.read(0)
        except BaseException:
            raw.close()
            raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from exc
    return handle, raw


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _conversions(text: str) -> int:
    """0/1, true/false or a count; non-zero means converted. A fraction counts as one conversion."""
    lowered = text.strip().lower()
    if lowered in TRUE:
        return 1
    if lowered in FALSE:
        return 0
    value = _number(lowered)
    if value < 0:
        raise ValueError("is negative")
    return int(value) if value == int(value) else 1


def _revenue(text: str) -> Decimal:
    text = text.strip()
    if not text:
        return Decimal("0")
    _number(text)  # refuses nan / inf
    try:
        return Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc


def _attribute(text: str):
    """Numbers as numbers (ints stay ints), everything else as trimmed text; empty as absent."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return int(value) if value == int(value) and "." not in text and "e" not in text.lower() else value


def _read_failure(path: Path, exc: Exception) -> ValidationError:
    return ValidationError(f"cannot read {path}: {exc}")


@transaction.atomic
def import_campaign_results(
    *,
    path: Path,
    name: str,
    group_col: str,
    control: str,
    conversion_col: str,
    revenue_col: str | None = None,
    customer_col: str | None = None,
    attribute_cols: list[str] | None = None,
    replace: bool = False,
    progress: bool = False,
) -> ImportedResults:
    """Create a completed, imported Campaign with a Variant per group value and a Recipient per good row.

    `progress` shows bars on stderr: the file read (in bytes) and the rows written."""
    name = name.strip()
    if not name:
        raise ValidationError("the campaign needs a name (--name)")
    existing = Campaign.objects.filter(name=name).first()
    if existing is not None:
        if not replace:
            raise ValidationError(
                f"a campaign named {name!r} already exists (id {existing.pk}); choose another --name, "
                "or give --replace to import over an earlier import"
            )
        if existing.origin != Campaign.Origin.IMPORTED:
            raise ValidationError(f"{name!r} is a campaign sent by this product; --replace only replaces imports")
        existing.delete()
    attribute_cols = [c for c in (attribute_cols or []) if c]
    control = str(control).strip()

    handle, raw = _open(path)
    with handle, raw:  # a GzipFile leaves the file it reads open
        try:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise ValidationError(f"{path} is empty: no header row")
            header = [h.strip() for h in header]
            named = [group_col, conversion_col, revenue_col, customer_col, *attribute_cols]
            missing = [c for c in dict.fromkeys(named) if c and c not in header]
            if missing:
                raise ValidationError(
                    f"{path.name} has no column {', '.join(repr(c) for c in missing)}; its columns: {', '.join(header)}"
                )
            at = {column: header.index(column) for column in dict.fromkeys(c for c in named if c)}
            size = path.stat().st_size
            with tqdm(
                total=size, desc="reading", unit="B", unit_scale=True, file=sys.stderr, disable=not progress
            ) as bar:
                good, malformed = _parse_rows(
                    reader,
                    at,
                    group_col,
                    conversion_col,
                    revenue_col,
                    customer_col,
                    attribute_cols,
                    tick=lambda: bar.update(min(raw.tell(), size) - bar.n),
                )
                bar.update(size - bar.n)
        except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:
            raise _read_failure(path, exc) from exc

    result = ImportedResults(campaign=Campaign(name=name), malformed=malformed)
    result.rows = len(good) + len(malformed)
    groups = Counter(row["group"] for row in good)
    if groups[control] == 0:
        raise ValidationError(f"no row has {group_col} = {control!r} (the control group); nothing imported")
    treated = {g: n for g, n in groups.items() if g != control}
    if not treated:
        raise ValidationError(f"every row has {group_col} = {control!r}: no treated group; nothing imported")
    too_long = [g for g in treated if len(g) > Variant._meta.get_field("name").max_length]
    if too_long:
        raise ValidationError(f"group value {too_long[0][:40]!r}… is longer than a variant name may be (100)")

    total = sum(groups.values())
    now = timezone.now()
    campaign = Campaign(
        name=name,
        origin=Campaign.Origin.IMPORTED,
        status=Campaign.Status.COMPLETED,
        holdout_share=min(groups[control] / total, MAX_HOLDOUT),
        completed_at=now,
        audience_counts={
            "imported_from": path.name,
            "rows": result.rows,
            "imported": total,
            "malformed": len(malformed),
            "control_share": groups[control] / total,
            "columns": {
                "group": group_col,
                "control": control,
                "conversion": conversion_col,
                "revenue": revenue_col,
                "customer": customer_col,
                "attributes": attribute_cols,
            },
        },
    )
    campaign.full_clean()
    campaign.save()
    variants = {}
    for position, group in enumerate(sorted(treated)):
        variant = Variant(campaign=campaign, name=group, split_share=treated[group] / sum(treated.values()))
        variant.position = position
        variant.full_clean()
        variant.save()
        variants[group] = variant.pk

    customers = customer_ids_by_external_id(r["customer"] for r in good if r["customer"]) if customer_col else {}
    data = {
        "campaign_id": [],
        "customer_id": [],
        "variant_id": [],
        "is_control": [],
        "status": [],
        "external_ref": [],
        "attributes": [],
        "sent_at": [],
        "conversions": [],
        "revenue": [],
        "converted_at": [],
    }
    lines = []
    for row in good:
        is_control = row["group"] == control
        data["campaign_id"].append(campaign.pk)
        data["customer_id"].append(customers.get(row["customer"]))
        data["variant_id"].append(None if is_control else variants[row["group"]])
        data["is_control"].append(is_control)
        data["status"].append(Recipient.Status.CONTROL if is_control else Recipient.Status.SENT)
        data["external_ref"].append(row["customer"])
        data["attributes"].append(row["attributes"])
        data["sent_at"].append(None)
        data["conversions"].append(row["conversions"])
        data["revenue"].append(row["revenue"])
        data["converted_at"].append(None)
        lines.append(row["line"])
    written = insert_columns(Recipient, data, label="writing recipients", progress=progress)
    for position, problem in sorted(written.rejected.items()):
        result.malformed.append({"line": lines[position], "error": str(problem)})
    result.malformed.sort(key=lambda m: m["line"])
    rejected = {lines[p] for p in written.rejected}
    kept = [row for row in good if row["line"] not in rejected]
    result.campaign = campaign
    result.imported = len(kept)
    result.control = sum(1 for r in kept if r["group"] == control)
    result.variants = dict(sorted(Counter(r["group"] for r in kept if r["group"] != control).items()))
    result.customers_matched = sum(1 for r in kept if customers.get(r["customer"]))
    if written.rejected:
        campaign.audience_counts = {**campaign.audience_counts, "imported": result.imported,
                                    "malformed": len(result.malformed)}  # fmt: skip
        Campaign.objects.filter(pk=campaign.pk).update(audience_counts=campaign.audience_counts)
    return result


def _parse_rows(reader, at, group_col, conversion_col, revenue_col, customer_col, attribute_cols, *, tick=None):
    """(good rows as dicts, malformed as [{"line", "error"}]); line numbers count the header as line 1.
    `tick` is called every TICK_ROWS rows (the progress bar)."""
    good: list[dict] = []
    malformed: list[dict] = []
    seen: dict[str, int] = {}
    width = max(at.values()) + 1
    for count, row in enumerate(reader, start=1):
        line = reader.line_num
        if tick is not None and count % TICK_ROWS == 0:
            tick()
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < width:
            malformed.append({"line": line, "error": f"has {len(row)} fields, expected at least {width}"})
            continue
        group = row[at[group_col]].strip()
        if not group:
            malformed.append({"line": line, "error": f"{group_col} is empty"})
            continue
        try:
            conversions = _conversions(row[at[conversion_col]])
        except ValueError as exc:
            malformed.append({"line": line, "error": f"{conversion_col} {row[at[conversion_col]]!r}: {exc}"})
            continue
        revenue = Decimal("0")
        if revenue_col:
            try:
                revenue = _revenue(row[at[revenue_col]])
            except ValueError as exc:
                malformed.append({"line": line, "error": f"{revenue_col} {row[at[revenue_col]]!r}: {exc}"})
                continue
        customer = row[at[customer_col]].strip() if customer_col else ""
        if customer:
            if customer in seen:
                malformed.append(
                    {"line": line, "error": f"{customer_col} {customer!r} already on line {seen[customer]}"}
                )
                continue
            seen[customer] = line
        attributes = {}
        for column in attribute_cols:
            value = _attribute(row[at[column]])
            if value is not None:
                attributes[column] = value
        good.append(
            {
                "line": line,
                "group": group,
                "conversions": conversions,
                "revenue": revenue,
                "customer": customer,
                "attributes": attributes,
            }
        )
    return good, malformed
