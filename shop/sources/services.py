"""Writes shared by every source: counting what a delivery brought, webhook idempotency, anonymous visitors.

A source's messages are stored through the shop's own services (`record_events`, `upsert_customers`,
`upsert_products`): the sources only translate. What they add is bookkeeping (counters, reasons, the delivery
log) and the anonymous profiles.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from shop import services
from shop.bulk import sqlite_writer_turn
from shop.models import ApiClient, Customer, Interaction
from shop.sources.models import AnonymousProfile, Outcome, Source, SourceDelivery, SourceKind, SourceReason

# Customer.external_id holds 64 characters; an anonymous id longer than this is stored by its hash.
ANONYMOUS_PREFIX = "anon:"
MAX_REASON_LENGTH = 200
MAX_DETAIL_REASONS = 20


@dataclass
class Tally:
    """What became of the messages of one delivery: one outcome per message, with reasons."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    ignored: int = 0
    reasons: Counter = field(default_factory=Counter)  # (outcome, reason) -> count
    topics: Counter = field(default_factory=Counter)
    # Said in the delivery's log only (where a privacy export went...).
    notes: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, reason: str = "") -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)
        if reason and outcome in (Outcome.REJECTED, Outcome.IGNORED):
            self.reasons[(outcome.value, reason[:MAX_REASON_LENGTH])] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "ignored": self.ignored,
        }


# --- sources ---------------------------------------------------------------------------------------------------


SOURCE_CACHE_SECONDS = 60


def segment_source_for_client(*, client: ApiClient) -> Source:
    """The Segment source of an API key, made the first time the key sends a tracking call.

    Its id is kept a minute in the shared cache: every tracking call needs it, and only its id is used.
    """
    cache_key = f"segment-source:{client.pk}"
    source_id = cache.get(cache_key)
    if source_id is not None:
        return Source(pk=source_id, kind=SourceKind.SEGMENT, api_client=client)
    source = _segment_source(client)
    cache.set(cache_key, source.pk, SOURCE_CACHE_SECONDS)
    return source


def _segment_source(client: ApiClient) -> Source:
    source = Source.objects.filter(kind=SourceKind.SEGMENT, api_client=client).first()
    if source is not None:
        return source
    try:
        with transaction.atomic():
            return Source.objects.create(kind=SourceKind.SEGMENT, api_client=client, name=_free_name(client.name))
    except IntegrityError:  # made by a concurrent request
        return Source.objects.get(kind=SourceKind.SEGMENT, api_client=client)


def _free_name(client_name: str) -> str:
    name = f"Segment: {client_name}"[:90]
    if not Source.objects.filter(name=name).exists():
        return name
    return f"{name} {secrets.token_hex(4)}"


def new_source_secret() -> str:
    return secrets.token_urlsafe(32)


def create_webhook_source(*, name: str, kind: str, shop_domain: str = "", secret: str = "") -> tuple[Source, str]:
    """A Shopify or WooCommerce source with its signing secret (the one given, else a new random one).

    Returns the source and the secret, to paste into the shop's webhook settings; admin shows it this once.
    """
    if kind not in (SourceKind.SHOPIFY, SourceKind.WOOCOMMERCE):
        raise ValueError(f"{kind!r} is not a webhook source kind")
    source = Source(name=name, kind=kind, shop_domain=shop_domain.strip(), secret=secret or new_source_secret())
    source.full_clean()
    source.save()
    return source, source.secret


def rotate_source_secret(*, source: Source, secret: str = "") -> str:
    source.secret = secret or new_source_secret()
    source.save(update_fields=["secret", "updated_at"])
    return source.secret


