"""Google Merchant Center product feeds: RSS 2.0 or Atom XML with the `g:` namespace, or the TSV form.

Attributes read (by their Merchant Center names, with or without `g:`; TSV headers may use spaces):

id -> sku (required) · title -> name · description · price ("19.99 USD") -> price and currency ·
product_type (else google_product_category) -> category ("Parent > Child" creates both) ·
availability (out_of_stock -> stock 0) · link, image_link, additional_image_link, sale_price, brand,
google_product_category, product_type, item_group_id, gtin, mpn, condition, availability -> `attributes`
(the image link is what recommendation widgets and campaign e-mails show).

The rows then follow the products CSV import's rules exactly (shop.importers.csv_files): bad rows skipped with
their item (XML) or line (TSV) and reason, the rest upserted by SKU, re-importing an unchanged feed changes
nothing. The XML is parsed with defusedxml: entity declarations and external references are refused (no XXE,
no billion laughs).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.core.exceptions import ValidationError
from django.db import transaction

from shop.importers import csv_files
from shop.importers.common import ImportReport, Reasons, Table, _read_bytes, read_table, stripped

G = "{http://base.google.com/ns/1.0}"
ATOM = "{http://www.w3.org/2005/Atom}"
# Feed attribute -> products CSV field; the others listed in ATTRIBUTES go to `attributes`.
FIELDS = {"id": "sku", "title": "name", "description": "description"}
ATTRIBUTES = (
    "link",
    "image_link",
    "additional_image_link",
    "sale_price",
    "brand",
    "google_product_category",
    "product_type",
    "item_group_id",
    "gtin",
    "mpn",
    "condition",
    "availability",
)
OUT_OF_STOCK = frozenset({"out_of_stock", "out of stock"})
_PRICE = re.compile(r"^\s*([0-9][0-9.,]*)\s*([A-Za-z]{3})?\s*$")


def import_product_feed(*, path: Path, progress: bool = False) -> ImportReport:
    """Import a Merchant Center feed (.xml, .tsv, .txt, or either gzipped). Re-importing changes nothing."""
    path = Path(path)
    report = ImportReport(kind="product_feed", source=str(path))
    with report.stage("read"):
        table = read_feed(path, report=report)
    if "id" not in table.columns:
        raise ValidationError(f"{path.name}: no id attribute in the feed (found: {', '.join(table.columns) or 'none'})")
    feed = pd.DataFrame({name: stripped(table.frame[name]) for name in table.columns})
    report.rows_read += len(feed)
    frame = pd.DataFrame({field: feed[name] for name, field in FIELDS.items() if name in feed})
    reasons = Reasons(frame.index)
    for name, limit in csv_files.MAX_LENGTHS["products"].items():
        if name in frame:
            reasons.flag(frame[name].str.len().gt(limit), f"{name}_longer_than_{limit}")
    if "price" in feed:
        amounts, currencies = _prices(feed["price"], reasons, "price")
        frame["price"], frame["currency"] = amounts, currencies
    if "sale_price" in feed:
        _prices(feed["sale_price"], reasons, "sale_price")
    category = feed.get("product_type")
    if "google_product_category" in feed:
        google = feed["google_product_category"]
        category = google if category is None else category.where(category.ne(""), google)
    if category is not None:
        frame["category"] = category
        reasons.flag(category.str.len().gt(200), "category_longer_than_200")
    if "availability" in feed:
        frame["stock"] = feed["availability"].str.lower().isin(OUT_OF_STOCK).map({True: "0", False: ""})
    extras = feed[[name for name in ATTRIBUTES if name in feed]]
    report.details["attributes"] = list(extras.columns)
    report.details["ignored_attributes"] = [
        name for name in feed.columns if name not in FIELDS and name not in ATTRIBUTES and name != "price"
    ]
    with transaction.atomic():
        csv_files._import_products(frame, extras, reasons=reasons, report=report, progress=progress)
    reasons.report_to(report, table.lines)
    report.imported = int(reasons.valid.sum())
    return report.finish()


def _prices(values: pd.Series, reasons: Reasons, name: str) -> tuple[pd.Series, pd.Series]:
    """ "19.99 USD" -> ("19.99", "USD"); an unreadable price flags the row `bad_<name>`."""
    amounts, currencies, bad = [], [], []
    for text in values.tolist():
        match = _PRICE.match(text) if text else None
        amount = ""
        if match:
            try:
                amount = str(Decimal(match.group(1).replace(",", "")))
            except InvalidOperation:
                match = None
        amounts.append(amount)
        currencies.append((match.group(2) or "").upper() if match else "")
        bad.append(bool(text) and match is None)
    reasons.flag(pd.Series(bad, index=values.index), f"bad_{name}")
    return pd.Series(amounts, index=values.index, dtype=object), pd.Series(currencies, index=values.index, dtype=object)


def read_feed(path: Path, *, report: ImportReport) -> Table:
    """The feed's items as a table of attribute columns; a file that is not a feed raises a ValidationError."""
    if not path.exists():
        raise ValidationError(f"{path}: no such file")
    if not path.is_file():
        raise ValidationError(f"{path} is not a file (a directory?): give the path of the feed")
    raw = _read_bytes(path)
    if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        report.details["format"] = "xml"
        return _read_xml(raw, name=path.name)
    report.details["format"] = "tsv"
    table = read_table(path, report=report, sep="\t")
    table.frame.columns = [_attribute_name(column) for column in table.frame.columns]
    if len(set(table.frame.columns)) != len(table.frame.columns):
        raise ValidationError(f"{path.name}: two columns name the same attribute ({', '.join(table.frame.columns)})")
    return table


def _attribute_name(column: str) -> str:
    name = column.strip().lower().removeprefix("g:").replace(" ", "_").replace("-", "_")
    return name


def _read_xml(raw: bytes, *, name: str) -> Table:
    try:
        root = fromstring(raw)
    except DefusedXmlException as error:
        raise ValidationError(f"{name}: refused, the XML declares entities or external references ({error})") from error
    except ParseError as error:
        raise ValidationError(f"{name} is not well-formed XML: {error}") from error
    if root.tag == "rss":
        items = root.findall("./channel/item")
    elif root.tag == f"{ATOM}feed":
        items = root.findall(f"./{ATOM}entry")
    else:
        raise ValidationError(f"{name}: not an RSS 2.0 or Atom feed (root element {root.tag!r})")
    rows = [_item(item) for item in items]
    if not rows:
        raise ValidationError(f"{name}: the feed has no items")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    frame = pd.DataFrame([[row.get(column, "") for column in columns] for row in rows], columns=columns, dtype=object)
    lines = pd.Series([f"item {n}" for n in range(1, len(rows) + 1)], index=frame.index, dtype=object)
    return Table(frame=frame, lines=lines)


def _item(item: Element) -> dict[str, str]:
    """An item's attributes: `g:` elements win over the RSS / Atom ones of the same name."""
    plain: dict[str, str] = {}
    google: dict[str, str] = {}
    for child in item:
        if len(child):  # nested attributes (shipping, tax...): not product data we keep
            continue
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag.startswith(G):
            target, key = google, tag.removeprefix(G)
        else:
            target, key = plain, tag.removeprefix(ATOM)
            key = {"summary": "description", "content": "description"}.get(key, key)
        text = (child.text or "").strip()
        if key == "link" and not text:
            text = child.get("href", "")
        if key in target and key in ("additional_image_link", "product_type") and text:
            target[key] = f"{target[key]}, {text}" if key == "additional_image_link" else target[key]
            continue
        target.setdefault(key, text)
    return {**plain, **google}
