"""Shopify webhook topics, translated to the shop's customers, products and interactions.

Keys: a customer's external_id is Shopify's customer id, a product's SKU is Shopify's product id (the variants'
own SKUs are kept in `attributes`). A paid order (`orders/paid`, or `orders/create` already paid) is a purchase
per line item, keyed by order and line ids so both topics store it once; `refunds/create` is a return per
refunded line. The privacy topics call the shop's export and erasure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils.html import strip_tags
from django.utils.text import slugify

from shop import privacy, services
from shop.bulk import sqlite_writer_turn
from shop.models import Customer, Interaction, InteractionKind
from shop.sources.models import Outcome, Source
from shop.sources.services import Tally, event_outcome, hashed_id, record_source_events, upsert_source_product

SHOP_ATTRIBUTE = "shopify_shop"
PAID = frozenset({"paid", "partially_refunded", "refunded"})


def _id(value: Any) -> str:
    return str(value) if isinstance(value, int | str) and not isinstance(value, bool) and str(value) else ""


def _money(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _consent(value: Any) -> bool | None:
    if isinstance(value, Mapping) and isinstance(value.get("state"), str):
        return value["state"] == "subscribed"
    return None


def customer_data(customer: Mapping[str, Any], *, shop: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if customer.get("email"):
        data["email"] = customer["email"]
    name = " ".join(part for part in (customer.get("first_name"), customer.get("last_name")) if part)
    if name:
        data["name"] = name[:200]
    address = customer.get("default_address")
    if isinstance(address, Mapping):
        for field, key in (("city", "city"), ("postal_code", "zip"), ("country", "country")):
            if address.get(key):
                data[field] = str(address[key])
    for field, key in (("email_consent", "email_marketing_consent"), ("sms_consent", "sms_marketing_consent")):
        given = _consent(customer.get(key))
        if given is not None:
            data[field] = given
    data["attributes"] = {SHOP_ATTRIBUTE: shop}
    return data


def _upsert_customer(customer: Any, *, source: Source, tally: Tally | None) -> str:
    """The customer's external_id after upserting it; "" (and a rejection counted) when it cannot be."""
    if not isinstance(customer, Mapping) or not _id(customer.get("id")):
        return ""
    external_id = _id(customer["id"])
    try:
        with sqlite_writer_turn(), transaction.atomic():
            services.upsert_customer(external_id=external_id, data=customer_data(customer, shop=_shop(source)))
    except ValidationError as error:
        if tally is not None:
            tally.add(Outcome.REJECTED, f"customer: {'; '.join(error.messages)[:150]}")
        return ""
    return external_id


def _shop(source: Source) -> str:
    return source.shop_domain or source.name


def _order_customer(order: Mapping[str, Any], *, source: Source, tally: Tally) -> str:
    external_id = _upsert_customer(order.get("customer"), source=source, tally=None)
    if external_id:
        return external_id
    email = order.get("email") or order.get("contact_email")
    if isinstance(email, str) and email:
        return hashed_id("shopify-guest:", email.lower(), max_length=64)
    return ""


def orders_paid(*, source: Source, payload: Mapping[str, Any], tally: Tally, require_paid: bool = False) -> None:
    if require_paid and payload.get("financial_status") not in PAID:
        _upsert_customer(payload.get("customer"), source=source, tally=None)
        tally.add(Outcome.IGNORED, f"order not paid yet ({payload.get('financial_status')})")
        return
    order_id = _id(payload.get("id"))
    customer_id = _order_customer(payload, source=source, tally=tally)
    if not order_id or not customer_id:
        tally.add(Outcome.REJECTED, "order without id or customer")
        return
    codes = [c.get("code") for c in payload.get("discount_codes") or [] if isinstance(c, Mapping) and c.get("code")]
    events = []
    for line in payload.get("line_items") or []:
        if not isinstance(line, Mapping):
            continue
        sku = _id(line.get("product_id")) or _id(line.get("sku"))
        if not sku:
            continue  # a custom line (no product): nothing to recommend
        quantity = line.get("quantity") or 1
        price = _money(line.get("price"))
        amount = None
        if price is not None and isinstance(quantity, int):
            amount = max(price * quantity - (_money(line.get("total_discount")) or 0), Decimal(0))
        events.append(
            {
                "event_id": hashed_id("shopify:order:", f"{order_id}:{_id(line.get('id'))}", max_length=100),
                "customer_id": customer_id,
                "sku": sku,
                "kind": InteractionKind.PURCHASE.value,
                "quantity": quantity,
                "amount": str(amount) if amount is not None else None,
                "currency": payload.get("currency") or "",
                "order_ref": order_id,
                "coupon": str(codes[0])[:64] if codes else "",
                "occurred_at": payload.get("processed_at") or payload.get("created_at"),
            }
        )
    _record(events, tally=tally)