def count_delivery(*, source: Source, tally: Tally, topic: str = "", delivery_id: str = "") -> None:
    """Add a delivery's outcomes to its source's counters and reasons, and log it (the admin's last events).

    Counters are incremented in the database (`SET n = n + %s`), so concurrent deliveries never lose a count.
    Call it inside the transaction that stored the delivery's messages (no savepoint of its own: this runs once
    per tracking batch, inside SQLite's single write lock). Raises IntegrityError when `delivery_id` was logged
    already (a concurrent redelivery).
    """
    counts = tally.as_dict()
    now = timezone.now()
    logged = {
        "source": source.pk,
        "delivery_id": delivery_id,
        "topic": topic[:200],
        "received_at": now,
        "detail": _detail(tally),
        **counts,
    }
    meta = SourceDelivery._meta
    with connection.cursor() as cursor:
        cursor.execute(
            _delivery_insert_sql(connection.vendor, tuple(logged)),
            [meta.get_field(name).get_db_prep_save(value, connection) for name, value in logged.items()],
        )
        cursor.execute(
            _counter_update_sql(connection.vendor),
            [*counts.values(), connection.ops.adapt_datetimefield_value(now), source.pk],
        )
    for (outcome, reason), count in tally.reasons.items():
        _count_reason(source=source, outcome=outcome, reason=reason, count=count)


# The two statements of every delivery, written out once per database vendor: through the ORM (a model saved, an
# F expression per counter) they took 1.3 ms of CPU per tracking batch to build, several times their own cost.


@functools.cache
def _delivery_insert_sql(vendor: str, names: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    meta = SourceDelivery._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in names)
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"


@functools.cache
def _counter_update_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    meta = Source._meta
    columns = [quote(meta.get_field(name).column) for name in Tally().as_dict()]
    counters = ", ".join(f"{column} = {column} + %s" for column in columns)
    last = quote(meta.get_field("last_received_at").column)
    return f"UPDATE {quote(meta.db_table)} SET {counters}, {last} = %s WHERE {quote(meta.pk.column)} = %s"


def _detail(tally: Tally) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if tally.reasons:
        detail["reasons"] = [f"{o}: {r} ×{n}" for (o, r), n in tally.reasons.most_common(MAX_DETAIL_REASONS)]
    if tally.notes:
        detail["notes"] = tally.notes
    return detail


def _count_reason(*, source: Source, outcome: str, reason: str, count: int) -> None:
    found = SourceReason.objects.filter(source=source, outcome=outcome, reason=reason)
    if found.update(count=F("count") + count, last_seen_at=timezone.now()):
        return
    try:
        with transaction.atomic():
            SourceReason.objects.create(source=source, outcome=outcome, reason=reason, count=count)
    except IntegrityError:  # created by a concurrent delivery meanwhile
        found.update(count=F("count") + count, last_seen_at=timezone.now())


def delivery_seen(*, source: Source, delivery_id: str) -> bool:
    return bool(delivery_id) and SourceDelivery.objects.filter(source=source, delivery_id=delivery_id).exists()


# --- events ----------------------------------------------------------------------------------------------------


def record_source_events(*, events: list[dict[str, Any]], client: ApiClient | None) -> list[services.EventResult]:
    """`record_events` in slices of EVENTS_MAX_BATCH; returns the results in order."""
    return store_source_events(checked=check_source_events(events=events), client=client)


def check_source_events(*, events: list[dict[str, Any]]) -> list[services.CheckedEvents]:
    """`check_events` in slices of EVENTS_MAX_BATCH (a delivery's order lines may pass it): no database work."""
    limit = settings.EVENTS_MAX_BATCH
    return [services.check_events(events=events[start : start + limit]) for start in range(0, len(events), limit)]


def send_checked_events_to(checked: list[services.CheckedEvents], *, customers: Mapping[int, str]) -> None:
    """Point checked events at other customers ({event index in the delivery: external_id}), e.g. a visitor's
    events at the customer it was joined to, found only in the writer turn. Rejected events stay as they are."""
    limit = settings.EVENTS_MAX_BATCH
    by_index = {
        number * limit + position: event for number, part in enumerate(checked) for position, event in part.valid
    }
    for index, external_id in customers.items():
        event = by_index.get(index)
        if event is not None:
            event["customer_id"] = external_id


def store_source_events(
    *, checked: list[services.CheckedEvents], client: ApiClient | None
) -> list[services.EventResult]:
    """Store the slices of `check_source_events` with the events API's own writer; the results in order."""
    results: list[services.EventResult] = []
    for part in checked:
        results.extend(services.store_checked_events(checked=part, client=client))
    return results


