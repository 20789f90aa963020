"""What each segment is like, and a name and one-line description from its most distinctive features.

`segment_profiles` gives per segment its size, share, revenue share, the mean of each feature with its
z-score against all customers, and top categories; `name_segments` turns the profiles into names like
"Lapsed big spenders" and descriptions like "last order 210 days ago (all customers: 60), spend 4.1× average".
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
import pandas as pd

from segments.ml.features import CATEGORY_PREFIX, FEATURE_LABELS, HEAVY_TAILED, NUMERIC_FEATURES, category_columns

# feature -> (phrase when high, phrase when low); "adj:" phrases qualify, "noun:" phrases name the group.
PHRASES: dict[str, tuple[str | None, str | None]] = {
    "recency_days": ("adj:Lapsed", "adj:Recent"),
    "tenure_days": ("adj:Long-standing", "adj:New"),
    "days_between_orders": ("adj:Infrequent", "adj:Regular"),
    "frequency": ("noun:frequent buyers", "noun:one-off buyers"),
    "monetary": ("noun:big spenders", "noun:low spenders"),
    "avg_order_value": ("noun:big-basket shoppers", "noun:small-basket shoppers"),
    "return_rate": ("noun:serial returners", None),
    "views": ("noun:heavy browsers", "adj:Quiet"),
    "browsing_minutes": ("noun:long browsers", None),
    "carts": ("noun:cart fillers", None),
    "purchases": ("noun:bulk buyers", None),
    "conversion": ("adj:Decisive", "noun:window shoppers"),
    "mean_rating": ("adj:Happy", "adj:Critical"),
    "age": ("adj:Older", "adj:Younger"),
}
MIN_Z = 0.4  # below this a feature is not distinctive enough to name a segment after


def _scaled(features: pd.DataFrame, column: str) -> pd.Series:
    values = features[column].astype(float)
    return np.log1p(values.clip(lower=0)) if column in HEAVY_TAILED else values


def category_spend_shares(category_spend: pd.DataFrame | None, labels: pd.Series) -> pd.DataFrame:
    """label x category: the segment's merchandise spend in the category over its merchandise spend in every
    category (rows sum to 1; a segment that bought no merchandise has no row). `category_spend` has
    customer_id, category, amount (merchandise purchases, as selectors.feature_inputs reads them)."""
    if category_spend is None or category_spend.empty:
        return pd.DataFrame(dtype=float)
    segment = category_spend["customer_id"].map(labels)
    spend = category_spend.assign(segment=segment, amount=category_spend["amount"].astype(float))
    spend = spend[spend["segment"].notna()]
    table = spend.pivot_table(index="segment", columns="category", values="amount", aggfunc="sum", fill_value=0.0)
    totals = table.sum(axis=1)
    return table[totals > 0].div(totals[totals > 0], axis=0)


def segment_profiles(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    category_spend: pd.DataFrame | None = None,
    revenue_column: str = "monetary",
    top_categories: int = 3,
) -> dict[Hashable, dict]:
    """Per label: size, share, revenue_share, features {name: mean, overall, z, distinctiveness}, top_categories.

    `features` holds every customer the shares are taken against (index customer_id); `labels` maps those
    customers to their segment. z = (segment mean - overall mean) / overall std; `distinctiveness` is the
    same on the scale the clustering sees (log for counts and money), which is what names are chosen by.
    revenue_share is the segment's net spend over all customers' net spend. top_categories are the
    segment's merchandise spend per category over its merchandise spend in all categories (`category_spend`:
    customer_id, category, amount), the largest first; `category_spend_shares` holds every category's share, and
    `all_customers_category_shares` the same over all customers.
    """
    labels = labels.reindex(features.index)
    numeric = [c for c in [*NUMERIC_FEATURES, *category_columns(features)] if c in features.columns]
    total = len(features)
    revenue = features[revenue_column].astype(float) if revenue_column in features else None
    revenue_total = float(revenue.sum()) if revenue is not None else 0.0
    overall = features[numeric].astype(float).mean()
    spread = features[numeric].astype(float).std(ddof=0).replace(0, np.nan)
    scaled = pd.DataFrame({c: _scaled(features, c) for c in numeric}, index=features.index)
    scaled_mean, scaled_std = scaled.mean(), scaled.std(ddof=0).replace(0, np.nan)
    means = features[numeric].astype(float).groupby(labels).mean()
    scaled_means = scaled.groupby(labels).mean()
    sizes = labels.value_counts()
    spend_shares = category_spend_shares(category_spend, labels)
    everyone = category_spend_shares(category_spend, pd.Series("all", index=features.index))
    overall_shares = everyone.loc["all"] if "all" in everyone.index else pd.Series(dtype=float)
    profiles: dict[Hashable, dict] = {}
    for label, size in sizes.items():
        feature_rows = {}
        for column in numeric:
            mean = means.at[label, column]
            z = (mean - overall[column]) / spread[column]
            distinct = (scaled_means.at[label, column] - scaled_mean[column]) / scaled_std[column]
            feature_rows[column] = {
                "label": _label(column),
                "mean": _num(mean),
                "overall": _num(overall[column]),
                "z": _num(z),
                "distinctiveness": _num(distinct),
            }
        shares = spend_shares.loc[label] if label in spend_shares.index else pd.Series(dtype=float)
        shares = shares[shares > 0].sort_values(ascending=False, kind="stable")
        profiles[label] = {
            "size": int(size),
            "share": round(size / total, 6) if total else 0.0,
            "revenue_share": round(float(revenue[labels == label].sum()) / revenue_total, 6) if revenue_total else 0.0,
            "features": feature_rows,
            "top_categories": [
                {"category": str(c), "spend_share": round(float(v), 4)} for c, v in shares.iloc[:top_categories].items()
            ],
            "category_spend_shares": {str(c): round(float(v), 4) for c, v in shares.items()},
            "all_customers_category_shares": {str(c): round(float(v), 4) for c, v in overall_shares.items() if v > 0},
        }
    return profiles


def _label(column: str) -> str:
    if column.startswith(CATEGORY_PREFIX):
        # Each member's share, shrunk toward the shop's mix when they bought little (what the clustering sees);
        # the segment's own share of spend is in the profile's top_categories.
        return f"member's share of spend on {column[len(CATEGORY_PREFIX) :]} (smoothed)"
    return FEATURE_LABELS.get(column, column.replace("_", " "))


def _num(value: float) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), 4)


def _phrase(column: str, distinct: float) -> tuple[str, str] | None:
    """(role, text) of the phrase naming a segment whose feature stands out by `distinct`."""
    if column.startswith(CATEGORY_PREFIX):
        return ("noun", f"{column[len(CATEGORY_PREFIX) :]} fans") if distinct > 0 else None
    high, low = PHRASES.get(column, (None, None))
    chosen = high if distinct > 0 else low
    if not chosen:
        return None
    role, text = chosen.split(":", 1)
    return role, text


# Features marketers think in first win ties when naming: recency and spend before tenure or browsing.
PRIORITY = {"recency_days": 1.25, "monetary": 1.25, "frequency": 1.1, "avg_order_value": 1.1}


def _ranked(profile: dict) -> list[tuple[str, float]]:
    rows = [(c, f["distinctiveness"]) for c, f in profile["features"].items() if f["distinctiveness"] is not None]
    return sorted(rows, key=lambda item: -abs(item[1]) * PRIORITY.get(item[0], 1.0))


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}"


def describe_feature(column: str, row: dict) -> str:
    """One clause like "last order 210 days ago (all customers: 60)" or "spend 4.1× average"."""
    mean, overall = row["mean"] or 0.0, row["overall"] or 0.0
    ratio = mean / overall if overall else None
    if column == "recency_days":
        return f"last order {_fmt(mean)} days ago (all customers: {_fmt(overall)})"
    if column == "monetary" and ratio is not None:
        return f"spend {ratio:.1f}× average"
    if column == "avg_order_value" and ratio is not None:
        return f"average order {_fmt(mean)} ({ratio:.1f}× average)"
    if column == "frequency":
        return f"{mean:.1f} orders (all customers: {overall:.1f})"
    if column == "tenure_days":
        return f"customer for {_fmt(mean)} days (all customers: {_fmt(overall)})"
    if column == "days_between_orders":
        return f"orders every {_fmt(mean)} days (all customers: {_fmt(overall)})"
    if column in {"return_rate", "conversion"} or column.startswith(CATEGORY_PREFIX):
        return f"{row['label']} {mean:.0%} (all customers: {overall:.0%})"
    if column == "mean_rating":
        return f"rates {mean:.1f}/5 (all customers: {overall:.1f})"
    return f"{row['label']} {_fmt(mean)} (all customers: {_fmt(overall)})"


def _describe(column: str, profile: dict) -> str:
    """A clause for the feature; for a category, the segment's own share of spend (what the words say)."""
    if column.startswith(CATEGORY_PREFIX) and "category_spend_shares" in profile:
        category = column[len(CATEGORY_PREFIX) :]
        share = profile["category_spend_shares"].get(category, 0.0)
        overall = profile.get("all_customers_category_shares", {}).get(category, 0.0)
        return f"{share:.0%} of spend on {category} (all customers: {overall:.0%})"
    return describe_feature(column, profile["features"][column])


