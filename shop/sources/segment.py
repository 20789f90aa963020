"""Segment's tracking API (also spoken by RudderStack): batches of track / identify / alias / page calls.

The e-commerce spec v2 events become interactions:

    Product Viewed, Product Clicked          -> view of the product named
    Product List Viewed                      -> a view of each product listed
    Product Added                            -> cart (quantity)
    Order Completed                          -> a purchase per product line (order_id, quantity, price, currency,
                                                coupon of the line or of the order)
    Order Refunded                           -> a return per product line; with no lines, of every line the
                                                order's purchases recorded

A product is named by `product_id`, else `sku` (our SKU is the shop's product id, as Shopify's and WooCommerce's
webhooks give it). `identify` upserts the customer with its traits (email, name, address, and the consents
`email_consent` / `sms_consent` / `push_consent` when sent); `identify` with an anonymousId and `alias`
(previousId -> userId) join an anonymous visitor to the customer. Any other event or call is accepted and counted
by name. `messageId` plus the line index is the event's idempotency key, so a retried batch adds nothing.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from shop import services
from shop.bulk import sqlite_writer_turn
from shop.models import ApiClient, Customer, Interaction, InteractionKind, InteractionSource
from shop.sources.models import Outcome, Source
from shop.sources.services import (
    Tally,
    anonymous_customer_id,
    check_source_events,
    count_delivery,
    customer_ids_for_anonymous,
    event_outcome,
    hashed_id,
    join_anonymous_visitors,
    send_checked_events_to,
    store_source_events,
)

# Plain strings (the choices' values): this runs for every message.
VIEW, CART, PURCHASE, RETURN = (
    InteractionKind.VIEW.value,
    InteractionKind.CART.value,
    InteractionKind.PURCHASE.value,
    InteractionKind.RETURN.value,
)
APP, WEB = InteractionSource.APP.value, InteractionSource.WEB.value
EVENT_KINDS = {
    "Product Viewed": VIEW,
    "Product Clicked": VIEW,
    "Product List Viewed": VIEW,
    "Product Added": CART,
    "Order Completed": PURCHASE,
    "Order Refunded": RETURN,
}
LINE_EVENTS = frozenset({"Product List Viewed", "Order Completed", "Order Refunded"})
MESSAGE_TYPES = frozenset({"track", "identify", "alias", "page", "screen", "group"})
CONSENT_TRAITS = ("email_consent", "sms_consent", "push_consent")
# Traits kept as customer fields; other plain traits go to `attributes`.
KNOWN_TRAITS = frozenset({"email", "name", "firstName", "lastName", "first_name", "last_name", "address", "id"})
MAX_ATTRIBUTE_TRAITS = 30


class MessageError(ValueError):
    """A message that cannot be used, with the reason counted on the source."""


def _text(value: Any, name: str, *, max_length: int = 64, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise MessageError(f"{name} missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MessageError(f"{name} is not a string")
    value = str(value)
    if len(value) > max_length:
        raise MessageError(f"{name} longer than {max_length} characters")
    if "\x00" in value:
        raise MessageError(f"{name} contains a NUL character")
    return value


def _message_id(message: Mapping[str, Any]) -> str:
    raw = message.get("messageId")
    if isinstance(raw, str | int) and not isinstance(raw, bool) and str(raw):
        return str(raw)
    # No messageId (the SDKs always send one): the content itself, so a resent copy is still recognised.
    return "content-" + hashlib.blake2b(orjson.dumps(message, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def _product_key(product: Any) -> str:
    if not isinstance(product, dict):
        raise MessageError("a product is not an object")
    for name in ("product_id", "sku", "id"):
        value = product.get(name)
        if value not in (None, ""):
            return _text(value, name)
    raise MessageError("product has neither product_id nor sku")


def _quantity(product: Mapping[str, Any]) -> int:
    quantity = product.get("quantity", 1)
    if quantity is None:
        return 1
    if isinstance(quantity, float) and quantity.is_integer():
        return int(quantity)
    if isinstance(quantity, str) and quantity.strip().isdigit():
        return int(quantity)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise MessageError("quantity is not an integer")
    return quantity


def _line_amount(product: Mapping[str, Any], quantity: int) -> str | None:
    price = product.get("price")
    if price is None or price == "":
        return None
    if isinstance(price, bool) or not isinstance(price, int | float | str):
        raise MessageError("price is not a number")
    try:
        return str(Decimal(str(price)) * quantity)
    except InvalidOperation as exc:
        raise MessageError("price is not a number") from exc


def _occurred_at(message: Mapping[str, Any]) -> str | None:
    value = message.get("timestamp") or message.get("originalTimestamp")
    return value if isinstance(value, str) else None


def interaction_events(message: Mapping[str, Any], *, customer_id: str, message_id: str) -> list[dict[str, Any]]:
    """The events a track call of the e-commerce spec becomes, for `record_events` (empty: not an interaction)."""
    name = message.get("event")
    kind = EVENT_KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        return []
    properties = message.get("properties") or {}
    if not isinstance(properties, dict):
        raise MessageError("properties is not an object")
    common = {
        "customer_id": customer_id,
        "kind": kind,
        "occurred_at": _occurred_at(message),
        "source": _source(message),
    }
    if name not in LINE_EVENTS:
        quantity = _quantity(properties) if kind == CART else 1
        return [{**common, "event_id": _event_id(message_id, 0), "sku": _product_key(properties), "quantity": quantity}]
    products = properties.get("products") or []
    if not isinstance(products, list):
        raise MessageError("products is not a list")
    order_ref = _text(properties.get("order_id"), "order_id", required=False)
    currency = properties.get("currency") or ""
    events = []
    for index, product in enumerate(products):
        # An order is stored whole or not at all (a part of it would misstate its revenue): a bad line rejects
        # the message, naming the line.
        try:
            sku = _product_key(product)
            event = {**common, "event_id": _event_id(message_id, index), "sku": sku}
            if kind in (PURCHASE, RETURN):
                quantity = _quantity(product)
                coupon = product.get("coupon") or properties.get("coupon") or ""
                event.update(
                    quantity=quantity,
                    amount=_line_amount(product, quantity),
                    currency=currency,
                    order_ref=order_ref,
                    coupon=_text(coupon, "coupon", required=False),
                )
        except MessageError as error:
            raise MessageError(f"products[{index}]: {error}") from error
        events.append(event)
    if not events and kind == RETURN and order_ref:
        events = _whole_order_returns(order_ref=order_ref, common=common, message_id=message_id)
        if not events:
            raise MessageError(f"{name} names no products, and no purchase with order_id {order_ref!r} is known")
    if not events:
        raise MessageError(f"{name} names no products")
    return events


def _whole_order_returns(*, order_ref: str, common: dict[str, Any], message_id: str) -> list[dict[str, Any]]:
    """An Order Refunded without product lines refunds the whole order: a return of each purchased line."""
    lines = (
        Interaction.objects.filter(order_ref=order_ref, kind=InteractionKind.PURCHASE)
        .order_by("pk")
        .values_list("product__sku", "quantity", "amount", "coupon")
    )
    return [
        {
            **common,
            "event_id": _event_id(message_id, index),
            "sku": sku,
            "quantity": quantity,
            "amount": str(amount) if amount is not None else None,
            "order_ref": order_ref,
            "coupon": coupon,
        }
        for index, (sku, quantity, amount, coupon) in enumerate(lines)
    ]


def _event_id(message_id: str, line: int) -> str:
    return hashed_id("seg:", f"{message_id}:{line}", max_length=100)


def _source(message: Mapping[str, Any]) -> str:
    context = message.get("context")
    library = context.get("library") if isinstance(context, dict) else None
    name = library.get("name", "") if isinstance(library, dict) else ""
    return _library_source(name) if isinstance(name, str) else WEB


@functools.lru_cache(maxsize=256)
def _library_source(name: str) -> str:
    """App for the mobile SDKs, web for the others (a batch names the same library a hundred times)."""
    return APP if "ios" in name or "android" in name or "react-native" in name else WEB


def _traits(message: Mapping[str, Any]) -> Any:
    """identify's traits: at the top (Segment) or in context.traits (RudderStack), the top winning."""
    context = message.get("context")
    in_context = context.get("traits") if isinstance(context, Mapping) else None
    traits = message.get("traits")
    if isinstance(in_context, Mapping) and in_context:
        return {**in_context, **traits} if isinstance(traits, Mapping) else in_context
    return traits or {}