def event_outcome(results: Iterable[services.EventResult]) -> tuple[Outcome, str]:
    """One message's outcome from its lines' results: accepted when any line was stored."""
    statuses = [result.status for result in results]
    if services.EventStatus.ACCEPTED in statuses:
        return Outcome.ACCEPTED, ""
    if statuses and all(status == services.EventStatus.DUPLICATE for status in statuses):
        return Outcome.DUPLICATE, ""
    reasons = [result.reason for result in results if result.status == services.EventStatus.REJECTED]
    return Outcome.REJECTED, reasons[0] if reasons else "no product lines"


def hashed_id(prefix: str, value: str, *, max_length: int) -> str:
    """`prefix + value`, or its hash when that would not fit in `max_length` characters."""
    key = f"{prefix}{value}"
    if len(key) <= max_length:
        return key
    return f"{prefix}#{hashlib.blake2b(value.encode(), digest_size=16).hexdigest()}"


# --- anonymous visitors ----------------------------------------------------------------------------------------


def anonymous_customer_id(anonymous_id: str) -> str:
    """The external_id of the stub customer holding an anonymous visitor's events until it is joined."""
    return hashed_id(ANONYMOUS_PREFIX, anonymous_id, max_length=64)


def customer_ids_for_anonymous(*, anonymous_ids: set[str]) -> dict[str, str]:
    """The external_id each anonymous visitor's events go to: the customer it was joined to, else its own stub.

    Profiles are created for visitors seen for the first time (their stub customers come with their events).
    """
    if not anonymous_ids:
        return {}
    joined = dict(
        AnonymousProfile.objects.filter(anonymous_id__in=anonymous_ids, customer__isnull=False).values_list(
            "anonymous_id", "customer__external_id"
        )
    )
    new = anonymous_ids - joined.keys()
    if new:
        AnonymousProfile.objects.bulk_create(
            [AnonymousProfile(anonymous_id=anonymous_id) for anonymous_id in new], ignore_conflicts=True
        )
    return {anonymous: joined.get(anonymous) or anonymous_customer_id(anonymous) for anonymous in anonymous_ids}


@transaction.atomic
def join_anonymous_visitor(*, anonymous_id: str, customer: Customer) -> int:
    """Join an anonymous visitor to the customer it turned out to be: its history moves to the customer, once.

    Returns how many interactions moved (0 when it was joined before, to this or another customer). The stub
    customer that held the visitor's events is deleted once empty.
    """
    profile, _ = AnonymousProfile.objects.get_or_create(anonymous_id=anonymous_id)
    profile = AnonymousProfile.objects.select_for_update().get(pk=profile.pk)
    if profile.customer_id is not None:
        return 0
    holder = Customer.objects.filter(external_id=anonymous_customer_id(anonymous_id), is_stub=True).first()
    moved = 0
    if holder is not None and holder.pk != customer.pk:
        moved = Interaction.objects.filter(customer=holder).update(customer=customer)
        if not Interaction.objects.filter(customer=holder).exists():
            holder.delete()
    profile.customer = customer
    profile.merged_at = timezone.now()
    profile.moved_interactions = moved
    profile.save(update_fields=["customer", "merged_at", "moved_interactions"])
    return moved


def join_anonymous_visitors(*, pairs: Mapping[str, str]) -> int:
    """`join_anonymous_visitor` for {anonymous_id: customer external_id}; customers missing are skipped."""
    if not pairs:
        return 0
    customers = Customer.objects.in_bulk(set(pairs.values()), field_name="external_id")
    moved = 0
    for anonymous_id, external_id in pairs.items():
        customer = customers.get(external_id)
        if customer is not None:
            moved += join_anonymous_visitor(anonymous_id=anonymous_id, customer=customer)
    return moved


# --- our own events API: visitors known by the browser client's visitor id ---------------------------------------

LOGIN = "login"