def describe(profile: dict, *, clauses: int = 2) -> str:
    """The most distinctive features in words, in the name's order (what qualifies first, then what names)."""
    chosen = [(c, d) for c, d in _ranked(profile) if abs(d) >= MIN_Z][:clauses]
    chosen.sort(key=lambda item: 0 if (_phrase(*item) or ("noun",))[0] == "adj" else 1)
    parts = [_describe(c, profile) for c, _ in chosen]
    return ", ".join(parts) if parts else "close to the average customer on every feature"


def _candidate_names(profile: dict) -> list[str]:
    adjectives: list[str] = []
    nouns: list[str] = []
    for column, distinct in _ranked(profile):
        if abs(distinct) < MIN_Z:
            break
        phrase = _phrase(column, distinct)
        if phrase is None:
            continue
        (adjectives if phrase[0] == "adj" else nouns).append(phrase[1])
    adjectives, nouns = list(dict.fromkeys(adjectives)), list(dict.fromkeys(nouns))
    names = [f"{a} {n}" for n in nouns[:3] for a in adjectives[:3]]
    names += [f"{a} customers" for a in adjectives[:3]] + [n[0].upper() + n[1:] for n in nouns[:3]]
    # Most distinctive pair first: order by the rank of the phrases used.
    return names or ["Typical customers"]


def name_segments(profiles: dict[Hashable, dict]) -> dict[Hashable, tuple[str, str]]:
    """label -> (name, description), names unique within the run, larger segments choosing first."""
    taken: set[str] = set()
    result: dict[Hashable, tuple[str, str]] = {}
    for label in sorted(profiles, key=lambda key: -profiles[key]["size"]):
        profile = profiles[label]
        candidates = _candidate_names(profile)
        name = next((c for c in candidates if c not in taken), None)
        if name is None:
            base, n = candidates[0], 2
            while f"{base} ({n})" in taken:
                n += 1
            name = f"{base} ({n})"
        taken.add(name)
        result[label] = (name, describe(profile))
    return result
