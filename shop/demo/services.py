"""Write a generated demo shop (`shop.demo_data`) to the database, fast.

Idempotency: every row carries a key derived from the seed (customers `demo{seed}-000001`, skus `D{seed}-00001`,
orders `D{seed}-0000001`, events `demo-{seed}-00000001`). Writing a seed whose customers are all there already writes
nothing and says so; writing a seed that is there with a different number of customers is refused, because the
two shops would not be the same shop. Everything is written in one transaction, so a failure leaves nothing behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count

from shop.bulk import insert_rows, sqlite_indexes_deferred, sqlite_page_cache
from shop.demo_data import PERSONA_SLUGS, DemoShop, generate_shop
from shop.models import Category, Customer, Interaction, Product

# (stage, rows done, rows in the stage): the command turns it into a progress bar.
Progress = Callable[[str, int, int], None]

CUSTOMER_BATCH = 5_000
INTERACTION_BATCH = 20_000
# Defer the Interaction indexes (shop.bulk) only for loads this large: a fresh demo of 5,000+ customers.
BULK_LOAD_INDEX_THRESHOLD = 100_000
CUSTOMER_COLUMNS = (
    "external_id",
    "email",
    "name",
    "gender",
    "birth_year",
    "city",
    "postal_code",
    "country",
    "signed_up_at",
    "attributes",
    "is_stub",
    "email_consent",
    "email_consent_changed_at",
    "sms_consent",
    "sms_consent_changed_at",
    "push_consent",
    "push_consent_changed_at",
    "created_at",
    "updated_at",
)
INTERACTION_COLUMNS = (
    "customer",
    "product",
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
    "created_at",
)


class DemoDataConflict(Exception):
    """Demo data for this seed exists already, with another size."""


@dataclass
class DemoDataSummary:
    seed: int
    created: bool
    customers: int
    products: int
    categories: int
    interactions: int
    orders: int | None = None  # not counted when reporting data stored earlier
    personas: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    first_event: str | None = None
    last_event: str | None = None
    generate_seconds: float = 0.0
    write_seconds: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _prefixed(field: str, prefix: str) -> dict[str, str]:
    """`field` starts with `prefix` (which ends in '-'). On SQLite as a range its index answers (its LIKE cannot use
    one; its binary collation orders '-' just before '.'); elsewhere a plain startswith, collations vary."""
    if connection.vendor == "sqlite":
        return {f"{field}__gte": prefix, f"{field}__lt": prefix[:-1] + "."}
    return {f"{field}__startswith": prefix}


def demo_customers(*, seed: int):
    return Customer.objects.filter(**_prefixed("external_id", f"demo{seed}-"))


def generate_demo_data(
    *, customers: int, seed: int, end: datetime | None = None, progress: Progress | None = None
) -> DemoDataSummary:
    """Generate the demo shop for (customers, seed), its year of events ending at `end` (default: now), and store
    it; nothing is written if it is stored already. An end in the future is refused."""
    errors = {}
    now = datetime.now(UTC)
    if end is not None and (end.tzinfo is None or end.utcoffset() is None):
        end = end.replace(tzinfo=UTC)
    if end is not None and end > now:
        errors["end"] = f"Must not be in the future (events that have not happened); got {end.isoformat()}."
    if customers < 1:
        errors["customers"] = f"Must be at least 1; got {customers}."
    if seed < 0:
        errors["seed"] = f"Must not be negative (numpy seeds are non-negative); got {seed}."
    if errors:
        raise ValidationError(errors)
    existing = demo_customers(seed=seed).count()
    if existing == customers:
        return _existing_summary(seed=seed)
    if existing:
        raise DemoDataConflict(
            f"Demo data for seed {seed} already exists with {existing} customers (asked for {customers}). "
            "Use another --seed, or an empty database."
        )
    started = time.perf_counter()
    shop = generate_shop(customers=customers, seed=seed, end=end or now)
    generated = time.perf_counter()
    write_demo_shop(shop=shop, progress=progress)
    summary = _summary(shop)
    summary.generate_seconds = round(generated - started, 2)
    summary.write_seconds = round(time.perf_counter() - generated, 2)
    return summary


@transaction.atomic
def write_demo_shop(*, shop: DemoShop, progress: Progress | None = None) -> None:
    """Store a generated shop: categories and products are reused by code / sku, customers and events are new."""
    notify = progress or (lambda stage, done, total: None)
    now = datetime.now(UTC)
    with sqlite_page_cache():
        category_ids = _write_categories(shop.categories)
        product_ids = _write_products(shop.products, category_ids)
        notify("products", len(shop.products), len(shop.products))
        customer_ids = _write_customers(shop, now=now, notify=notify)
        _write_interactions(shop, customer_ids=customer_ids, product_ids=product_ids, now=now, notify=notify)


def _write_categories(frame: pd.DataFrame) -> dict[str, int]:
    existing = {c.code: c for c in Category.objects.filter(code__in=list(frame["code"]))}
    Category.objects.bulk_create(
        [Category(code=row.code, name=row.name) for row in frame.itertuples() if row.code not in existing]
    )
    by_code = {c.code: c for c in Category.objects.filter(code__in=list(frame["code"]))}
    orphans = []
    for row in frame.itertuples():
        category = by_code[row.code]
        if pd.notna(row.parent) and category.parent_id is None:
            category.parent = by_code[row.parent]
            orphans.append(category)
    Category.objects.bulk_update(orphans, ["parent"])
    return {code: c.pk for code, c in by_code.items()}


def _write_products(frame: pd.DataFrame, category_ids: dict[str, int]) -> np.ndarray:
    products = [
        Product(
            sku=row.sku,
            name=row.name,
            description=row.description,
            category_id=category_ids[row.category] if pd.notna(row.category) else None,
            price=f"{row.price:.2f}",
            currency=row.currency,
            stock=None if pd.isna(row.stock) else int(row.stock),
            is_active=bool(row.is_active),
            is_merchandise=bool(row.is_merchandise),
            attributes={"brand": row.brand} if pd.notna(row.brand) and row.brand else {},
        )
        for row in frame.itertuples()
    ]
    Product.objects.bulk_create(products, batch_size=1000, ignore_conflicts=True)
    ids = dict(Product.objects.filter(sku__in=list(frame["sku"])).values_list("sku", "pk"))
    return np.array([ids[sku] for sku in frame["sku"]], dtype=np.int64)


def _write_customers(shop: DemoShop, *, now: datetime, notify: Progress) -> np.ndarray:
    frame = shop.customers
    total = len(frame)
    created = connection.ops.adapt_datetimefield_value(now)
    adapt_json = connection.ops.adapt_json_value
    for start in range(0, total, CUSTOMER_BATCH):
        chunk = frame.iloc[start : start + CUSTOMER_BATCH]
        n = len(chunk)
        birth = chunk["birth_year"]
        changed = _db_datetimes(chunk["consent_changed_at"])
        rows = zip(
            chunk["external_id"].tolist(),
            chunk["email"].tolist(),
            chunk["name"].tolist(),
            chunk["gender"].tolist(),
            birth.astype(object).where(birth.notna(), None).tolist(),
            chunk["city"].tolist(),
            [""] * n,
            chunk["country"].tolist(),
            _db_datetimes(chunk["signed_up_at"]),
            [adapt_json({"persona": p, "demo_seed": shop.seed}, None) for p in chunk["persona"].astype(str)],
            [False] * n,
            chunk["email_consent"].tolist(),
            changed,
            chunk["sms_consent"].tolist(),
            changed,
            chunk["push_consent"].tolist(),
            changed,
            [created] * n,
            [created] * n,
            strict=True,
        )
        _insert(Customer, CUSTOMER_COLUMNS, list(rows))
        notify("customers", start + n, total)
    ids = dict(demo_customers(seed=shop.seed).values_list("external_id", "pk"))
    return np.array([ids[e] for e in frame["external_id"]], dtype=np.int64)


def _insert(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Rows straight into the table through the shop's one bulk writer (COPY on PostgreSQL, executemany on
    SQLite). Generated rows are valid by construction: a refused row is a generator bug, so fail loudly."""
    result = insert_rows(model, columns, rows)
    if result.rejected:
        position, problem = next(iter(result.rejected.items()))
        raise ValidationError(f"demo data row {position} of {model.__name__} refused: {problem}")