def orders_create(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    orders_paid(source=source, payload=payload, tally=tally, require_paid=True)


def refunds_create(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    order_id = _id(payload.get("order_id"))
    refund_id = _id(payload.get("id"))
    purchase = (
        Interaction.objects.filter(order_ref=order_id, kind=InteractionKind.PURCHASE).select_related("customer").first()
        if order_id
        else None
    )
    if purchase is None or not refund_id:
        tally.add(Outcome.REJECTED, "refund of an order never received")
        return
    events = []
    for line in payload.get("refund_line_items") or []:
        if not isinstance(line, Mapping):
            continue
        item = line.get("line_item") if isinstance(line.get("line_item"), Mapping) else {}
        sku = _id(item.get("product_id")) or _id(item.get("sku"))
        if not sku:
            continue
        subtotal = _money(line.get("subtotal"))
        events.append(
            {
                "event_id": hashed_id("shopify:refund:", f"{refund_id}:{_id(line.get('id'))}", max_length=100),
                "customer_id": purchase.customer.external_id,
                "sku": sku,
                "kind": InteractionKind.RETURN.value,
                "quantity": line.get("quantity") or 1,
                "amount": str(subtotal) if subtotal is not None and subtotal >= 0 else None,
                "order_ref": order_id,
                "occurred_at": payload.get("processed_at") or payload.get("created_at"),
            }
        )
    _record(events, tally=tally)


def _record(events: list[dict[str, Any]], *, tally: Tally) -> None:
    if not events:
        tally.add(Outcome.REJECTED, "no product lines")
        return
    tally.add(*event_outcome(record_source_events(events=events, client=None)))


def product_data(product: Mapping[str, Any]) -> dict[str, Any]:
    variants = [v for v in product.get("variants") or [] if isinstance(v, Mapping)]
    prices = [p for p in (_money(v.get("price")) for v in variants) if p is not None and p >= 0]
    data: dict[str, Any] = {
        "name": str(product.get("title") or "")[:300],
        "description": strip_tags(product.get("body_html") or ""),
        "is_active": product.get("status", "active") == "active",
    }
    if prices:
        data["price"] = min(prices)
    quantities = [v["inventory_quantity"] for v in variants if isinstance(v.get("inventory_quantity"), int)]
    if quantities:
        data["stock"] = max(sum(quantities), 0)
    product_type = product.get("product_type")
    if isinstance(product_type, str) and slugify(product_type):
        data["category"] = slugify(product_type)[:100]
        data["category_name"] = product_type[:200]
    image = product.get("image")
    images = product.get("images") or []
    src = image.get("src") if isinstance(image, Mapping) else None
    if not src and images and isinstance(images[0], Mapping):
        src = images[0].get("src")
    attributes: dict[str, Any] = {}
    if src:
        attributes["image_link"] = src
    for key in ("vendor", "handle"):
        if product.get(key):
            attributes["brand" if key == "vendor" else key] = product[key]
    tags = product.get("tags")
    if isinstance(tags, str) and tags.strip():
        attributes["tags"] = [tag.strip() for tag in re.split(r",", tags) if tag.strip()]
    skus = [v.get("sku") for v in variants if v.get("sku")]
    if skus:
        attributes["variant_skus"] = skus[:50]
    if attributes:
        data["attributes"] = attributes
    return data


def products_upsert(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    sku = _id(payload.get("id"))
    upsert_source_product(sku=sku, data=product_data(payload) if sku else {}, tally=tally)


def customers_upsert(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    if _upsert_customer(payload, source=source, tally=tally):
        tally.add(Outcome.ACCEPTED)
    elif not tally.rejected:
        tally.add(Outcome.REJECTED, "customer without id")


# --- privacy ---------------------------------------------------------------------------------------------------


def _privacy_customer(payload: Mapping[str, Any]) -> Customer | None:
    customer = payload.get("customer")
    external_id = _id(customer.get("id")) if isinstance(customer, Mapping) else ""
    return Customer.objects.filter(external_id=external_id).first() if external_id else None


def customers_data_request(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    """The customer's data, exported (audited) to the media storage for the shop to hand over."""
    customer = _privacy_customer(payload)
    if customer is None:
        tally.add(Outcome.IGNORED, "data request for a customer we hold nothing about")
        return
    document = privacy.export_customer(customer=customer)
    request = payload.get("data_request")
    request_id = _id(request.get("id")) if isinstance(request, Mapping) else ""
    name = f"privacy/shopify/{source.pk}/data-request-{request_id or customer.pk}.json"
    body = orjson.dumps(document, default=DjangoJSONEncoder().default)
    tally.add(Outcome.ACCEPTED)
    tally.notes.append(f"export saved to {default_storage.save(name, ContentFile(body))}")


def _erase(customers, *, source: Source) -> int:
    erased = 0
    for customer in customers:
        audit = privacy.erase_customer(customer=customer)
        audit.actor = f"Shopify webhook ({source.name})"[:150]
        audit.save(update_fields=["actor"])
        erased += 1
    return erased


def customers_redact(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    customer = _privacy_customer(payload)
    if customer is None:
        tally.add(Outcome.IGNORED, "redact of a customer we hold nothing about")
        return
    _erase([customer], source=source)
    tally.add(Outcome.ACCEPTED)


def shop_redact(*, source: Source, payload: Mapping[str, Any], tally: Tally) -> None:
    """The shop uninstalled us 48 hours ago: erase every customer its webhooks brought, and stop listening."""
    shop = _shop(source)
    erased = _erase(Customer.objects.filter(**{f"attributes__{SHOP_ATTRIBUTE}": shop}).iterator(), source=source)
    Source.objects.filter(pk=source.pk).update(is_active=False)
    tally.add(Outcome.ACCEPTED)
    tally.notes.append(f"shop redacted: {erased} customers erased, source deactivated")


TOPICS: dict[str, Callable[..., None]] = {
    "orders/create": orders_create,
    "orders/paid": orders_paid,
    "refunds/create": refunds_create,
    "products/create": products_upsert,
    "products/update": products_upsert,
    "customers/create": customers_upsert,
    "customers/update": customers_upsert,
    "customers/data_request": customers_data_request,
    "customers/redact": customers_redact,
    "shop/redact": shop_redact,
}
