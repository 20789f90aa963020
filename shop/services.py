"""Writes for the shop's data: events from the frontend, customer and catalog upserts, API clients.

Everything here is set-based: a batch of 1,000 events or upserts costs a handful of queries, never one per row.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from shop import bulk
from shop.api.authentication import forget_api_key
from shop.bulk import sqlite_writer_turn
from shop.models import (
    ApiClient,
    Category,
    Customer,
    Interaction,
    InteractionKind,
    InteractionSource,
    Product,
    all_api_scopes,
    hash_api_key,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=models.Model)

MAX_UPSERT_BATCH = 1000
# An event stamped further ahead than this is a client clock or a bug, not something that happened.
MAX_CLOCK_SKEW = timedelta(minutes=5)
EARLIEST_YEAR = 1900
# A view's value is its duration in seconds; more than a day is a tab left open or a client bug, not attention.
MAX_VIEW_SECONDS = 86_400
# A concurrent writer may insert the same key between our read and our insert (PostgreSQL; SQLite's
# IMMEDIATE transactions serialise writers). The batch is then re-read and retried this many times.
CONFLICT_RETRIES = 3


# --- Events ---------------------------------------------------------------------------------


class EventStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class EventResult:
    """The answer for one event of a batch, in the batch's order."""

    index: int
    event_id: str
    status: EventStatus
    reason: str = ""
    errors: dict[str, str] = field(default_factory=dict)


_KINDS = frozenset(InteractionKind.values)
_SOURCES = frozenset(InteractionSource.values)
_COUNTED_KINDS = frozenset({InteractionKind.PURCHASE, InteractionKind.RETURN, InteractionKind.CART})
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("1e12")  # max_digits=14, decimal_places=2
_MAX_INT = 2**31 - 1


_CONTROL_CHARACTER = re.compile(r"[\x01-\x1f\x7f-\x9f]")


def read_identifier(raw: Mapping, name: str, max_length: int, errors: dict[str, str], *, required: bool) -> str:
    value = raw.get(name)
    if value is None or value == "":
        if required:
            errors[name] = "This field is required."
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors[name] = "Must be a string."
        return ""
    # The importers' rule too: surrounding spaces are not part of an id, and an id of spaces is no id.
    value = str(value).strip()
    if not value:
        if required:
            errors[name] = "Must not be blank."
        return ""
    if len(value) > max_length:
        errors[name] = f"At most {max_length} characters."
    elif "\x00" in value:
        errors[name] = "Must not contain null characters."
    elif _CONTROL_CHARACTER.search(value):
        errors[name] = "Must not contain control characters (tab, line break, bell...)."
    return value


