"""Import the UCI Online Retail (and Online Retail II) invoice lines: customers, products, purchases and returns.

Each line with a customer becomes a purchase (or, on a cancelled invoice "C...", a return) with its quantity and
amount, the invoice as order reference. Every line is accounted for: imported, or skipped with one reason, the first
that applies, in this order: malformed fields (including numbers out of the database's range and times before 1900
or in the future, the events API's rule), no customer, exact duplicate, price not positive, negative quantity on a
sale, zero quantity, already imported.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction

from shop.importers.common import (
    ALREADY_IMPORTED,
    ImportReport,
    Reasons,
    by_unique,
    content_event_ids,
    epoch_seconds,
    existing_keys,
    flag_event_times,
    flag_rejected,
    flag_rejected_rows,
    ids_by_key,
    insert_interactions,
    parse_datetimes,
    read_table,
    stripped,
    upsert_by_key,
)
from shop.importers.merchandise import is_merchandise
from shop.models import Customer, Interaction, InteractionKind, InteractionSource, Product

CURRENCY = "GBP"
MAX_QUANTITY = 2**31 - 1  # the quantity column is a 32-bit integer on PostgreSQL
MAX_AMOUNT = 10**12  # the amount column holds 14 digits, 2 after the point
EVENT_PREFIX = "online-retail"

# Canonical field -> the column name in each release.
LAYOUTS: dict[str, dict[str, str]] = {
    "Online Retail": {
        "invoice": "InvoiceNo",
        "stock_code": "StockCode",
        "description": "Description",
        "quantity": "Quantity",
        "invoice_date": "InvoiceDate",
        "unit_price": "UnitPrice",
        "customer_id": "CustomerID",
        "country": "Country",
    },
    "Online Retail II": {
        "invoice": "Invoice",
        "stock_code": "StockCode",
        "description": "Description",
        "quantity": "Quantity",
        "invoice_date": "InvoiceDate",
        "unit_price": "Price",
        "customer_id": "Customer ID",
        "country": "Country",
    },
}


def import_online_retail(
    *, path: Path, progress: bool = False, timezone: str = "Europe/London", batch_size: int | None = None
) -> ImportReport:
    """Import an Online Retail file (.csv, .csv.gz or .xlsx). Re-importing the same lines adds nothing.

    Invoice times are local to `timezone` (the retailer is in the UK) and stored in UTC.
    """
    path = Path(path)
    report = ImportReport(kind="online_retail", source=str(path))
    with report.stage("read"):
        table = read_table(path, report=report)
    layout_name, layout = detect_layout(table.columns, name=path.name)
    report.details["layout"] = layout_name
    frame = table.frame.rename(columns={column: field for field, column in layout.items()})[list(layout)]
    report.rows_read += len(frame)

    with report.stage("validate"):
        lines = _parse(frame, timezone=timezone)
        reasons = _validate(lines)
    report.duplicates = int(lines["duplicate"].sum())
    report.details["lines_without_customer"] = int(lines["customer_id"].eq("").sum())

    valid = lines[reasons.valid]
    with transaction.atomic():
        with report.stage("products_and_customers"):
            _upsert_products(lines[lines["sellable"]], reasons=reasons, report=report)
            _upsert_customers(valid, reasons=reasons, report=report)
        with report.stage("find_already_imported"):
            already = existing_keys(Interaction, "event_id", valid["event_id"].tolist())
            reasons.flag(lines["event_id"].isin(already) & reasons.valid, ALREADY_IMPORTED)
            new = lines[reasons.valid]
            rows = _interaction_rows(new)
        with report.stage("write_interactions"):
            written = insert_interactions(rows, progress=progress, batch_size=batch_size, label="online retail lines")
            flag_rejected_rows(reasons, rows, written)
            report.imported = written.written
        report.count_objects("interactions", created=written.inserted)
        new = lines[reasons.valid]
    reasons.report_to(report, table.lines)
    report.details["orders"] = int(new["invoice"].nunique())
    report.details["returns"] = int(new["cancelled"].sum())
    return report.finish()


def detect_layout(columns: list[str], *, name: str = "file") -> tuple[str, dict[str, str]]:
    """The release whose column names the file has; else a ValidationError naming the missing columns."""
    present = {column.strip() for column in columns}
    best_name, best_missing = None, None
    for layout_name, layout in LAYOUTS.items():
        missing = [column for column in layout.values() if column not in present]
        if not missing:
            return layout_name, layout
        if best_missing is None or len(missing) < len(best_missing):
            best_name, best_missing = layout_name, missing
    raise ValidationError(
        f"{name} is not an Online Retail file: missing column(s) {', '.join(best_missing)} "
        f"(closest layout: {best_name}; expected {', '.join(LAYOUTS['Online Retail'].values())} "
        f"or {', '.join(LAYOUTS['Online Retail II'].values())})"
    )


def _parse(frame: pd.DataFrame, *, timezone: str) -> pd.DataFrame:
    lines = pd.DataFrame({column: stripped(frame[column]) for column in frame.columns})
    lines["sku"] = by_unique(lines["stock_code"], lambda codes: codes.str.upper())
    # Spreadsheets turn 17850 into 17850.0.
    lines["customer_id"] = by_unique(lines["customer_id"], lambda ids: [_integral_text(value) for value in ids])
    quantity = by_unique(lines["quantity"], lambda text: pd.to_numeric(text, errors="coerce"))
    lines["quantity_ok"] = quantity.notna() & (quantity == quantity.round())
    lines["quantity_in_range"] = ~lines["quantity_ok"] | quantity.abs().le(MAX_QUANTITY)
    lines["qty"] = quantity.where(lines["quantity_ok"] & lines["quantity_in_range"], 0).astype("int64")
    price = by_unique(lines["unit_price"], lambda text: pd.to_numeric(text, errors="coerce"))
    lines["price_ok"] = price.notna() & price.abs().lt(1e9)
    lines["price"] = price.where(lines["price_ok"], 0.0)
    lines["occurred_at"] = parse_datetimes(lines["invoice_date"], tz=timezone)
    lines["cancelled"] = by_unique(lines["invoice"], lambda invoices: invoices.str.startswith(("C", "c"))).astype(bool)
    return lines


def _blank_or_longer(values: pd.Series, limit: int) -> pd.Series:
    return by_unique(values, lambda text: text.eq("") | text.str.len().gt(limit)).astype(bool)


def _integral_text(value: str) -> str:
    if value.endswith(".0") and value[:-2].isdigit():
        return value[:-2]
    return value


def _validate(lines: pd.DataFrame) -> Reasons:
    reasons = Reasons(lines.index)
    reasons.flag(_blank_or_longer(lines["invoice"], 64), "missing_or_bad_invoice")
    reasons.flag(_blank_or_longer(lines["stock_code"], 64), "missing_or_bad_stock_code")
    reasons.flag(~lines["quantity_ok"], "bad_quantity")
    reasons.flag(~lines["quantity_in_range"], "quantity_out_of_range")
    reasons.flag(~lines["price_ok"], "bad_unit_price")
    reasons.flag((lines["qty"].abs() * lines["price"].abs()).round(2).ge(MAX_AMOUNT), "amount_out_of_range")
    reasons.flag(lines["occurred_at"].isna(), "bad_invoice_date")
    flag_event_times(reasons, lines["occurred_at"])
    reasons.flag(by_unique(lines["customer_id"], lambda ids: ids.str.len().gt(64)).astype(bool), "bad_customer_id")
    well_formed = reasons.valid.copy()

    # The line's content, normalised so the .csv and .xlsx of one release give the same id.
    key_parts = [
        lines["invoice"],
        lines["stock_code"],
        lines["description"],
        lines["qty"],
        epoch_seconds(lines["occurred_at"].fillna(pd.Timestamp(0, tz="UTC"))),
        lines["price"],
        lines["customer_id"],
        lines["country"],
    ]
    lines["event_id"] = content_event_ids(EVENT_PREFIX, key_parts)
    lines["duplicate"] = well_formed & lines[well_formed]["event_id"].duplicated().reindex(
        lines.index, fill_value=False
    )

    # Zero is zero, on a sale or a return: not reported as negative.
    sale_quantity_ok = lines["cancelled"] | lines["qty"].ge(0)
    quantity_nonzero = lines["qty"].ne(0)
    lines["sellable"] = well_formed & ~lines["duplicate"] & lines["price"].gt(0) & sale_quantity_ok & quantity_nonzero

    reasons.flag(lines["customer_id"].eq(""), "no_customer")
    reasons.flag(lines["duplicate"], "duplicate")
    reasons.flag(lines["price"].le(0), "price_not_positive")
    reasons.flag(~sale_quantity_ok, "negative_quantity_on_sale")
    reasons.flag(~quantity_nonzero, "zero_quantity")
    return reasons


def _upsert_products(lines: pd.DataFrame, *, reasons: Reasons, report: ImportReport) -> None:
    """One product per stock code: the most common description as name, the median unit price."""
    if lines.empty:
        return
    described = lines[lines["description"].ne("")]
    names = (
        described.groupby(["sku", "description"])
        .size()
        .reset_index(name="n")
        .sort_values(["sku", "n", "description"], ascending=[True, False, True])
        .drop_duplicates("sku")
        .set_index("sku")["description"]
    )
    prices = lines.groupby("sku")["price"].median().round(2)
    records = {}
    for sku, price in prices.items():
        name = str(names.get(sku, ""))[:300]
        records[sku] = {
            "name": name,
            "price": Decimal(f"{price:.2f}"),
            "currency": CURRENCY,
            "is_merchandise": is_merchandise(stock_code=sku, description=name),
            "is_stub": False,
        }
    result = upsert_by_key(Product, key="sku", records=records)
    report.count_objects("products", created=len(result.created), updated=len(result.updated))
    flag_rejected(reasons, lines["sku"].reindex(reasons.reason.index), result.rejected)
    report.details["non_merchandise_products"] = sorted(
        sku for sku, record in records.items() if not record["is_merchandise"]
    )


def _upsert_customers(lines: pd.DataFrame, *, reasons: Reasons, report: ImportReport) -> None:
    """One customer per CustomerID, with the country of their latest line."""
    if lines.empty:
        return
    countries = lines.sort_values("occurred_at", kind="stable").groupby("customer_id")["country"].last()
    records = {
        customer_id: {"country": str(country)[:100], "is_stub": False} for customer_id, country in countries.items()
    }
    result = upsert_by_key(Customer, key="external_id", records=records)
    report.count_objects("customers", created=len(result.created), updated=len(result.updated))
    flag_rejected(reasons, lines["customer_id"].reindex(reasons.reason.index), result.rejected)


def _interaction_rows(lines: pd.DataFrame) -> pd.DataFrame:
    customers = ids_by_key(Customer, "external_id", lines["customer_id"].unique())
    products = ids_by_key(Product, "sku", lines["sku"].unique())
    quantity = lines["qty"].abs()
    return pd.DataFrame(
        {
            "customer_id": lines["customer_id"].map(customers),
            "product_id": lines["sku"].map(products),
            "kind": lines["cancelled"].map({True: InteractionKind.RETURN.value, False: InteractionKind.PURCHASE.value}),
            "value": pd.Series(float("nan"), index=lines.index),
            "quantity": quantity,
            "amount": (quantity * lines["price"]).round(2),
            "order_ref": lines["invoice"],
            "source": InteractionSource.IMPORT.value,
            "occurred_at": lines["occurred_at"],
            "event_id": lines["event_id"],
        }
    )
