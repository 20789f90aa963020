"""Customer features from the shop's behaviour, and the scikit-learn pipeline that readies them for clustering.

Pure pandas / scikit-learn: the service hands in small aggregated frames (one row per customer, per
order, per customer and category), this module returns one interpretable row per customer
(`customer_features`) and the matrix the clustering sees (`feature_matrix`, via `pipeline.feature_pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

CATEGORY_PREFIX = "share_"
# A product page left open overnight is not an hour of interest: each view counts for at most this long.
MAX_VIEW_SECONDS = 3600.0

# Counts, money and durations: long right tails, so log1p before scaling.
HEAVY_TAILED = [
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "days_between_orders",
    "views",
    "carts",
    "purchases",
    "browsing_minutes",
]
# Bounded ratios in [0, 1].
RATIOS = ["return_rate", "conversion"]
# Known only for some customers: imputed with the median.
SPARSE = ["mean_rating", "age"]
CATEGORICAL = ["gender"]

NUMERIC_FEATURES = HEAVY_TAILED + RATIOS + SPARSE
ALL_BASE_FEATURES = NUMERIC_FEATURES + CATEGORICAL

# What K-means and DBSCAN look at unless a definition names its own features. Age and gender stay
# out by default: they are often unknown and describe who customers are, not what they do.
DEFAULT_CLUSTER_FEATURES = [
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "days_between_orders",
    "return_rate",
    "views",
    "carts",
    "browsing_minutes",
    "conversion",
    "mean_rating",
    "category_shares",
]

FEATURE_LABELS = {
    "recency_days": "days since last order",
    "frequency": "orders",
    "monetary": "net spend",
    "avg_order_value": "average order value",
    "tenure_days": "days as customer",
    "days_between_orders": "days between orders",
    "return_rate": "share of spend returned",
    "views": "product views",
    "carts": "add-to-carts",
    "purchases": "items bought",
    "browsing_minutes": "browsing minutes",
    "conversion": "view-to-purchase conversion",
    "mean_rating": "mean rating given",
    "age": "age",
}


@dataclass
class FeatureInputs:
    """The aggregated frames features are built from (see each field for its columns)."""

    # customer_id, gender, birth_year, signed_up_at
    customers: pd.DataFrame
    # customer_id, order_key, occurred_at, amount  (one row per purchase order, gross amount)
    orders: pd.DataFrame
    # customer_id, views, carts, purchases, returned_amount, view_seconds, rating_mean, first_seen[, last_seen]
    activity: pd.DataFrame
    # customer_id, category, amount  (merchandise purchases only)
    category_spend: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["customer_id", "category", "amount"])
    )


def order_features(orders: pd.DataFrame, *, as_of: datetime) -> pd.DataFrame:
    """Per customer with at least one order: recency, frequency, gross spend, first/last order, days between orders.

    Exact duplicate order rows are dropped first (the same order imported twice).
    """
    columns = ["recency_days", "frequency", "gross_spend", "first_order", "last_order", "days_between_orders"]
    if orders.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="customer_id"))
    orders = orders.drop_duplicates()
    when = pd.to_datetime(orders["occurred_at"], utc=True)
    frame = pd.DataFrame(
        {"customer_id": orders["customer_id"].to_numpy(), "at": when, "amount": orders["amount"].astype(float)}
    )
    grouped = frame.groupby("customer_id", sort=True)
    result = pd.DataFrame(
        {
            "frequency": grouped.size(),
            "gross_spend": grouped["amount"].sum(),
            "first_order": grouped["at"].min(),
            "last_order": grouped["at"].max(),
        }
    )
    as_of_ts = pd.Timestamp(as_of)
    as_of_ts = as_of_ts.tz_localize("UTC") if as_of_ts.tzinfo is None else as_of_ts.tz_convert("UTC")
    day = pd.Timedelta(days=1)
    result["recency_days"] = ((as_of_ts - result["last_order"]) / day).clip(lower=0)
    span = (result["last_order"] - result["first_order"]) / day
    repeat = result["frequency"] > 1
    # One order only: censored at the time since that order (they have not come back in that long).
    result["days_between_orders"] = np.where(
        repeat, span / (result["frequency"] - 1).clip(lower=1), ((as_of_ts - result["first_order"]) / day).clip(lower=0)
    )
    result.index.name = "customer_id"
    return result[columns]


SHARE_PRIOR = 2.0


def category_shares(
    category_spend: pd.DataFrame, *, top: int = 8, prior: float | None = None, include: list[str] | None = None
) -> pd.DataFrame:
    """Share of each customer's merchandise spend in each of the `top` categories by total spend, and in each
    category of `include` (a rule may name one outside the top; one nobody bought from is a share of 0).

    Shares are shrunk toward the shop-wide mix by `prior` x the median customer's spend: one basket says
    little about a taste (a single order is 100% one category), a long history says a lot.
    """
    if category_spend.empty:
        return pd.DataFrame(
            columns=[f"{CATEGORY_PREFIX}{c}" for c in include or []],
            index=pd.Index([], name="customer_id"),
            dtype=float,
        )
    prior = SHARE_PRIOR if prior is None else prior
    spend = category_spend.assign(amount=category_spend["amount"].astype(float).clip(lower=0))
    totals = spend.groupby("category")["amount"].sum().sort_values(ascending=False)
    leaders = [c for c in totals.index[:top] if totals[c] > 0]
    leaders += [c for c in dict.fromkeys(include or []) if c not in leaders]
    table = spend.pivot_table(index="customer_id", columns="category", values="amount", aggfunc="sum", fill_value=0.0)
    table = table.reindex(columns=table.columns.union(leaders, sort=False), fill_value=0.0)
    totals = totals.reindex(table.columns, fill_value=0.0)
    row_total = table.sum(axis=1)
    pseudo = prior * float(row_total[row_total > 0].median()) if (row_total > 0).any() else 0.0
    mix = totals / totals.sum() if totals.sum() > 0 else totals
    shares = (table[leaders] + pseudo * mix[leaders]).div((row_total + pseudo).replace(0, np.nan), axis=0).fillna(0.0)
    shares.columns = [f"{CATEGORY_PREFIX}{c}" for c in leaders]
    shares.index.name = "customer_id"
    return shares


def customer_features(inputs: FeatureInputs, *, as_of: datetime, top_categories: int = 8) -> pd.DataFrame:
    """One interpretable row per customer (index customer_id); `has_purchase` tells buyers apart.

    Columns: NUMERIC_FEATURES, gender, first/last_purchase_at, last_seen_at, share_<category> for the top
    categories, has_purchase.
    Unknowns stay NaN (rating, age, days between orders of non-buyers); the pipeline imputes them.
    """
    customers = inputs.customers.drop_duplicates("customer_id").set_index("customer_id").sort_index()
    index = customers.index
    as_of_ts = pd.Timestamp(as_of)
    as_of_ts = as_of_ts.tz_localize("UTC") if as_of_ts.tzinfo is None else as_of_ts.tz_convert("UTC")
    day = pd.Timedelta(days=1)

    orders = order_features(inputs.orders, as_of=as_of).reindex(index)
    activity = inputs.activity.drop_duplicates("customer_id").set_index("customer_id").reindex(index)

    out = pd.DataFrame(index=index)
    frequency = orders["frequency"].fillna(0).astype(float)
    gross = orders["gross_spend"].fillna(0.0).astype(float)
    returned = activity["returned_amount"].fillna(0.0).astype(float)
    out["recency_days"] = orders["recency_days"].astype(float)
    out["frequency"] = frequency
    out["monetary"] = gross - returned
    out["avg_order_value"] = np.where(frequency > 0, gross / frequency.where(frequency > 0, 1), 0.0)
    signed_up = pd.to_datetime(customers["signed_up_at"], utc=True)
    first_seen = pd.to_datetime(activity["first_seen"], utc=True)
    # As datetimes even when every value is missing (one customer with no sign-up date and no events).
    start = pd.to_datetime(pd.concat([signed_up, first_seen, orders["first_order"]], axis=1).min(axis=1), utc=True)
    out["tenure_days"] = ((as_of_ts - start) / day).clip(lower=0).fillna(0.0)
    out["days_between_orders"] = orders["days_between_orders"].astype(float)
    out["return_rate"] = np.where(gross > 0, (returned / gross.where(gross > 0, 1)).clip(0, 1), 0.0)
    views = activity["views"].fillna(0).astype(float)
    purchases = activity["purchases"].fillna(0).astype(float)
    out["views"] = views
    out["carts"] = activity["carts"].fillna(0).astype(float)
    out["purchases"] = purchases
    # Views arrive capped (MAX_VIEW_SECONDS each, see selectors.feature_inputs); bounded again here so an
    # uncapped sum (1e308 seconds from a broken tracker) cannot reach profiles or averages.
    seconds = activity["view_seconds"].fillna(0.0).astype(float).clip(lower=0, upper=views * MAX_VIEW_SECONDS)
    out["browsing_minutes"] = seconds / 60.0
    out["conversion"] = np.where(
        views > 0, (purchases / views.where(views > 0, 1)).clip(0, 1), np.where(purchases > 0, 1.0, 0.0)
    )
    out["mean_rating"] = activity["rating_mean"].astype(float)
    birth_year = pd.to_numeric(customers["birth_year"], errors="coerce")
    out["age"] = (as_of_ts.year - birth_year).astype(float)
    out["gender"] = customers["gender"].fillna("").replace("", "unknown").astype(str)

    # Dates rules can test ("bought within the last 30 days"); never clustered.
    out["first_purchase_at"] = orders["first_order"]
    out["last_purchase_at"] = orders["last_order"]
    if "last_seen" in activity.columns:
        out["last_seen_at"] = pd.to_datetime(activity["last_seen"], utc=True)

    shares = category_shares(inputs.category_spend, top=top_categories).reindex(index).fillna(0.0)
    out = out.join(shares)
    out["has_purchase"] = frequency > 0
    return out


def category_columns(features: pd.DataFrame) -> list[str]:
    return [c for c in features.columns if c.startswith(CATEGORY_PREFIX)]


def resolve_features(features: pd.DataFrame, wanted: list[str] | None) -> list[str]:
    """The columns a definition's feature list stands for ("category_shares" expands to every share column)."""
    names = list(wanted or DEFAULT_CLUSTER_FEATURES)
    columns: list[str] = []
    for name in names:
        if name == "category_shares":
            columns.extend(category_columns(features))
        elif name in features.columns and name != "has_purchase":
            columns.append(name)
        else:
            raise ValueError(f"unknown feature {name!r}; known: {', '.join(known_features(features))}")
    return list(dict.fromkeys(columns))


def known_features(features: pd.DataFrame | None = None) -> list[str]:
    extra = category_columns(features) if features is not None else []
    return [*ALL_BASE_FEATURES, "category_shares", *extra]


def feature_matrix(features: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The clustering's input: the pipeline fitted on these customers, as float64."""
    if features.empty:
        return np.zeros((0, len(columns)))
    from segments.ml.pipeline import feature_pipeline  # scikit-learn loads only for the methods that need it

    matrix = feature_pipeline(columns).fit_transform(features[columns])
    return np.nan_to_num(np.asarray(matrix, dtype=np.float64))
