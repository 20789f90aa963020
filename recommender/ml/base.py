"""The one small interface every recommendation algorithm implements.

Users are given by their history rows (a CSR matrix, users x items), not by an index into
the training data: a model scores whatever history it is handed, so events newer than the
model are used at serving time without a retrain (fold-in).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import scipy.sparse as sp


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the n best scores in each row, best first (-inf rows stay last)."""
    n = min(n, scores.shape[1])
    if n <= 0:
        empty = np.empty((scores.shape[0], 0))
        return empty.astype(np.int64), empty
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1)
    return items, np.take_along_axis(part_scores, order, axis=1)


class Recommender(ABC):
    """fit on a users x items matrix; score, recommend and find similar items."""

    name: str = "base"

    n_items: int = 0

    @abstractmethod
    def fit(self, matrix: sp.csr_matrix) -> Recommender:
        """Learn from the interaction matrix (users x items, weights as values)."""

    @abstractmethod
    def score(self, history: sp.csr_matrix) -> np.ndarray:
        """Dense scores (len(history rows) x n_items) for users with these history rows."""

    def recommend(
        self, history: sp.csr_matrix, *, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item indices and scores per history row; items in `exclude` (same shape) never returned.

        Excluded or unscorable slots come back with score -inf: callers drop them.
        """
        scores = np.asarray(self.score(history), dtype=np.float64)
        if exclude is not None and exclude.nnz:
            rows, cols = exclude.nonzero()
            scores[rows, cols] = -np.inf
        return top_n(scores, n)

    def similar_items(self, item: int, *, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Items most similar to `item` (itself excluded). Default: score a one-item history."""
        history = sp.csr_matrix(([1.0], ([0], [item])), shape=(1, self.n_items))
        return self.recommend(history, n=n, exclude=history)