def customer_data(traits: Any) -> dict[str, Any]:
    """Customer fields from identify traits (Segment's reserved traits, plus our consent booleans)."""
    if not isinstance(traits, Mapping):
        raise MessageError("traits is not an object")
    data: dict[str, Any] = {}
    email = traits.get("email")
    if email:
        if not isinstance(email, str):
            raise MessageError("email is not a string")
        try:
            validate_email(email)
        except ValidationError as exc:
            raise MessageError("email is not a valid address") from exc
        data["email"] = email
    name = traits.get("name")
    if not name:
        first = traits.get("firstName") or traits.get("first_name") or ""
        last = traits.get("lastName") or traits.get("last_name") or ""
        name = f"{first} {last}".strip() if isinstance(first, str) and isinstance(last, str) else ""
    if name:
        data["name"] = _text(name, "name", max_length=200)
    address = traits.get("address")
    if isinstance(address, Mapping):
        for field, keys, limit in (
            ("city", ("city",), 100),
            ("postal_code", ("postal_code", "postalCode", "zip"), 20),
            ("country", ("country",), 100),
        ):
            value = next((address[key] for key in keys if address.get(key)), "")
            if value:
                data[field] = _text(value, field, max_length=limit)
    for consent in CONSENT_TRAITS:
        if consent in traits:
            if not isinstance(traits[consent], bool):
                raise MessageError(f"{consent} is not true or false")
            data[consent] = traits[consent]
    extras = {
        key: value
        for key, value in traits.items()
        if key not in KNOWN_TRAITS and key not in CONSENT_TRAITS and isinstance(value, str | int | float | bool)
    }
    if extras:
        data["attributes"] = dict(list(extras.items())[:MAX_ATTRIBUTE_TRAITS])
    return data