def record_site_events(*, events: list[Any], client: ApiClient | None) -> list[services.EventResult]:
    """`record_events` for our own events API, which also takes visitors not signed in yet.

    An event with `anonymous_id` (the browser client's visitor id) and no `customer_id` goes to that visitor's
    profile: the customer it was joined to, else its anonymous stub. An event of kind `login` with both ids joins
    the visitor to the customer, once, as Segment's identify and alias do: its history moves to the customer. A
    login stores no interaction; it is answered accepted, or duplicate when the visitor was joined before. The
    batch's interactions are stored before its logins, so a visitor's views sent with the login move too.
    """
    if not any(isinstance(raw, dict) and ("anonymous_id" in raw or raw.get("kind") == LOGIN) for raw in events):
        return services.record_events(events=events, client=client)
    results: list[services.EventResult | None] = [None] * len(events)
    interactions: list[tuple[int, Any]] = []
    visitors: dict[int, str] = {}  # position -> anonymous id, for events with no customer id
    logins: list[tuple[int, str, str, str]] = []
    for position, raw in enumerate(events):
        is_login = isinstance(raw, dict) and raw.get("kind") == LOGIN
        if not is_login and (not isinstance(raw, dict) or "anonymous_id" not in raw or raw.get("customer_id")):
            interactions.append((position, raw))  # a customer's event (the customer id wins over a visitor id)
            continue
        errors: dict[str, str] = {}
        anonymous_id = services.read_identifier(raw, "anonymous_id", 100, errors, required=True)
        if is_login:
            event_id = services.read_identifier(raw, "event_id", 100, errors, required=True)
            customer_id = services.read_identifier(raw, "customer_id", 64, errors, required=True)
            if errors:
                results[position] = _rejected(position, event_id, errors)
            else:
                logins.append((position, event_id, customer_id, anonymous_id))
            continue
        if errors:
            results[position] = _rejected(position, str(raw.get("event_id") or ""), errors)
            continue
        visitors[position] = anonymous_id
        interactions.append((position, raw))
    holders = customer_ids_for_anonymous(anonymous_ids=set(visitors.values())) if visitors else {}
    batch = [
        {**raw, "customer_id": holders[visitors[position]]} if position in visitors else raw
        for position, raw in interactions
    ]
    stored = services.record_events(events=batch, client=client) if batch else []
    for (position, _), result in zip(interactions, stored, strict=True):
        results[position] = dataclasses.replace(result, index=position)
    for position, event_id, customer_id, anonymous_id in logins:
        results[position] = _login(position, event_id, customer_id=customer_id, anonymous_id=anonymous_id)
    return results  # type: ignore[return-value]  # every slot is filled above


def _rejected(position: int, event_id: str, errors: dict[str, str]) -> services.EventResult:
    reason = "; ".join(f"{name}: {message}" for name, message in errors.items())
    return services.EventResult(position, event_id, services.EventStatus.REJECTED, reason, errors)


def _login(position: int, event_id: str, *, customer_id: str, anonymous_id: str) -> services.EventResult:
    with sqlite_writer_turn(), transaction.atomic():
        if AnonymousProfile.objects.filter(anonymous_id=anonymous_id, customer__isnull=False).exists():
            return services.EventResult(
                position, event_id, services.EventStatus.DUPLICATE, "This visitor was joined to a customer before."
            )
        customer, _ = Customer.objects.get_or_create(external_id=customer_id, defaults={"is_stub": True})
        join_anonymous_visitor(anonymous_id=anonymous_id, customer=customer)
    return services.EventResult(position, event_id, services.EventStatus.ACCEPTED)


def upsert_source_product(*, sku: str, data: dict[str, Any], tally: Tally) -> None:
    """A webhook's product through the shop's one upsert; a refusal is counted with its reason, never raised."""
    if not sku:
        tally.add(Outcome.REJECTED, "product without id")
        return
    try:
        with sqlite_writer_turn(), transaction.atomic():
            services.upsert_product(sku=sku, data=data)
    except ValidationError as error:
        tally.add(Outcome.REJECTED, f"product: {'; '.join(error.messages)[:150]}")
        return
    tally.add(Outcome.ACCEPTED)