def _number(value: Any, name: str, errors: dict[str, str]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors[name] = "Must be a number."
        return None
    return float(value)


def _amount(value: Any, errors: dict[str, str]) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors["amount"] = "Must be a number."
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        errors["amount"] = "Must be a number."
        return None
    if not amount.is_finite():
        errors["amount"] = "Must be a number."
    elif amount < 0:
        errors["amount"] = "Must not be negative (a return carries a positive amount)."
    elif amount >= _MAX_AMOUNT:
        errors["amount"] = "Too large."
    else:
        return amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    return None


def _occurred_at(value: Any, *, now: datetime, errors: dict[str, str]) -> datetime:
    if value is None or value == "":
        return now
    if not isinstance(value, str):
        errors["occurred_at"] = "Must be an ISO 8601 date-time string."
        return now
    try:
        moment = datetime.fromisoformat(value)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        errors["occurred_at"] = "Not an ISO 8601 date-time."
        return now
    if moment > now + MAX_CLOCK_SKEW:
        errors["occurred_at"] = "Is in the future."
    elif moment.year < EARLIEST_YEAR:
        errors["occurred_at"] = f"Is before {EARLIEST_YEAR}."
    return moment


def _clean_event(raw: Any, *, now: datetime) -> tuple[dict[str, Any], dict[str, str]]:
    """One event's fields checked against the model's rules, in plain Python: this runs 1,000 times a request."""
    if not isinstance(raw, dict):
        return {}, {"non_field_errors": "Each event must be a JSON object."}
    errors: dict[str, str] = {}
    event_id = read_identifier(raw, "event_id", 100, errors, required=True)
    customer_id = read_identifier(raw, "customer_id", 64, errors, required=True)
    sku = read_identifier(raw, "sku", 64, errors, required=True)
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        errors["kind"] = f"Must be one of: {', '.join(sorted(_KINDS))}." if kind else "This field is required."
        kind = None
    value = _number(raw.get("value"), "value", errors)
    if kind == InteractionKind.RATING and "value" not in errors and (value is None or not 0.5 <= value <= 5):
        errors["value"] = "A rating needs a value between 0.5 and 5."
    elif kind == InteractionKind.VIEW and value is not None and value < 0:
        errors["value"] = "A view's duration must not be negative."
    elif kind == InteractionKind.VIEW and value is not None and value > MAX_VIEW_SECONDS:
        errors["value"] = f"A view's duration must be at most {MAX_VIEW_SECONDS} seconds (one day)."
    quantity = raw.get("quantity", 1)
    if quantity is None:
        quantity = 1
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        errors["quantity"] = "Must be an integer."
    elif abs(quantity) > _MAX_INT:
        errors["quantity"] = f"Out of range: at most {_MAX_INT:,} in absolute value."
    elif kind in _COUNTED_KINDS and quantity <= 0:
        errors["quantity"] = f"A {kind} needs a positive quantity."
    amount = _amount(raw.get("amount"), errors)
    currency = raw.get("currency") or ""
    if currency:
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            errors["currency"] = "Must be a three-letter ISO 4217 code."
        else:
            currency = currency.upper()
    order_ref = read_identifier(raw, "order_ref", 64, errors, required=False)
    source = raw.get("source") or InteractionSource.WEB.value
    if not isinstance(source, str) or source not in _SOURCES:
        errors["source"] = f"Must be one of: {', '.join(sorted(_SOURCES))}."
    recommendation_id = read_identifier(raw, "recommendation_id", 64, errors, required=False)
    coupon = read_identifier(raw, "coupon", 64, errors, required=False)
    occurred_at = _occurred_at(raw.get("occurred_at"), now=now, errors=errors)
    cleaned = {
        "event_id": event_id,
        "customer_id": customer_id,
        "sku": sku,
        "kind": kind,
        "value": value,
        "quantity": quantity,
        "amount": amount,
        "currency": currency,
        "order_ref": order_ref,
        "source": source,
        "occurred_at": occurred_at,
        "recommendation_id": recommendation_id,
        "coupon": coupon,
    }
    return cleaned, errors


def _reason(errors: Mapping[str, str]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in errors.items())


def record_events(*, events: list[Any], client: ApiClient | None = None) -> list[EventResult]:
    """Store a batch of frontend events; answer each one (accepted / duplicate / rejected), in input order.

    A bad event is rejected with its reason while the good ones around it are stored. An `event_id` already
    stored, or repeated earlier in the batch, is a duplicate and stored once. Customers and products the
    shop has not sent yet are created as stubs. The database work is a fixed handful of set-based queries.
    """
    return store_checked_events(checked=check_events(events=events), client=client)


@dataclass(slots=True)
class CheckedEvents:
    """A batch checked, nothing stored yet: answers for the refused events, the valid ones with their positions."""

    results: list[EventResult | None]
    valid: list[tuple[int, dict[str, Any]]]


def check_events(*, events: list[Any]) -> CheckedEvents:
    """The checks of `record_events`, without touching the database: a caller that stores the batch inside a
    transaction of its own runs them first, so SQLite's single write lock is not held through them."""
    limit = settings.EVENTS_MAX_BATCH
    if len(events) > limit:
        raise ValidationError({"events": f"At most {limit} events per batch; got {len(events)}."})
    now = timezone.now()
    results: list[EventResult | None] = [None] * len(events)
    valid: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, raw in enumerate(events):
        cleaned, errors = _clean_event(raw, now=now)
        event_id = cleaned.get("event_id", "")
        if errors:
            results[index] = EventResult(index, event_id, EventStatus.REJECTED, _reason(errors), errors)
        elif event_id in seen:
            results[index] = EventResult(index, event_id, EventStatus.DUPLICATE, "Repeated earlier in this batch.")
        else:
            seen.add(event_id)
            valid.append((index, cleaned))
    return CheckedEvents(results, valid)


def store_checked_events(*, checked: CheckedEvents, client: ApiClient | None = None) -> list[EventResult]:
    """The database half of `record_events`: store the valid events of a checked batch, answer every event."""
    results = list(checked.results)
    if checked.valid:
        with sqlite_writer_turn():
            stored = _retry_on_conflict(lambda: _store_events(checked.valid))
        for index, result in stored.items():
            results[index] = result
    if client is not None:
        logger.debug("API client %s sent %d events", client.pk, len(results))
    return results  # type: ignore[return-value]  # every slot is filled above


def _store_events(valid: list[tuple[int, dict[str, Any]]]) -> dict[int, EventResult]:
    # The savepoint lets _retry_on_conflict retry inside a caller's transaction. Under SQLite's writer turn no
    # concurrent writer can conflict, and SQLite journals every page a savepoint changes: a Segment batch's
    # insert, nested in the batch's transaction, took twice as long with it.
    with transaction.atomic(savepoint=not bulk.holds_sqlite_writer_turn()):
        return _store_new_events(valid)


def _store_new_events(valid: list[tuple[int, dict[str, Any]]]) -> dict[int, EventResult]:
    answers: dict[int, EventResult] = {}
    known = set(
        Interaction.objects.filter(event_id__in=[event["event_id"] for _, event in valid]).values_list(
            "event_id", flat=True
        )
    )
    fresh = []
    for index, event in valid:
        if event["event_id"] in known:
            answers[index] = EventResult(index, event["event_id"], EventStatus.DUPLICATE, "Already recorded.")
        else:
            fresh.append((index, event))
    if not fresh:
        return answers

    # A new product takes the first currency its events name; an amount in another currency is refused
    # rather than summed into the wrong revenue.
    stub_currencies: dict[str, str] = {}
    for _, event in fresh:
        if event["currency"] and event["sku"] not in stub_currencies:
            stub_currencies[event["sku"]] = event["currency"]
    products = _products_by_sku({event["sku"] for _, event in fresh}, stub_currencies)
    recordable = []
    for index, event in fresh:
        product_id, currency = products[event["sku"]]
        if event["currency"] and event["currency"] != currency:
            errors = {"currency": f"The product is priced in {currency}; send amounts in {currency}."}
            answers[index] = EventResult(index, event["event_id"], EventStatus.REJECTED, _reason(errors), errors)
        else:
            recordable.append((index, event, product_id))
    if not recordable:
        return answers

    customers = _customer_ids({event["customer_id"] for _, event, _ in recordable})
    adapt_datetime = connection.ops.adapt_datetimefield_value
    rows = []
    for index, event, product_id in recordable:
        rows.append(
            (
                customers[event["customer_id"]],
                product_id,
                event["kind"],
                event["value"],
                event["quantity"],
                event["amount"],
                event["order_ref"],
                event["source"],
                adapt_datetime(event["occurred_at"]),
                event["event_id"],
                event["recommendation_id"],
                event["coupon"],
            )
        )
        answers[index] = EventResult(index, event["event_id"], EventStatus.ACCEPTED)
    _insert_rows(Interaction, _INTERACTION_COLUMNS, rows, template=Interaction())
    return answers


# The columns an event fills; the other columns (created_at) come from the template in _insert_rows.
_INTERACTION_COLUMNS = (
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
    "recommendation_id",
    "coupon",
)


def _insert_rows(
    model: type[models.Model],
    columns: tuple[str, ...],
    rows: list[tuple],
    *,
    template: models.Model,
    ignore_conflicts: bool = False,
) -> None:
    """INSERT `rows` (DB-ready values for `columns`, validated by the caller) through the one bulk writer.

    `bulk_create` spends most of a 500-event request compiling SQL value by value; shop.bulk builds the
    statement once. Every other column is taken from `template`, so new model fields need no change here.
    A row the bulk writer refuses would mean a check missing above: fail loudly rather than drop it.
    """
    result = bulk.insert_rows(model, columns, rows, defaults=template, ignore_conflicts=ignore_conflicts)
    if result.rejected:
        position, problem = next(iter(result.rejected.items()))
        raise ValidationError({problem.field: f"Row {position}: {problem.message}"})


def _customer_ids(external_ids: set[str]) -> dict[str, int]:
    """Primary keys of these customers, creating stubs for the ones the shop has not sent yet."""
    found = dict(Customer.objects.filter(external_id__in=external_ids).values_list("external_id", "id"))
    missing = external_ids - found.keys()
    if missing:
        stubs = [(external_id,) for external_id in missing]
        _insert_rows(Customer, ("external_id",), stubs, template=Customer(is_stub=True), ignore_conflicts=True)
        found.update(Customer.objects.filter(external_id__in=missing).values_list("external_id", "id"))
    return found


def _products_by_sku(skus: set[str], stub_currencies: Mapping[str, str]) -> dict[str, tuple[int, str]]:
    """(primary key, currency) of these products, creating stubs for unknown SKUs."""
    found = {sku: (pk, currency) for sku, pk, currency in _product_rows(skus)}
    missing = skus - found.keys()
    if missing:
        template = Product(is_stub=True)
        stubs = [(sku, stub_currencies.get(sku, template.currency)) for sku in missing]
        _insert_rows(Product, ("sku", "currency"), stubs, template=template, ignore_conflicts=True)
        found.update({sku: (pk, currency) for sku, pk, currency in _product_rows(missing)})
    return found


def _product_rows(skus: Iterable[str]) -> Iterable[tuple[str, int, str]]:
    return Product.objects.filter(sku__in=skus).values_list("sku", "id", "currency")


def _retry_on_conflict(operation: Callable[[], T]) -> T:
    for attempt in range(CONFLICT_RETRIES):
        try:
            return operation()
        except IntegrityError:
            if attempt == CONFLICT_RETRIES - 1:
                raise
            logger.info("Concurrent write on the same keys; retrying the batch (attempt %d)", attempt + 2)
    raise AssertionError("unreachable")


# --- Customer and catalog upserts -----------------------------------------------------------

CUSTOMER_FIELDS = frozenset(
    {
        "email",
        "name",
        "gender",
        "birth_year",
        "city",
        "postal_code",
        "country",
        "signed_up_at",
        "attributes",
        "email_consent",
        "sms_consent",
        "push_consent",
    }
)
CONSENT_FIELDS = ("email_consent", "sms_consent", "push_consent")
PRODUCT_FIELDS = frozenset(
    {"name", "description", "price", "currency", "stock", "is_active", "is_merchandise", "attributes"}
)


@dataclass(frozen=True, slots=True)
class UpsertSummary:
    created: int
    updated: int


def upsert_customer(*, external_id: str, data: Mapping[str, Any]) -> tuple[Customer, bool]:
    """Create or update one customer by the shop's id; fields not given keep their stored values.

    Returns the customer and whether it was created.
    """
    customers, created = _retry_on_conflict(
        lambda: _upsert(model=Customer, key="external_id", rows=[{**data, "external_id": external_id}])
    )
    return customers[0], created == 1


def upsert_customers(*, customers: list[Mapping[str, Any]]) -> UpsertSummary:
    """Create or update many customers (each with its `external_id`) in a few queries."""
    saved, created = _retry_on_conflict(lambda: _upsert(model=Customer, key="external_id", rows=customers))
    return UpsertSummary(created=created, updated=len(saved) - created)


def upsert_product(*, sku: str, data: Mapping[str, Any]) -> tuple[Product, bool]:
    """Create or update one product by SKU. `category` is a category code, created when new
    (named `category_name`, else after its code); fields not given keep their stored values."""
    products, created = _retry_on_conflict(lambda: _upsert(model=Product, key="sku", rows=[{**data, "sku": sku}]))
    return products[0], created == 1


def upsert_products(*, products: list[Mapping[str, Any]]) -> UpsertSummary:
    """Create or update many products (each with its `sku`) in a few queries."""
    saved, created = _retry_on_conflict(lambda: _upsert(model=Product, key="sku", rows=products))
    return UpsertSummary(created=created, updated=len(saved) - created)


def _categories_by_code(rows: list[Mapping[str, Any]]) -> dict[str, Category]:
    """The categories these rows name by code, creating the missing ones."""
    names = {row["category"]: row.get("category_name") for row in rows if row.get("category")}
    if not names:
        return {}
    found = Category.objects.in_bulk(list(names), field_name="code")
    missing = names.keys() - found.keys()
    if missing:
        new = [
            Category(code=code, name=names[code] or code.replace("-", " ").replace("_", " ").title())
            for code in missing
        ]
        for category in new:
            category.full_clean(validate_unique=False, validate_constraints=False)
        Category.objects.bulk_create(new, ignore_conflicts=True)
        found.update(Category.objects.in_bulk(list(missing), field_name="code"))
    return found


CONSENT_STAMPS = {name: f"{name}_changed_at" for name in CONSENT_FIELDS}


def _validate_product(product: Product) -> None:
    # Field rules (lengths, choices); uniqueness is the key itself, the category was just fetched or created.
    product.clean_fields(exclude=["category"])
    if product.stock is not None and product.stock < 0:
        raise ValidationError({"stock": "Must not be negative (null: stock not tracked)."})


def _validate_customer(customer: Customer) -> None:
    customer.clean_fields()  # lengths, choices, e-mail format


@transaction.atomic
def _upsert(*, model: type[M], key: str, rows: list[Mapping[str, Any]]) -> tuple[list[M], int]:
    """Create or update `rows` of `model` matched on the unique `key` through the one upsert (shop.bulk):
    fields not given keep their stored values, `attributes` merge into the stored ones. All or nothing:
    one bad row refuses the batch, naming its position and field."""
    if len(rows) > MAX_UPSERT_BATCH:
        raise ValidationError({key: f"At most {MAX_UPSERT_BATCH} items per batch; got {len(rows)}."})
    keys = [row[key] for row in rows]
    if len(set(keys)) != len(keys):
        repeated = sorted(k for k, count in Counter(keys).items() if count > 1)
        raise ValidationError({key: f"Repeated in this batch: {', '.join(repeated[:10])}."})
    allowed = CUSTOMER_FIELDS if model is Customer else PRODUCT_FIELDS
    categories = _categories_by_code(rows) if model is Product else {}
    records: dict[str, dict[str, Any]] = {}
    for row in rows:
        record = {name: value for name, value in row.items() if name in allowed}
        if model is Product and "category" in row:
            record["category_id"] = categories[row["category"]].pk if row["category"] else None
        record["is_stub"] = False
        records[row[key]] = record
    result = bulk.upsert_by_key(
        model,
        key=key,
        records=records,
        stamps=CONSENT_STAMPS if model is Customer else None,
        validate=_validate_customer if model is Customer else _validate_product,
    )
    if result.rejected:
        errors: dict[str, str] = {}
        for position, row_key in enumerate(keys):
            for name, message in result.rejected.get(row_key, {}).items():
                errors[name if len(rows) == 1 else f"{position}.{name}"] = message
        raise ValidationError(errors)
    return [result.objects[row_key] for row_key in keys], len(result.created)


# --- API clients ----------------------------------------------------------------------------


_RATE_PERIODS = frozenset("smhd")


def validate_throttle_rate(value: str) -> None:
    """A client's own rate, like '600/minute' (blank: the default). A bad one would fail every request."""
    if not value:
        return
    number, _, period = value.partition("/")
    if not number.isdigit() or int(number) == 0 or not period or period[0] not in _RATE_PERIODS:
        raise ValidationError({"throttle_rate": "Use '<requests>/<second|minute|hour|day>', e.g. '600/minute'."})


def issue_api_key(*, client: ApiClient) -> str:
    """Give `client` a new random key and save it (new or existing). Returns the raw key: the only time it exists.

    Only its sha256 and an 8-character prefix (to recognise it) are stored; an old key stops working.
    """
    old_hash = client.key_hash
    raw_key = ApiClient.generate_key()
    client.key_prefix = raw_key[:8]
    client.key_hash = hash_api_key(raw_key)
    validate_throttle_rate(client.throttle_rate)
    client.full_clean()
    client.save()
    if old_hash:
        transaction.on_commit(lambda: forget_api_key(old_hash))
    return raw_key


def validate_api_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes, each known (ApiScope), in their canonical order; a ValidationError names any unknown one."""
    known = all_api_scopes()
    unknown = sorted(set(scopes) - set(known))
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope(s) {', '.join(unknown)}; known: {', '.join(known)}."})
    return [scope for scope in known if scope in set(scopes)]


def create_api_client(
    *,
    name: str,
    created_by: AbstractBaseUser | None = None,
    throttle_rate: str = "",
    scopes: Iterable[str] | None = None,
) -> tuple[ApiClient, str]:
    """A new client application and its raw key, to hand over once. Without `scopes`, every scope."""
    client = ApiClient(
        name=name,
        created_by=created_by,
        throttle_rate=throttle_rate,
        scopes=all_api_scopes() if scopes is None else validate_api_scopes(scopes),
    )
    raw_key = issue_api_key(client=client)
    return client, raw_key


def rotate_api_client_key(*, client: ApiClient) -> str:
    """Replace a client's key (a leaked key, a routine rotation): the old key stops working."""
    return issue_api_key(client=client)


def deactivate_api_client(*, client: ApiClient) -> ApiClient:
    """Stop accepting this client's key; its history stays."""
    client.is_active = False
    client.save(update_fields=["is_active", "updated_at"])
    transaction.on_commit(lambda: forget_api_key(client.key_hash))
    return client