@dataclass
class _Batch:
    """A batch translated, before anything is stored: the events and profile changes it asks for."""

    size: int
    events: list[dict[str, Any]] = field(default_factory=list)
    # (message position, first event, end) for track calls
    owners: list[tuple[int, int, int]] = field(default_factory=list)
    # events of visitors known by their anonymous id only: (event index, anonymous id). They name the visitor's
    # stub customer until the lookup in the writer turn finds the customer it was joined to.
    anonymous_events: list[tuple[int, str]] = field(default_factory=list)
    identifies: dict[str, dict[str, Any]] = field(default_factory=dict)  # userId -> traits, merged in order
    identify_positions: dict[str, list[int]] = field(default_factory=dict)
    joins: dict[str, str] = field(default_factory=dict)  # anonymousId -> userId
    outcomes: dict[int, tuple[Outcome, str]] = field(default_factory=dict)
    topics: Counter = field(default_factory=Counter)


def record_segment_batch(*, messages: list[Any], source: Source, client: ApiClient | None) -> Tally:
    """Store a batch of Segment messages; returns what became of each (counted on `source` too).

    The messages are translated and their events checked first, outside any lock (as the events API checks its
    events before its writer turn); then the events, profiles, customers and the source's counts are written in
    one writer turn and one transaction: one commit per batch, and a batch that fails leaves nothing behind (the
    SDK retries it whole).
    """
    batch = _translate(messages)
    checked = check_source_events(events=batch.events)
    with sqlite_writer_turn(), transaction.atomic():
        return _store(batch, checked, source=source, client=client)


