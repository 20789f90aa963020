"""Bought together: products that share order baskets more often than chance.

For items i and j over N baskets: support(i, j) = baskets holding both, confidence(i -> j) =
support / baskets holding i, lift = support * N / (baskets with i * baskets with j). Pairs seen
in fewer than `min_support` baskets are dropped (a lift built on one basket is noise); each
item's list is ranked by lift, then support.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.base import NotFittedError, Recommender, binarize


def co_occurrence_lift(baskets: sp.csr_matrix, *, min_support: int = 2) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(support, lift) items x items from a baskets x items matrix; pairs below min_support dropped."""
    basket_items = binarize(baskets).astype(np.float64)
    n_baskets = basket_items.shape[0]
    counts = np.asarray(basket_items.sum(axis=0)).ravel()
    support = (basket_items.T @ basket_items).tocsr()
    support.setdiag(0)
    support.data[support.data < min_support] = 0
    support.eliminate_zeros()
    support.sort_indices()
    rows = np.repeat(np.arange(support.shape[0]), np.diff(support.indptr))
    lift = support.copy()
    lift.data = support.data * n_baskets / (counts[rows] * counts[support.indices])
    return support, lift


def bought_together(
    pairs: pd.DataFrame, *, order_col: str = "order", item_col: str = "item", min_support: int = 2, n: int = 20
) -> pd.DataFrame:
    """From (order, item) rows to each item's ranked partners.

    Returns columns item, other, support, confidence, lift, rank (1 = best), at most n per item,
    with the original item ids.
    """
    pairs = pairs[[order_col, item_col]].dropna().drop_duplicates()
    order_codes, _orders = pd.factorize(pairs[order_col], sort=False)
    item_codes, items = pd.factorize(pairs[item_col], sort=True)
    baskets = sp.csr_matrix(
        (np.ones(len(pairs), dtype=np.float32), (order_codes, item_codes)), shape=(len(_orders), len(items))
    )
    support, lift = co_occurrence_lift(baskets, min_support=min_support)
    counts = np.asarray(binarize(baskets).sum(axis=0)).ravel()
    rows = np.repeat(np.arange(support.shape[0]), np.diff(support.indptr))
    frame = pd.DataFrame(
        {
            "item": rows,
            "other": support.indices,
            "support": support.data.astype(np.int64),
            "confidence": support.data / counts[rows],
            "lift": lift.data,
        }
    )
    frame = frame.sort_values(["item", "lift", "support", "other"], ascending=[True, False, False, True])
    frame["rank"] = frame.groupby("item").cumcount() + 1
    frame = frame[frame["rank"] <= n].reset_index(drop=True)
    frame["item"] = np.asarray(items)[frame["item"].to_numpy()]
    frame["other"] = np.asarray(items)[frame["other"].to_numpy()]
    return frame


class BoughtTogether(Recommender):
    """Fit on a baskets x items matrix (one row per order); similar_items is the lift-ranked partner list.

    Defaults: `min_support=2` baskets. `score` sums the lifts of a history's items' partners,
    so a cart can be completed with what is usually bought alongside it.
    """

    name = "bought_together"
    defaults = {"min_support": 2}

    support: sp.csr_matrix | None = None
    lift: sp.csr_matrix | None = None

    def fit(self, matrix: sp.csr_matrix) -> BoughtTogether:
        self.support, self.lift = co_occurrence_lift(matrix, min_support=int(self.min_support))
        self.n_items = matrix.shape[1]
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        if self.lift is None:
            raise NotFittedError("bought-together model is not fitted")
        return np.asarray((binarize(history) @ self.lift).toarray(), dtype=np.float64)

    def similar_items(self, item: int, *, n: int) -> tuple[np.ndarray, np.ndarray]:
        if self.lift is None or self.support is None:
            raise NotFittedError("bought-together model is not fitted")
        start, stop = self.lift.indptr[item], self.lift.indptr[item + 1]
        others = self.lift.indices[start:stop]
        lifts = self.lift.data[start:stop].astype(np.float64)
        supports = self.support.data[start:stop]
        order = np.lexsort((others, -supports, -lifts))[:n]
        return others[order].astype(np.int64), lifts[order]

    def get_state(self) -> dict[str, Any]:
        return {"support": self.support, "lift": self.lift}

    def set_state(self, state: dict[str, Any]) -> None:
        self.support, self.lift = state["support"], state["lift"]
