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
