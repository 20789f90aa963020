"""RFM: recency, frequency and monetary quintile scores (1-5) and the eleven standard named groups.

Scores are percentile ranks cut into fifths, ties sharing a score: score = ceil(5 * pct_rank), where
pct_rank is the average-rank percentile (so 5 distinct values score 1..5 and equal values score alike).
Recency is reversed: the most recent fifth scores 5.

Groups come from R and FM = round-half-up of (F + M) / 2, by the first matching row of RFM_GROUPS;
the rows cover all 25 (R, FM) cells, so every scored customer is in exactly one group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from segments.ml.features import order_features


@dataclass(frozen=True)
class RfmGroup:
    key: str
    name: str
    r: tuple[int, int]  # inclusive range of the R score
    fm: tuple[int, int]  # inclusive range of FM = round((F + M) / 2)
    description: str

    def matches(self, r: int, fm: int) -> bool:
        return self.r[0] <= r <= self.r[1] and self.fm[0] <= fm <= self.fm[1]


RFM_GROUPS: list[RfmGroup] = [
    RfmGroup("champions", "Champions", (4, 5), (5, 5), "bought recently, buy often and spend the most"),
    RfmGroup("loyal", "Loyal Customers", (3, 5), (4, 5), "buy regularly and spend well; responsive to promotions"),
    RfmGroup("potential_loyalists", "Potential Loyalists", (4, 5), (2, 3), "recent customers with average frequency"),
    RfmGroup("new", "New Customers", (5, 5), (1, 1), "bought most recently, but not often"),
    RfmGroup("promising", "Promising", (4, 4), (1, 1), "recent shoppers who have not spent much"),
    RfmGroup("need_attention", "Need Attention", (3, 3), (3, 3), "above average, but not bought very recently"),
    RfmGroup("about_to_sleep", "About to Sleep", (3, 3), (1, 2), "below average; will be lost if not reactivated"),
    RfmGroup("cant_lose", "Can't Lose Them", (1, 2), (5, 5), "made big, frequent purchases long ago"),
    RfmGroup("at_risk", "At Risk", (1, 2), (3, 4), "spent and bought often, but long ago"),
    RfmGroup("hibernating", "Hibernating", (2, 2), (1, 2), "last purchase long ago, few orders, low spend"),
    RfmGroup("lost", "Lost", (1, 1), (1, 2), "lowest recency, frequency and spend"),
]
GROUPS_BY_KEY = {group.key: group for group in RFM_GROUPS}


def quintile_scores(values: pd.Series, *, reverse: bool = False) -> pd.Series:
    """1..5 by average-rank percentile; equal values share a score. reverse: lower values score higher."""
    if values.empty:
        return pd.Series(dtype=int, index=values.index)
    pct = (-values if reverse else values).rank(method="average", pct=True)
    return np.ceil(pct * 5).clip(1, 5).astype(int)


def rfm_group(r: int, fm: int) -> RfmGroup:
    for group in RFM_GROUPS:
        if group.matches(r, fm):
            return group
    raise ValueError(f"no RFM group for R={r}, FM={fm}")  # unreachable: the table covers the grid


def rfm_scores(orders: pd.DataFrame, *, today: datetime, returns: pd.Series | None = None) -> pd.DataFrame:
    """Per customer with at least one order (columns customer_id, occurred_at, amount; order_key optional):
    recency_days, frequency, monetary, r, f, m, fm, score ("545"), group (key) and group_name.

    `returns` (customer_id -> returned amount) is subtracted from spend: monetary is net revenue.
    """
    if "order_key" not in orders.columns:
        orders = orders.assign(order_key=np.arange(len(orders)))
    per_customer = order_features(orders, as_of=today)
    frame = pd.DataFrame(index=per_customer.index)
    frame["recency_days"] = per_customer["recency_days"].astype(float)
    frame["frequency"] = per_customer["frequency"].astype(int)
    monetary = per_customer["gross_spend"].astype(float)
    if returns is not None:
        monetary = monetary - returns.reindex(frame.index).fillna(0.0).astype(float)
    frame["monetary"] = monetary
    frame["r"] = quintile_scores(frame["recency_days"], reverse=True)
    frame["f"] = quintile_scores(frame["frequency"].astype(float))
    frame["m"] = quintile_scores(frame["monetary"])
    frame["fm"] = ((frame["f"] + frame["m"]) / 2 + 0.5).apply(math.floor).astype(int)
    frame["score"] = frame["r"].astype(str) + frame["f"].astype(str) + frame["m"].astype(str)
    lookup = {(r, fm): rfm_group(r, fm) for r in range(1, 6) for fm in range(1, 6)}
    groups = [lookup[(r, fm)] for r, fm in zip(frame["r"], frame["fm"], strict=True)]
    frame["group"] = [g.key for g in groups]
    frame["group_name"] = [g.name for g in groups]
    return frame


def rfm_rules_table() -> list[dict]:
    """The score rules as rows, for admin and the segment profiles."""
    return [
        {
            "group": g.name,
            "r": f"{g.r[0]}–{g.r[1]}" if g.r[0] != g.r[1] else str(g.r[0]),
            "fm": f"{g.fm[0]}–{g.fm[1]}" if g.fm[0] != g.fm[1] else str(g.fm[0]),
            "meaning": g.description,
        }
        for g in RFM_GROUPS
    ]


def orders_from_invoice_lines(lines: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Orders and returns from Online Retail style invoice lines (InvoiceNo, Quantity, UnitPrice or Price,
    InvoiceDate, CustomerID or "Customer ID"): exact duplicate lines dropped, lines without a customer
    dropped, cancellations ("C" invoices, negative quantity) counted as returns.
    """
    lines = lines.drop_duplicates()
    customer_col = "CustomerID" if "CustomerID" in lines.columns else "Customer ID"
    price_col = "UnitPrice" if "UnitPrice" in lines.columns else "Price"
    invoice_col = "InvoiceNo" if "InvoiceNo" in lines.columns else "Invoice"
    lines = lines[lines[customer_col].notna()]
    amount = lines["Quantity"].astype(float) * lines[price_col].astype(float)
    frame = pd.DataFrame(
        {
            "customer_id": lines[customer_col].astype(float).astype(int).to_numpy(),
            "order_key": lines[invoice_col].astype(str).to_numpy(),
            "occurred_at": pd.to_datetime(lines["InvoiceDate"]).to_numpy(),
            "amount": amount.to_numpy(),
        }
    )
    cancelled = frame["order_key"].str.startswith("C") | (frame["amount"] < 0)
    purchases = frame[~cancelled]
    orders = purchases.groupby(["customer_id", "order_key"], as_index=False).agg(
        occurred_at=("occurred_at", "min"), amount=("amount", "sum")
    )
    returns = frame[cancelled].assign(amount=lambda f: f["amount"].abs()).groupby("customer_id")["amount"].sum()
    return orders, returns
