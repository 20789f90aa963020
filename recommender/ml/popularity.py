"""Popularity: the global fallback, popular per category, and trending over a recent window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.base import NotFittedError, Recommender, as_csr


def item_popularity(matrix: sp.csr_matrix, *, by: str = "users") -> np.ndarray:
    """Per item: how many users interacted (`by="users"`) or the summed weights (`by="weight"`)."""
    csr = as_csr(matrix)
    if by == "users":
        return np.bincount(csr.indices[csr.data > 0], minlength=csr.shape[1]).astype(np.float64)
    if by == "weight":
        return np.asarray(csr.sum(axis=0)).ravel().astype(np.float64)
    raise ValueError(f"by must be 'users' or 'weight', not {by!r}")


class PopularityRecommender(Recommender):
    """Everyone gets the most popular items they have not seen.

    Defaults: `by="users"` (count distinct users per item; "weight" sums the interaction
    weights instead). Scores do not depend on the history, so this is also the cold-start list.
    """

    name = "popularity"
    defaults = {"by": "users"}

    popularity: np.ndarray | None = None

    def fit(self, matrix: sp.csr_matrix) -> PopularityRecommender:
        self.popularity = item_popularity(matrix, by=self.by)
        self.n_items = matrix.shape[1]
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        if self.popularity is None:
            raise NotFittedError("popularity model is not fitted")
        return np.broadcast_to(self.popularity, (history.shape[0], self.n_items)).copy()

    def get_state(self) -> dict[str, Any]:
        return {"popularity": self.popularity}

    def set_state(self, state: dict[str, Any]) -> None:
        self.popularity = np.asarray(state["popularity"], dtype=np.float64)


def popular_by_category(
    matrix: sp.csr_matrix, item_categories: np.ndarray | pd.Series, *, n: int = 20, by: str = "users"
) -> dict[Any, np.ndarray]:
    """For each category, its items (column indices) ordered by popularity, at most n, never-seen ones left out."""
    popularity = item_popularity(matrix, by=by)
    categories = pd.Series(np.asarray(item_categories, dtype=object))
    frame = pd.DataFrame({"item": np.arange(len(popularity)), "category": categories, "pop": popularity})
    frame = frame[(frame["pop"] > 0) & frame["category"].notna()]
    frame = frame.sort_values(["category", "pop", "item"], ascending=[True, False, True], kind="stable")
    top = frame.groupby("category", sort=False).head(n)
    return {category: group["item"].to_numpy() for category, group in top.groupby("category", sort=False)}


def trending_items(
    items: np.ndarray,
    occurred_at: np.ndarray | pd.Series,
    *,
    n_items: int,
    now: pd.Timestamp | None = None,
    window_days: float = 7.0,
    baseline_windows: int = 4,
    min_count: int = 2,
    n: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Items whose activity in the last `window_days` grew most against the windows before.

    `items` are column indices of events, `occurred_at` their times. The score is
    (recent - baseline) / sqrt(baseline + 1), where baseline is the mean count per window over
    the `baseline_windows` windows before the recent one: a surge on a usually quiet item ranks
    high, a steady best-seller does not. Items with fewer than `min_count` recent events are
    left out. Returns (item indices, scores), best first.
    """
    times = pd.to_datetime(pd.Series(occurred_at), utc=True)
    reference = times.max() if now is None else pd.Timestamp(now)
    if reference.tzinfo is None:
        reference = reference.tz_localize("UTC")
    age_days = ((reference - times).dt.total_seconds() / 86400.0).to_numpy()
    items = np.asarray(items, dtype=np.int64)
    recent_mask = (age_days >= 0) & (age_days < window_days)
    base_mask = (age_days >= window_days) & (age_days < window_days * (1 + baseline_windows))
    recent = np.bincount(items[recent_mask], minlength=n_items).astype(np.float64)
    baseline = np.bincount(items[base_mask], minlength=n_items) / max(baseline_windows, 1)
    score = (recent - baseline) / np.sqrt(baseline + 1.0)
    candidates = np.flatnonzero((recent >= min_count) & (score > 0))
    order = np.lexsort((candidates, -recent[candidates], -score[candidates]))[:n]
    chosen = candidates[order]
    return chosen, score[chosen]