def _write_interactions(
    shop: DemoShop, *, customer_ids: np.ndarray, product_ids: np.ndarray, now: datetime, notify: Progress
) -> None:
    frame = shop.interactions
    total = len(frame)
    order_refs = shop.order_refs().to_numpy()
    created = connection.ops.adapt_datetimefield_value(now)
    with sqlite_indexes_deferred(Interaction, rows=total, min_rows=BULK_LOAD_INDEX_THRESHOLD):
        for start, rows in _interaction_rows(shop, frame, customer_ids, product_ids, order_refs, created):
            _insert(Interaction, INTERACTION_COLUMNS, rows)
            notify("interactions", start + len(rows), total)


def _interaction_rows(
    shop: DemoShop,
    frame: pd.DataFrame,
    customer_ids: np.ndarray,
    product_ids: np.ndarray,
    order_refs: np.ndarray,
    created,
) -> Iterator[tuple[int, list[tuple]]]:
    for start in range(0, len(frame), INTERACTION_BATCH):
        chunk = frame.iloc[start : start + INTERACTION_BATCH]
        n = len(chunk)
        value = chunk["value"]
        amount = chunk["amount"]
        yield (
            start,
            list(
                zip(
                    customer_ids[chunk["customer"].to_numpy()].tolist(),
                    product_ids[chunk["product"].to_numpy()].tolist(),
                    chunk["kind"].astype(str).tolist(),
                    value.astype(object).where(value.notna(), None).tolist(),
                    chunk["quantity"].tolist(),
                    amount.round(2).astype(object).where(amount.notna(), None).tolist(),
                    order_refs[start : start + n].tolist(),
                    chunk["source"].astype(str).tolist(),
                    _db_datetimes(chunk["occurred_at"]),
                    shop.event_ids(start, start + n),
                    [""] * n,
                    [""] * n,
                    [created] * n,
                    strict=True,
                )
            ),
        )


