"""Signed webhooks (Shopify, WooCommerce): the signature is checked on the raw body before anything is parsed, a
redelivery (same delivery id) adds nothing, and each topic is handed to its translator.

Every effect of a topic is idempotent by construction (interactions keyed by order and line ids, customers and
products upserted), so a redelivery racing the first delivery stores nothing twice either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.db.models import F

from shop.bulk import sqlite_writer_turn
from shop.sources.models import Outcome, Source, SourceKind
from shop.sources.services import Tally, count_delivery, delivery_seen

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """What a webhook's headers say, per shop platform."""

    signature: str
    topic: str
    delivery_id: str
    shop: str


def _shopify_headers(headers: Mapping[str, str]) -> Delivery:
    return Delivery(
        signature=headers.get("X-Shopify-Hmac-Sha256", ""),
        topic=headers.get("X-Shopify-Topic", ""),
        delivery_id=headers.get("X-Shopify-Webhook-Id", ""),
        shop=headers.get("X-Shopify-Shop-Domain", ""),
    )


def _woocommerce_headers(headers: Mapping[str, str]) -> Delivery:
    return Delivery(
        signature=headers.get("X-WC-Webhook-Signature", ""),
        topic=headers.get("X-WC-Webhook-Topic", ""),
        delivery_id=headers.get("X-WC-Webhook-Delivery-ID", ""),
        shop=headers.get("X-WC-Webhook-Source", ""),
    )


HEADERS: dict[str, Callable[[Mapping[str, str]], Delivery]] = {
    SourceKind.SHOPIFY: _shopify_headers,
    SourceKind.WOOCOMMERCE: _woocommerce_headers,
}


def signature(secret: str, body: bytes) -> str:
    """base64 of the HMAC-SHA256 of the raw body with the shared secret, as both platforms sign."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signed_source(*, kind: str, body: bytes, delivery: Delivery) -> Source | None:
    """The active source of this kind whose secret signed the body (compared in constant time), or None."""
    if not delivery.signature:
        return None
    sent = delivery.signature.strip().encode()
    candidates = list(Source.objects.filter(kind=kind, is_active=True).exclude(secret=""))
    shop = _domain(delivery.shop)
    # The source naming this shop first; the others (blank domain, or a shop moved to a new domain) after.
    candidates.sort(key=lambda source: _domain(source.shop_domain) != shop)
    for source in candidates:
        if hmac.compare_digest(signature(source.secret, body).encode(), sent):
            return source
    return None


def _domain(value: str) -> str:
    value = value.strip().lower()
    for prefix in ("https://", "http://"):
        value = value.removeprefix(prefix)
    return value.rstrip("/")


def receive(*, kind: str, body: bytes, headers: Mapping[str, str]) -> Answer:
    """Verify, deduplicate and apply one webhook delivery."""
    from shop.sources import shopify, woocommerce

    delivery = HEADERS[kind](headers)
    source = signed_source(kind=kind, body=body, delivery=delivery)
    if source is None:
        logger.warning("%s webhook with a missing or bad signature (topic %r) refused", kind, delivery.topic)
        return Answer(401, {"detail": "Missing or bad webhook signature.", "code": "bad_signature"})
    if delivery_seen(source=source, delivery_id=delivery.delivery_id):
        return _duplicate(source)
    if kind == SourceKind.WOOCOMMERCE and body.startswith(b"webhook_id="):
        return Answer(200, {"ping": True})  # WooCommerce's test delivery when a webhook is saved
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Answer(400, {"detail": f"JSON parse error - {exc}", "code": "parse_error"})
    if not isinstance(payload, dict):
        return Answer(400, {"detail": "The payload must be a JSON object.", "code": "parse_error"})
    handlers = shopify.TOPICS if kind == SourceKind.SHOPIFY else woocommerce.TOPICS
    tally = Tally()
    handler = handlers.get(delivery.topic)
    if handler is None:
        tally.add(Outcome.IGNORED, f"topic {delivery.topic[:100]!r}")
    else:
        handler(source=source, payload=payload, tally=tally)
    try:
        with sqlite_writer_turn(), transaction.atomic():
            count_delivery(source=source, tally=tally, topic=delivery.topic, delivery_id=delivery.delivery_id[:100])
    except IntegrityError:  # the same delivery, applied concurrently: its effects are idempotent
        return _duplicate(source)
    return Answer(200, {"success": True, **tally.as_dict()})


def _duplicate(source: Source) -> Answer:
    with sqlite_writer_turn():
        Source.objects.filter(pk=source.pk).update(duplicate=F("duplicate") + 1)
    return Answer(200, {"success": True, "duplicate": 1})