def _translate(messages: list[Any]) -> _Batch:
    batch = _Batch(size=len(messages))
    events, outcomes = batch.events, batch.outcomes
    for position, message in enumerate(messages):
        try:
            if not isinstance(message, dict):
                raise MessageError("message is not an object")
            kind = message.get("type")
            batch.topics[str(message.get("event") if kind == "track" else kind)[:40].replace("\x00", "")] += 1
            if kind not in MESSAGE_TYPES:
                raise MessageError(f"unknown type {str(kind)[:40]!r}")
            user_id = _text(message.get("userId"), "userId", required=False)
            anonymous_id = _text(message.get("anonymousId"), "anonymousId", max_length=100, required=False)
            if kind == "alias":
                previous = _text(message.get("previousId"), "previousId", max_length=100)
                batch.joins[previous] = _text(user_id, "userId")
                outcomes[position] = (Outcome.ACCEPTED, "")
                continue
            if not user_id and not anonymous_id:
                raise MessageError("neither userId nor anonymousId")
            if kind == "identify":
                if not user_id:
                    outcomes[position] = (Outcome.IGNORED, "identify of an anonymous visitor")
                    continue
                data = customer_data(_traits(message))
                stored = batch.identifies.setdefault(user_id, {})
                attributes = {**stored.get("attributes", {}), **data.pop("attributes", {})}
                stored.update(data)
                if attributes:
                    stored["attributes"] = attributes
                batch.identify_positions.setdefault(user_id, []).append(position)
                if anonymous_id:
                    batch.joins[anonymous_id] = user_id
                outcomes[position] = (Outcome.ACCEPTED, "")
                continue
            if kind != "track":
                outcomes[position] = (Outcome.IGNORED, f"{kind} call")
                continue
            customer_id = user_id or anonymous_customer_id(anonymous_id)
            lines = interaction_events(message, customer_id=customer_id, message_id=_message_id(message))
            if not lines:
                name = message.get("event")
                outcomes[position] = (Outcome.IGNORED, f"event {name!r}"[:150] if name else "track without event")
                continue
            first = len(events)
            if not user_id:
                batch.anonymous_events.extend((index, anonymous_id) for index in range(first, first + len(lines)))
            batch.owners.append((position, first, first + len(lines)))
            events.extend(lines)
        except MessageError as error:
            outcomes[position] = (Outcome.REJECTED, str(error))
    return batch


def _store(batch: _Batch, checked: list[services.CheckedEvents], *, source: Source, client: ApiClient | None) -> Tally:
    outcomes = batch.outcomes
    if batch.anonymous_events:
        customers = customer_ids_for_anonymous(anonymous_ids={anonymous for _, anonymous in batch.anonymous_events})
        send_checked_events_to(
            checked, customers={index: customers[anonymous_id] for index, anonymous_id in batch.anonymous_events}
        )
    results = store_source_events(checked=checked, client=client)
    for position, start, end in batch.owners:
        outcomes[position] = event_outcome(results[start:end])

    _upsert_identified(batch.identifies, batch.identify_positions, outcomes)
    if batch.joins:
        for user_id in set(batch.joins.values()) - set(batch.identifies):
            Customer.objects.get_or_create(external_id=user_id, defaults={"is_stub": True})
        join_anonymous_visitors(pairs=batch.joins)
    tally = Tally(topics=batch.topics)
    for position in range(batch.size):
        tally.add(*outcomes[position])
    topic = ", ".join(f"{name} ×{count}" for name, count in tally.topics.most_common(5))
    count_delivery(source=source, tally=tally, topic=topic)
    return tally


def _upsert_identified(
    identifies: dict[str, dict[str, Any]], positions: dict[str, list[int]], outcomes: dict[int, tuple[Outcome, str]]
) -> None:
    if not identifies:
        return
    try:
        with transaction.atomic():
            services.upsert_customers(customers=[{**data, "external_id": key} for key, data in identifies.items()])
        return
    except ValidationError:
        pass  # one bad customer refuses the batch: upsert each, so only the bad ones are rejected
    for key, data in identifies.items():
        try:
            with transaction.atomic():
                services.upsert_customer(external_id=key, data=data)
        except ValidationError as error:
            reason = "; ".join(error.messages)[:150]
            for position in positions[key]:
                outcomes[position] = (Outcome.REJECTED, f"identify: {reason}")