def _db_datetimes(series: pd.Series) -> list:
    """Datetimes as the database backend stores them; SQLite keeps naive UTC text, which is formatted vectorised."""
    if connection.vendor == "sqlite":
        text = np.datetime_as_string(series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(), unit="s")
        return np.char.replace(text, "T", " ").tolist()
    return list(series.dt.to_pydatetime())


def _summary(shop: DemoShop) -> DemoDataSummary:
    interactions = shop.interactions
    return DemoDataSummary(
        seed=shop.seed,
        created=True,
        customers=len(shop.customers),
        products=len(shop.products),
        categories=len(shop.categories),
        interactions=len(interactions),
        orders=int(interactions["order"].max()) + 1 if len(interactions) else 0,
        personas={slug: int(n) for slug, n in shop.customers["persona"].value_counts().reindex(PERSONA_SLUGS).items()},
        kinds={str(k): int(n) for k, n in interactions["kind"].value_counts(sort=False).items()},
        first_event=interactions["occurred_at"].min().isoformat() if len(interactions) else None,
        last_event=interactions["occurred_at"].max().isoformat() if len(interactions) else None,
    )


def _existing_summary(*, seed: int) -> DemoDataSummary:
    """What is stored for a seed (after a previous run): a few counts over key ranges, no scan of every event."""
    customers = demo_customers(seed=seed)
    personas = dict.fromkeys(PERSONA_SLUGS, 0)
    for persona, n in _count_by(customers, "attributes__persona"):
        personas[str(persona)] = n
    return DemoDataSummary(
        seed=seed,
        created=False,
        customers=customers.count(),
        products=Product.objects.filter(**_prefixed("sku", f"D{seed}-")).count(),
        categories=Category.objects.count(),
        interactions=Interaction.objects.filter(**_prefixed("event_id", f"demo-{seed}-")).count(),
        orders=None,
        personas=personas,
    )


def _count_by(queryset, field_name: str) -> list[tuple]:
    return list(queryset.values_list(field_name).annotate(n=Count("pk")).order_by(field_name))
