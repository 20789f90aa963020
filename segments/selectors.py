"""Reads: who is in which segment (used by the API, the recommender and marketing)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd
from django.db.models import Avg, CharField, Count, F, FloatField, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Coalesce, Greatest, Least

from segments.ml.features import MAX_VIEW_SECONDS, FeatureInputs
from segments.models import Membership, Segment, SegmentationDefinition, SegmentationRun
from shop.models import Customer, Interaction, InteractionKind, Product

ID_BATCH = 900  # below SQLite's bound-parameter limit


def customer_segments(*, customer_id: int) -> list[Segment]:
    """The customer's segments in every active segmentation (run and definition loaded)."""
    return list(
        Segment.objects.active()
        .filter(memberships__customer_id=customer_id)
        .with_definition()
        .order_by("run__definition__name", "name")
    )


def segment_member_ids(*, segment_id: int) -> list[int]:
    return list(
        Membership.objects.filter(segment_id=segment_id).order_by("customer_id").values_list("customer_id", flat=True)
    )


def active_segment_ids_by_customer(*, customer_ids: Iterable[int]) -> dict[int, list[int]]:
    """customer id -> ids of its segments in every active segmentation (customers in none are absent)."""
    ids = list(dict.fromkeys(customer_ids))
    active_runs = list(
        SegmentationDefinition.objects.filter(active_run__isnull=False).values_list("active_run", flat=True)
    )
    result: dict[int, list[int]] = defaultdict(list)
    if not active_runs or not ids:
        return {}
    for start in range(0, len(ids), ID_BATCH):
        rows = (
            Membership.objects.filter(customer_id__in=ids[start : start + ID_BATCH], segment__run_id__in=active_runs)
            .order_by("customer_id", "segment_id")
            .values_list("customer_id", "segment_id")
        )
        for customer_id, segment_id in rows:
            result[customer_id].append(segment_id)
    return dict(result)


def reachable_members(*, segment_ids: list[int]) -> dict[int, int]:
    """segment id -> its members with email consent (the default channel of a campaign). One grouped query."""
    rows = (
        Membership.objects.filter(segment_id__in=segment_ids)
        .values("segment_id")
        .annotate(n=Count("pk", filter=Q(customer__email_consent=True)))
        .order_by()
    )
    return {row["segment_id"]: row["n"] for row in rows}


def active_run(*, definition_id: int) -> SegmentationRun | None:
    definition = SegmentationDefinition.objects.select_related("active_run").filter(pk=definition_id).first()
    return definition.active_run if definition else None


def run_labels(*, run_id: int) -> dict[int, str]:
    """customer id -> segment key in that run."""
    return dict(
        Membership.objects.filter(segment__run_id=run_id)
        .values_list("customer_id", "segment__key")
        .iterator(chunk_size=20000)
    )


# --- Inputs of a segmentation: a few aggregate queries, streamed into pandas -----------------------

CHUNK = 20_000


def _frame(queryset, columns: list[str]) -> pd.DataFrame:
    rows = list(queryset.values_list(*columns).iterator(chunk_size=CHUNK))
    return pd.DataFrame.from_records(rows, columns=columns)


def latest_event_time() -> datetime | None:
    return Interaction.objects.aggregate(latest=Max("occurred_at"))["latest"]


def feature_inputs(*, customer_ids: QuerySet | None = None, before: datetime | None = None) -> FeatureInputs:
    """Customers, purchase orders, per-customer activity and category spend, aggregated in the database.

    An order is its order_ref, or the single line when the shop sent none. Amounts of non-merchandise
    lines (postage, fees) count toward spend; category spend counts merchandise only. `customer_ids` (a
    subquery of ids) limits it to those customers; `before` to events before that time (features as they
    stood then, e.g. at a campaign's send, so what the campaign caused never leaks into them).
    """
    people = Customer.objects.order_by()
    events = Interaction.objects.order_by()
    if customer_ids is not None:
        people = people.filter(pk__in=customer_ids)
        events = events.filter(customer_id__in=customer_ids)
    if before is not None:
        events = events.filter(occurred_at__lt=before)
    customers = _frame(people, ["id", "gender", "birth_year", "signed_up_at"]).rename(columns={"id": "customer_id"})
    amount = Cast("amount", FloatField())
    # Datetimes come back as the database's text and are parsed by pandas at once, not row by row.
    as_text = CharField()
    purchases = events.filter(kind=InteractionKind.PURCHASE)
    # Purchases are a large part of all events: reading them through the kind index costs a random read each,
    # so the kind test is wrapped to keep SQLite on its sequential scan (no effect on what is selected).
    scanned_purchases = events.alias(kind_scan=Coalesce("kind", Value(""))).filter(kind_scan=InteractionKind.PURCHASE)
    columns = ["customer_id", "order_key", "occurred_at", "amount"]
    orders = _frame(
        scanned_purchases.values("customer_id", order_key=F("order_ref")).annotate(
            occurred_at=Min("occurred_at", output_field=as_text), amount=Coalesce(Sum(amount), Value(0.0))
        ),
        columns,
    )
    # A purchase sent without an order reference is an order of its own: split those customers' blank group.
    blank = orders["order_key"] == ""
    if blank.any():
        lines = []
        without_ref = purchases.filter(order_ref="").annotate(
            order_key=Cast("pk", CharField()), at=F("occurred_at"), line=Coalesce(amount, Value(0.0))
        )
        ids = orders.loc[blank, "customer_id"].tolist()
        for start in range(0, len(ids), ID_BATCH):
            lines.append(
                _frame(
                    without_ref.filter(customer_id__in=ids[start : start + ID_BATCH]),
                    ["customer_id", "order_key", "at", "line"],
                )
            )
        lines_frame = pd.concat(lines, ignore_index=True).rename(columns={"at": "occurred_at", "line": "amount"})
        lines_frame["occurred_at"] = lines_frame["occurred_at"].astype(str)
        orders = pd.concat([orders[~blank], lines_frame], ignore_index=True)
    orders["occurred_at"] = pd.to_datetime(orders["occurred_at"], utc=True, format="ISO8601")
    kind = "kind"
    # Each view counts for at most MAX_VIEW_SECONDS (a tab left open, or 1e308 from a broken tracker); NULL is 0.
    view_seconds = Least(Greatest(Coalesce("value", Value(0.0)), Value(0.0)), Value(MAX_VIEW_SECONDS))
    activity = _frame(
        events.values("customer_id").annotate(
            views=Count("id", filter=Q(**{kind: InteractionKind.VIEW})),
            carts=Count("id", filter=Q(**{kind: InteractionKind.CART})),
            purchases=Count("id", filter=Q(**{kind: InteractionKind.PURCHASE})),
            returned_amount=Coalesce(Sum(amount, filter=Q(**{kind: InteractionKind.RETURN})), Value(0.0)),
            view_seconds=Coalesce(Sum(view_seconds, filter=Q(**{kind: InteractionKind.VIEW})), Value(0.0)),
            rating_mean=Avg("value", filter=Q(**{kind: InteractionKind.RATING})),
            first_seen=Min("occurred_at", output_field=as_text),
            last_seen=Max("occurred_at", output_field=as_text),
        ),
        [
            "customer_id",
            "views",
            "carts",
            "purchases",
            "returned_amount",
            "view_seconds",
            "rating_mean",
            "first_seen",
            "last_seen",
        ],
    )
    for column in ("first_seen", "last_seen"):
        activity[column] = pd.to_datetime(activity[column], utc=True, format="ISO8601")
    category_spend = _frame(
        scanned_purchases.filter(product__is_merchandise=True)
        .annotate(category=Coalesce("product__category__name", Value("Uncategorised")))
        .values("customer_id", "category")
        .annotate(amount=Coalesce(Sum(amount), Value(0.0))),
        ["customer_id", "category", "amount"],
    )
    return FeatureInputs(customers=customers, orders=orders, activity=activity, category_spend=category_spend)


