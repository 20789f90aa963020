"""Generic CSV imports of customers, products or interactions, in the columns documented below.

Column names match ignoring case, spaces and underscores, and a few common aliases are understood;
`mapping` ({file column: field}) renames any other. Empty cells leave stored values alone. Columns that are not
fields are kept in `attributes` (customers, products) or ignored and listed in the report (interactions).

customers     external_id (required), email, name, gender (f/m/o or female/male/other), birth_year, city,
              postal_code, country, signed_up_at (ISO 8601), email_consent, sms_consent, push_consent
              (yes/no, true/false, 1/0)
products      sku (required), name, description, category ("Parent > Child" creates both), price, currency
              (3 letters), stock, is_active, is_merchandise
interactions  customer_id (the customer's external id, required), sku (required), kind (view, cart, purchase,
              return, rating; required), occurred_at (ISO 8601; required; from 1900 to now, as in the events
              API), event_id (derived from the row when absent), value (the rating, or a view's seconds: 0 to
              86400), quantity (default 1), amount, order_ref, source (web, app, store, email, import, other;
              default import)

Stock must not be negative (empty: not tracked). Cells are merged into stored `attributes` key by key.

Unknown customers and products named by interactions are created as stubs, as the events API does.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.text import slugify

from shop.importers.common import (
    ALREADY_IMPORTED,
    DATETIME_DTYPE,
    UNCHANGED,
    ImportReport,
    Reasons,
    content_event_ids,
    existing_keys,
    flag_event_times,
    flag_rejected,
    flag_rejected_rows,
    ids_by_key,
    insert_interactions,
    parse_booleans,
    parse_datetimes,
    read_table,
    resolve_columns,
    stripped,
    upsert_by_key,
)
from shop.models import Category, Customer, Gender, Interaction, InteractionKind, InteractionSource, Product
from shop.services import CONSENT_STAMPS, MAX_VIEW_SECONDS

MAX_INTEGER = 2**31 - 1  # integer columns are 32-bit on PostgreSQL

KINDS = ("customers", "products", "interactions")

# field -> aliases understood without --map
CUSTOMER_FIELDS: dict[str, tuple[str, ...]] = {
    "external_id": ("customer_id", "customer", "id"),
    "email": ("email_address",),
    "name": ("full_name",),
    "gender": ("sex",),
    "birth_year": ("year_of_birth",),
    "city": (),
    "postal_code": ("zip", "zip_code", "postcode"),
    "country": (),
    "signed_up_at": ("signup_at", "signed_up", "registered_at"),
    "email_consent": (),
    "sms_consent": (),
    "push_consent": (),
}
PRODUCT_FIELDS: dict[str, tuple[str, ...]] = {
    "sku": ("product_id", "stock_code", "item_id"),
    "name": ("title",),
    "description": (),
    "category": (),
    "price": ("unit_price",),
    "currency": (),
    "stock": ("stock_level", "inventory"),
    "is_active": ("active",),
    "is_merchandise": ("merchandise",),
}
INTERACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "event_id": (),
    "customer_id": ("customer", "user_id", "external_id"),
    "sku": ("product_id", "item_id", "product"),
    "kind": ("event", "event_type", "type"),
    "value": ("rating",),
    "quantity": ("qty",),
    "amount": ("revenue",),
    "order_ref": ("order_id", "order", "invoice"),
    "source": ("channel",),
    "occurred_at": ("timestamp", "time", "date"),
}
FIELDS = {"customers": CUSTOMER_FIELDS, "products": PRODUCT_FIELDS, "interactions": INTERACTION_FIELDS}
REQUIRED = {
    "customers": ("external_id",),
    "products": ("sku",),
    "interactions": ("customer_id", "sku", "kind", "occurred_at"),
}
GENDERS = {
    "f": Gender.FEMALE, "female": Gender.FEMALE, "w": Gender.FEMALE, "woman": Gender.FEMALE,
    "m": Gender.MALE, "male": Gender.MALE, "man": Gender.MALE,
    "o": Gender.OTHER, "other": Gender.OTHER, "x": Gender.OTHER, "non-binary": Gender.OTHER,
    "u": Gender.UNKNOWN, "unknown": Gender.UNKNOWN,
}  # fmt: skip
MAX_LENGTHS = {
    "customers": {"external_id": 64, "email": 254, "name": 200, "city": 100, "postal_code": 20, "country": 100},
    "products": {"sku": 64, "name": 300, "category": 200},
    "interactions": {"event_id": 100, "customer_id": 64, "sku": 64, "order_ref": 64},
}


def import_csv(*, kind: str, path: Path, mapping: dict[str, str] | None = None, progress: bool = False) -> ImportReport:
    """Import a customers, products or interactions CSV (.csv or .csv.gz). Re-importing adds nothing."""
    if kind not in KINDS:
        raise ValidationError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    fields = FIELDS[kind]
    for column, target in (mapping or {}).items():
        if target not in fields:
            raise ValidationError(
                f"--map {column}={target}: {target!r} is not a {kind} field (fields: {', '.join(fields)})"
            )
    path = Path(path)
    report = ImportReport(kind=f"csv:{kind}", source=str(path))
    with report.stage("read"):
        table = read_table(path, report=report)
    columns = resolve_columns(table.columns, fields=fields, required=REQUIRED[kind], mapping=mapping, name=path.name)
    report.details["columns"] = columns
    extra = [column for column in table.columns if column not in columns.values()]
    report.details["extra_columns"] = extra
    frame = pd.DataFrame({field: stripped(table.frame[column]) for field, column in columns.items()})
    extras = table.frame[extra]
    report.rows_read += len(frame)

    reasons = Reasons(frame.index)
    for name, limit in MAX_LENGTHS[kind].items():
        if name in frame:
            reasons.flag(frame[name].str.len().gt(limit), f"{name}_longer_than_{limit}")
    importer = {"customers": _import_customers, "products": _import_products, "interactions": _import_interactions}
    with transaction.atomic():
        importer[kind](frame, extras, reasons=reasons, report=report, progress=progress)
    reasons.report_to(report, table.lines)
    report.imported = int(reasons.valid.sum())
    return report.finish()


def _nothing(frame: pd.DataFrame) -> pd.Series:
    """A column of None (no cell given), for the optional columns a file does not have."""
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _flag_duplicates(frame: pd.DataFrame, key: str, reasons: Reasons, report: ImportReport) -> None:
    exact = frame.duplicated(keep="first")
    report.duplicates = int(exact.sum())
    reasons.flag(exact, "duplicate")
    seen = frame[key].where(reasons.valid)
    reasons.flag(seen.duplicated() & seen.notna(), f"duplicate_{key}")


def _required(frame: pd.DataFrame, name: str, reasons: Reasons) -> None:
    reasons.flag(frame[name].eq(""), f"missing_{name}")


def _optional_numbers(frame: pd.DataFrame, name: str, reasons: Reasons, *, integer: bool = False) -> pd.Series:
    if name not in frame:
        return pd.Series(np.nan, index=frame.index)
    numbers = pd.to_numeric(frame[name].replace("", np.nan), errors="coerce")
    bad = frame[name].ne("") & (numbers.isna() | ~np.isfinite(numbers.fillna(0)))
    if integer:
        bad |= numbers.notna() & (numbers != numbers.round())
    reasons.flag(bad, f"bad_{name}")
    return numbers


def _optional_booleans(frame: pd.DataFrame, name: str, reasons: Reasons) -> pd.Series:
    if name not in frame:
        return _nothing(frame)
    values = parse_booleans(frame[name])
    reasons.flag(values.isna() & frame[name].ne(""), f"bad_{name}")
    return values


def _optional_times(frame: pd.DataFrame, name: str, reasons: Reasons) -> pd.Series:
    if name not in frame:
        return pd.Series(pd.NaT, index=frame.index, dtype=DATETIME_DTYPE)
    times = parse_datetimes(frame[name])
    reasons.flag(times.isna() & frame[name].ne(""), f"bad_{name}")
    return times


def _decimals(frame: pd.DataFrame, name: str, reasons: Reasons) -> pd.Series:
    """Exact decimals (2 places) for money; bad or negative values flagged."""
    if name not in frame:
        return _nothing(frame)

    def parse(text: str) -> Any:
        if not text:
            return None
        try:
            value = Decimal(text.replace(",", "")).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            return np.nan
        return value if value.is_finite() and Decimal(0) <= value < Decimal(10) ** 10 else np.nan

    values = frame[name].map(parse).astype(object)
    reasons.flag(values.map(lambda value: isinstance(value, float)), f"bad_{name}")
    return values


def _extra_attributes(extras: pd.DataFrame) -> list[dict[str, str]]:
    if extras.empty or not len(extras.columns):
        return [{} for _ in range(len(extras))]
    return [{k: str(v).strip() for k, v in row.items() if str(v).strip()} for row in extras.to_dict("records")]


def _import_customers(
    frame: pd.DataFrame, extras: pd.DataFrame, *, reasons: Reasons, report: ImportReport, progress: bool
) -> None:
    _required(frame, "external_id", reasons)
    if "email" in frame:
        reasons.flag(frame["email"].map(lambda value: bool(value) and not _is_email(value)), "bad_email")
    gender = _nothing(frame)
    if "gender" in frame:
        gender = frame["gender"].str.lower().map(lambda value: GENDERS.get(value, "?") if value else None)
        reasons.flag(gender.eq("?"), "bad_gender")
    birth_year = _optional_numbers(frame, "birth_year", reasons, integer=True)
    reasons.flag(birth_year.notna() & ~birth_year.between(1900, 2100), "bad_birth_year")
    signed_up_at = _optional_times(frame, "signed_up_at", reasons)
    consents = {
        name: _optional_booleans(frame, name, reasons) for name in ("email_consent", "sms_consent", "push_consent")
    }
    _flag_duplicates(frame, "external_id", reasons, report)

    valid = reasons.valid
    attributes = _extra_attributes(extras)
    records: dict[str, dict[str, Any]] = {}
    for position in np.flatnonzero(valid.to_numpy()):
        index = frame.index[position]
        row = frame.loc[index]
        record: dict[str, Any] = {"is_stub": False}
        for name in ("email", "name", "city", "postal_code", "country"):
            if name in frame and row[name]:
                record[name] = row[name]
        if _given(gender[index]):
            record["gender"] = gender[index]
        if pd.notna(birth_year[index]):
            record["birth_year"] = int(birth_year[index])
        if pd.notna(signed_up_at[index]):
            record["signed_up_at"] = signed_up_at[index].to_pydatetime()
        for name, values in consents.items():
            if _given(values[index]):
                record[name] = bool(values[index])
        if attributes[position]:
            record["attributes"] = attributes[position]
        records[row["external_id"]] = record
    # Consent changes are stamped by the one upsert, as for the API.
    result = upsert_by_key(Customer, key="external_id", records=records, stamps=CONSENT_STAMPS)
    report.count_objects("customers", created=len(result.created), updated=len(result.updated))
    flag_rejected(reasons, frame["external_id"], result.rejected)
    reasons.flag(reasons.valid & ~frame["external_id"].isin(result.created | result.updated), UNCHANGED)


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _import_products(
    frame: pd.DataFrame, extras: pd.DataFrame, *, reasons: Reasons, report: ImportReport, progress: bool
) -> None:
    _required(frame, "sku", reasons)
    price = _decimals(frame, "price", reasons)
    if "currency" in frame:
        reasons.flag(frame["currency"].ne("") & ~frame["currency"].str.fullmatch(r"[A-Za-z]{3}"), "bad_currency")
    stock = _optional_numbers(frame, "stock", reasons, integer=True)
    reasons.flag(stock.gt(MAX_INTEGER), "bad_stock")
    reasons.flag(stock.lt(0), "negative_stock")
    flags = {name: _optional_booleans(frame, name, reasons) for name in ("is_active", "is_merchandise")}
    _flag_duplicates(frame, "sku", reasons, report)

    valid = reasons.valid
    categories = _upsert_category_paths(frame.loc[valid, "category"] if "category" in frame else None, report)
    attributes = _extra_attributes(extras)
    records: dict[str, dict[str, Any]] = {}
    for position in np.flatnonzero(valid.to_numpy()):
        index = frame.index[position]
        row = frame.loc[index]
        record: dict[str, Any] = {"is_stub": False}
        for name in ("name", "description"):
            if name in frame and row[name]:
                record[name] = row[name]
        if "category" in frame and row["category"]:
            record["category_id"] = categories[row["category"]]
        if _given(price[index]):
            record["price"] = price[index]
        if "currency" in frame and row["currency"]:
            record["currency"] = row["currency"].upper()
        if pd.notna(stock[index]):
            record["stock"] = int(stock[index])
        for name, values in flags.items():
            if _given(values[index]):
                record[name] = bool(values[index])
        if attributes[position]:
            record["attributes"] = attributes[position]
        records[row["sku"]] = record
    result = upsert_by_key(Product, key="sku", records=records)
    report.count_objects("products", created=len(result.created), updated=len(result.updated))
    flag_rejected(reasons, frame["sku"], result.rejected)
    reasons.flag(reasons.valid & ~frame["sku"].isin(result.created | result.updated), UNCHANGED)


def _upsert_category_paths(paths: pd.Series | None, report: ImportReport) -> dict[str, int]:
    """Categories for "Parent > Child" paths (each level created once); returns path -> id of the last level."""
    if paths is None:
        return {}
    result: dict[str, int] = {}
    created_total = 0
    for path in sorted(set(paths) - {""}):
        parent_id = None
        for depth, part in enumerate(p.strip() for p in path.split(">")):
            code = slugify(" ".join(q.strip() for q in path.split(">")[: depth + 1]))[:100] or "category"
            category, created = Category.objects.get_or_create(
                code=code, defaults={"name": part[:200], "parent_id": parent_id}
            )
            created_total += int(created)
            parent_id = category.pk
        result[path] = parent_id
    report.count_objects("categories", created=created_total)
    return result


def _import_interactions(
    frame: pd.DataFrame, extras: pd.DataFrame, *, reasons: Reasons, report: ImportReport, progress: bool
) -> None:
    for name in ("customer_id", "sku", "kind", "occurred_at"):
        _required(frame, name, reasons)
    kind = frame["kind"].str.lower()
    reasons.flag(frame["kind"].ne("") & ~kind.isin(InteractionKind.values), "bad_kind")
    occurred_at = parse_datetimes(frame["occurred_at"])
    reasons.flag(occurred_at.isna(), "bad_occurred_at")
    flag_event_times(reasons, occurred_at)
    value = _optional_numbers(frame, "value", reasons)
    quantity = _optional_numbers(frame, "quantity", reasons, integer=True).fillna(1)
    amount = _decimals(frame, "amount", reasons)
    source = frame["source"].str.lower() if "source" in frame else pd.Series("", index=frame.index)
    reasons.flag(source.ne("") & ~source.isin(InteractionSource.values), "bad_source")
    source = source.where(source.ne(""), InteractionSource.IMPORT.value)
    reasons.flag(kind.eq(InteractionKind.RATING) & value.isna(), "missing_rating")
    reasons.flag(kind.eq(InteractionKind.RATING) & ~value.between(0.5, 5) & value.notna(), "rating_out_of_range")
    reasons.flag(kind.eq(InteractionKind.VIEW) & value.lt(0), "negative_view_duration")
    reasons.flag(kind.eq(InteractionKind.VIEW) & value.gt(MAX_VIEW_SECONDS), "view_duration_too_long")
    counted = kind.isin([InteractionKind.PURCHASE, InteractionKind.RETURN, InteractionKind.CART])
    reasons.flag(quantity.abs().gt(MAX_INTEGER), "quantity_out_of_range")
    reasons.flag(counted & quantity.eq(0), "zero_quantity")
    reasons.flag(counted & quantity.lt(0), "negative_quantity")

    given = frame.get("event_id", pd.Series("", index=frame.index))
    order_ref = frame.get("order_ref", pd.Series("", index=frame.index))
    derived = content_event_ids(
        "csv",
        [frame["customer_id"], frame["sku"], kind, occurred_at.astype(str), value.astype(str),
         quantity.astype(str), amount.astype(str), order_ref, source],
    )  # fmt: skip
    event_id = given.where(given.ne(""), derived)
    frame = frame.assign(event_id=event_id)
    exact = frame.duplicated(keep="first")
    report.duplicates = int(exact.sum())
    reasons.flag(exact, "duplicate")
    seen = event_id.where(reasons.valid)
    reasons.flag(seen.duplicated() & seen.notna(), "duplicate_event_id")
    already = existing_keys(Interaction, "event_id", event_id[reasons.valid].tolist())
    reasons.flag(event_id.isin(already), ALREADY_IMPORTED)

    valid = reasons.valid
    new = frame[valid]
    customers = _ensure_stubs(Customer, "external_id", new["customer_id"], report=report, name="customers")
    products = _ensure_stubs(Product, "sku", new["sku"], report=report, name="products")
    rows = pd.DataFrame(
        {
            "customer_id": new["customer_id"].map(customers),
            "product_id": new["sku"].map(products),
            "kind": kind[valid],
            "value": value[valid].astype(float),
            "quantity": quantity[valid].astype("int64"),
            "amount": amount[valid].map(lambda v: float(v) if _given(v) else np.nan).astype(float),
            "order_ref": order_ref[valid],
            "source": source[valid],
            "occurred_at": occurred_at[valid],
            "event_id": new["event_id"],
        }
    )
    written = insert_interactions(rows, progress=progress, label="interactions")
    flag_rejected_rows(reasons, rows, written)
    report.count_objects("interactions", created=written.inserted)


def _ensure_stubs(model, key: str, values: pd.Series, *, report: ImportReport, name: str) -> dict[str, int]:
    keys = set(values)
    known = ids_by_key(model, key, keys)
    missing = sorted(keys - set(known))
    if missing:
        model.objects.bulk_create([model(**{key: value, "is_stub": True}) for value in missing], batch_size=1000)
        known.update(ids_by_key(model, key, missing))
    report.count_objects(name, created=len(missing))
    return known
