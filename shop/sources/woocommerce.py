"""WooCommerce webhook topics (REST API v3 payloads), translated to customers, products and interactions.

Keys: WooCommerce's customer id (a guest order: its billing e-mail) and product id. An order whose status is
`completed` is a purchase per line item; `refunded`, a return per line item; other statuses only update the
customer. Keys are order and line ids, so `order.created` and `order.updated` store each line once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import strip_tags
from django.utils.text import slugify

from shop import services
from shop.bulk import sqlite_writer_turn
from shop.models import InteractionKind
from shop.sources.models import Outcome, Source
from shop.sources.services import Tally, event_outcome, hashed_id, record_source_events, upsert_source_product

KINDS_BY_STATUS = {"completed": InteractionKind.PURCHASE, "refunded": InteractionKind.RETURN}


def _id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or str(value) in ("", "0"):
        return ""
    return str(value)


def _money(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _utc(value: Any) -> str | None:
    # WooCommerce's *_gmt dates are UTC without an offset, which record_events reads as UTC.
    return value if isinstance(value, str) and value else None


def customer_data(customer: Mapping[str, Any]) -> dict[str, Any]:
    billing = customer.get("billing") if isinstance(customer.get("billing"), Mapping) else {}
    data: dict[str, Any] = {}
    email = customer.get("email") or billing.get("email")
    if email:
        data["email"] = email
    first = customer.get("first_name") or billing.get("first_name") or ""
    last = customer.get("last_name") or billing.get("last_name") or ""
    if f"{first} {last}".strip():
        data["name"] = f"{first} {last}".strip()[:200]
    for field, key in (("city", "city"), ("postal_code", "postcode"), ("country", "country")):
        if billing.get(key):
            data[field] = str(billing[key])
    return data


def _upsert_customer(external_id: str, data: dict[str, Any], *, tally: Tally) -> bool:
    try:
        with sqlite_writer_turn(), transaction.atomic():
            services.upsert_customer(external_id=external_id, data=data)
    except ValidationError as error:
        tally.add(Outcome.REJECTED, f"customer: {'; '.join(error.messages)[:150]}")
        return False
    return True


def order(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    order_id = _id(payload.get("id"))
    billing = payload.get("billing") if isinstance(payload.get("billing"), Mapping) else {}
    customer_id = _id(payload.get("customer_id"))
    if not customer_id and isinstance(billing.get("email"), str) and billing["email"]:
        customer_id = hashed_id("woocommerce-guest:", billing["email"].lower(), max_length=64)
    if not order_id or not customer_id:
        tally.add(Outcome.REJECTED, "order without id or customer")
        return
    if not _upsert_customer(customer_id, customer_data({"billing": billing}), tally=tally):
        return
    status = payload.get("status")
    kind = KINDS_BY_STATUS.get(status) if isinstance(status, str) else None
    if kind is None:
        tally.add(Outcome.IGNORED, f"order status {str(status)[:40]!r}")
        return
    coupons = [c.get("code") for c in payload.get("coupon_lines") or [] if isinstance(c, Mapping) and c.get("code")]
    prefix = "woocommerce:order:" if kind == InteractionKind.PURCHASE else "woocommerce:return:"
    when = payload.get("date_completed_gmt") if kind == InteractionKind.PURCHASE else payload.get("date_modified_gmt")
    events = []
    for line in payload.get("line_items") or []:
        if not isinstance(line, Mapping):
            continue
        sku = _id(line.get("product_id")) or _id(line.get("sku"))
        if not sku:
            continue
        total = _money(line.get("total"))
        events.append(
            {
                "event_id": hashed_id(prefix, f"{order_id}:{_id(line.get('id'))}", max_length=100),
                "customer_id": customer_id,
                "sku": sku,
                "kind": kind.value,
                "quantity": line.get("quantity") or 1,
                "amount": str(total) if total is not None and total >= 0 else None,
                "currency": payload.get("currency") or "",
                "order_ref": order_id,
                "coupon": str(coupons[0])[:64] if coupons and kind == InteractionKind.PURCHASE else "",
                "occurred_at": _utc(when) or _utc(payload.get("date_created_gmt")),
            }
        )
    if not events:
        tally.add(Outcome.REJECTED, "no product lines")
        return
    tally.add(*event_outcome(record_source_events(events=events, client=None)))


def product_data(product: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": str(product.get("name") or "")[:300],
        "description": strip_tags(product.get("description") or product.get("short_description") or ""),
        "is_active": product.get("status", "publish") == "publish",
    }
    price = _money(product.get("regular_price")) or _money(product.get("price"))
    if price is not None and price >= 0:
        data["price"] = price
    if product.get("manage_stock") and isinstance(product.get("stock_quantity"), int):
        data["stock"] = max(product["stock_quantity"], 0)
    categories = [c for c in product.get("categories") or [] if isinstance(c, Mapping) and c.get("name")]
    if categories and slugify(categories[0].get("slug") or categories[0]["name"]):
        data["category"] = slugify(categories[0].get("slug") or categories[0]["name"])[:100]
        data["category_name"] = str(categories[0]["name"])[:200]
    attributes: dict[str, Any] = {}
    images = [i for i in product.get("images") or [] if isinstance(i, Mapping) and i.get("src")]
    if images:
        attributes["image_link"] = images[0]["src"]
    if product.get("permalink"):
        attributes["link"] = product["permalink"]
    sale_price = _money(product.get("sale_price"))
    if sale_price is not None:
        attributes["sale_price"] = str(sale_price)
    if product.get("sku"):
        attributes["shop_sku"] = product["sku"]
    if len(categories) > 1:
        attributes["categories"] = [str(c["name"]) for c in categories]
    if attributes:
        data["attributes"] = attributes
    return data


def product(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    sku = _id(payload.get("id"))
    upsert_source_product(sku=sku, data=product_data(payload) if sku else {}, tally=tally)


def customer(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    customer_id = _id(payload.get("id"))
    if not customer_id:
        tally.add(Outcome.REJECTED, "customer without id")
        return
    if _upsert_customer(customer_id, customer_data(payload), tally=tally):
        tally.add(Outcome.ACCEPTED)


TOPICS: dict[str, Callable[..., None]] = {
    "order.created": order,
    "order.updated": order,
    "product.created": product,
    "product.updated": product,
    "customer.created": customer,
    "customer.updated": customer,
}