def customer_frame(*, fields: list[str]) -> pd.DataFrame:
    """Customer model fields and attributes.<key> values by customer id, for rules evaluated in pandas."""
    model_fields = [f for f in fields if not f.startswith("attributes.")]
    attribute_keys = [f[len("attributes.") :] for f in fields if f.startswith("attributes.")]
    columns = ["id", *model_fields, *(["attributes"] if attribute_keys else [])]
    frame = _frame(Customer.objects.order_by(), columns).set_index("id")
    frame.index.name = "customer_id"
    if attribute_keys:
        attributes = frame.pop("attributes")
        for key in attribute_keys:
            frame[f"attributes.{key}"] = [_dig(a, key) for a in attributes]
    return frame


def _dig(attributes, dotted: str):
    value = attributes
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def customer_ids_by_external_id(external_ids: Iterable[str]) -> dict[str, int]:
    ids = list(dict.fromkeys(external_ids))
    found: dict[str, int] = {}
    for start in range(0, len(ids), ID_BATCH):
        found.update(
            Customer.objects.filter(external_id__in=ids[start : start + ID_BATCH]).values_list("external_id", "id")
        )
    return found


def top_products_by_segment(
    *, members: dict[str, list[int]], limit: int = 5, sample: int = 1000, seed: int = 0
) -> dict[str, list[dict]]:
    """segment key -> the merchandise most of its members bought (by number of buyers).

    Estimated from at most `sample` random members per segment, whose purchases are read by the
    customer index in small batches: the top five of a segment are stable long before 1,000 members,
    and a join of every purchase with every membership is the slowest query a run would make.
    """
    rng = np.random.default_rng(seed)
    chosen = {
        key: (list(rng.choice(ids, size=sample, replace=False)) if len(ids) > sample else list(ids))
        for key, ids in members.items()
    }
    segment_of = {int(customer): key for key, ids in chosen.items() for customer in ids}
    customer_ids = sorted(segment_of)
    # The kind test is wrapped so SQLite reads by the customer index, not every purchase through the kind index.
    purchases = (
        Interaction.objects.alias(kind_scan=Coalesce("kind", Value("")))
        .filter(kind_scan=InteractionKind.PURCHASE, product__is_merchandise=True)
        .order_by()
        .values("customer_id", "product_id")
        .distinct()
    )
    frames = [
        _frame(purchases.filter(customer_id__in=customer_ids[start : start + ID_BATCH]), ["customer_id", "product_id"])
        for start in range(0, len(customer_ids), ID_BATCH)
    ]
    rows = pd.concat(frames, ignore_index=True) if frames else None
    if rows is None or rows.empty:
        return {}
    rows["segment"] = rows["customer_id"].map(segment_of)
    buyers = rows.groupby(["segment", "product_id"]).size().rename("buyers").reset_index()
    top = (
        buyers.sort_values(["segment", "buyers", "product_id"], ascending=[True, False, True])
        .groupby("segment")
        .head(limit)
    )
    products = {
        pk: (sku, name)
        for pk, sku, name in Product.objects.filter(pk__in=top["product_id"].unique().tolist()).values_list(
            "pk", "sku", "name"
        )
    }
    result: dict[str, list[dict]] = defaultdict(list)
    for segment, product_id, count in top.itertuples(index=False):
        sku, name = products.get(product_id, ("", ""))
        result[segment].append(
            {
                "product_id": int(product_id),
                "sku": sku,
                "name": name,
                "buyers": int(count),
                "share_of_members": round(count / len(chosen[segment]), 4),
            }
        )
    return dict(result)
