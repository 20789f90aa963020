"""Reads for the recommender: database rows -> the frames its pure `ml` package takes."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from shop.models import Interaction

INTERACTION_FIELDS = {
    "customer": "customer_id",
    "product": "product_id",
    "kind": "kind",
    "value": "value",
    "quantity": "quantity",
    "occurred_at": "occurred_at",
    "is_merchandise": "product__is_merchandise",
    "order_ref": "order_ref",
}


def interactions_frame(
    *, since: datetime | None = None, until: datetime | None = None, chunk_size: int = 20_000
) -> pd.DataFrame:
    """Every interaction (optionally within [since, until)) as the frame `ml.matrix` builds from.

    Columns: customer (Customer pk), product (Product pk), kind, value, quantity, occurred_at,
    is_merchandise, order_ref. Streamed in chunks so two million rows stay in bounded memory.
    """
    queryset = Interaction.objects.all()
    if since is not None:
        queryset = queryset.filter(occurred_at__gte=since)
    if until is not None:
        queryset = queryset.filter(occurred_at__lt=until)
    rows = queryset.order_by().values_list(*INTERACTION_FIELDS.values()).iterator(chunk_size=chunk_size)
    frame = pd.DataFrame.from_records(rows, columns=list(INTERACTION_FIELDS), nrows=None)
    if frame.empty:
        frame = pd.DataFrame({column: pd.Series(dtype="object") for column in INTERACTION_FIELDS})
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    frame["quantity"] = pd.to_numeric(frame["quantity"]).astype("int64")
    frame["is_merchandise"] = frame["is_merchandise"].astype(bool)
    return frame


# --- reads for serving (below: owned by the serving side) ----------------------------------------------

POPULAR_CACHE_SECONDS = 300


def popular_products(
    *, category_id: int | None = None, days: int | None = None, customer_ids: list[int] | None = None, limit: int = 100
) -> list[tuple[int, int]]:
    """(product id, distinct customers) of the most popular merchandise, best first; cached for five minutes.

    `days` limits to events of the last days before the newest event (trending, as in the stored "trending" list:
    data that ends before today still has a last week); `customer_ids` to those customers' events
    (a segment's favourites, read in chunks to stay under SQLite's parameter limit).
    """
    from collections import Counter

    from django.core.cache import cache
    from django.db.models import Count, Max
    from django.utils import timezone

    key = f"recommender:popular:{category_id}:{days}:{hash(tuple(customer_ids)) if customer_ids else None}:{limit}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    queryset = Interaction.objects.filter(product__is_merchandise=True, product__is_stub=False)
    if category_id is not None:
        queryset = queryset.filter(product__category_id=category_id)
    if days is not None:
        latest = Interaction.objects.aggregate(latest=Max("occurred_at"))["latest"] or timezone.now()
        queryset = queryset.filter(occurred_at__gte=latest - timezone.timedelta(days=days))
    chunks = [None] if customer_ids is None else [customer_ids[i : i + 900] for i in range(0, len(customer_ids), 900)]
    counts: Counter[int] = Counter()
    for chunk in chunks:
        part = queryset if chunk is None else queryset.filter(customer_id__in=chunk)
        rows = part.order_by().values("product_id").annotate(n=Count("customer_id", distinct=True))
        if chunk is None:
            rows = rows.order_by("-n", "product_id")[:limit]
        for r in rows:
            counts[r["product_id"]] += r["n"]
    result = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]
    cache.set(key, result, POPULAR_CACHE_SECONDS)
    return result


def customer_history(*, customer_id: int, limit: int = 500) -> list[dict]:
    """The customer's latest interactions, newest first, with the product (for the staff page)."""
    return list(
        Interaction.objects.filter(customer_id=customer_id)
        .select_related("product")
        .order_by("-occurred_at", "-id")[:limit]
    )


def training_interactions_frame(*, chunk_size: int = 100_000) -> pd.DataFrame:
    """The same frame as `interactions_frame()` (every interaction, same columns and dtypes), read for
    training: one SQL statement whose rows skip Django's per-value conversions (times come as text and
    are parsed by pandas in one vectorised call), about five times faster on a million rows.
    """
    from django.db import connection

    from shop.models import Product

    sql = (
        "SELECT i.customer_id, i.product_id, i.kind, i.value, i.quantity, CAST(i.occurred_at AS TEXT), "
        "CAST(p.is_merchandise AS INTEGER), i.order_ref "
        f"FROM {Interaction._meta.db_table} i JOIN {Product._meta.db_table} p ON p.id = i.product_id"
    )
    parts = []
    columns = list(INTERACTION_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk_size):
            parts.append(pd.DataFrame.from_records(rows, columns=columns))
    if not parts:
        return interactions_frame()  # the empty frame, with its dtypes
    frame = pd.concat(parts, ignore_index=True)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    frame["quantity"] = pd.to_numeric(frame["quantity"]).astype("int64")
    frame["is_merchandise"] = frame["is_merchandise"].astype(bool)
    return frame
