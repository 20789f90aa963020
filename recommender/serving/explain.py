"""Why an item was recommended: the history item that contributed most to its score."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import Recommender

# What the customer did with the explaining item, strongest first: an index into BECAUSE_KINDS.
BECAUSE_KINDS = ("", "viewed", "added to cart", "rated", "bought")
KIND_CODES = {"view": 1, "cart": 2, "rating": 3, "purchase": 4}


def contributions(model: Recommender, history_items: np.ndarray, items: np.ndarray) -> np.ndarray | None:
    """len(history_items) x len(items): how much each history item adds to each item's score.

    Exact for the linear item-item models (EASE, item-kNN), the factor dot product for ALS, the
    dominant part for a blend, and a one-item history scored by the model otherwise. None when
    the model's scores do not depend on the history (popularity).
    """
    if len(history_items) == 0 or len(items) == 0 or model.name == "popularity":
        return None
    parts = getattr(model, "models", None)
    if isinstance(parts, dict) and parts:
        weights = getattr(model, "weights", {})
        dominant = max(parts, key=lambda name: float(weights.get(name, 0.0)))
        return contributions(parts[dominant], history_items, items)
    weights = getattr(model, "weights", None)
    if isinstance(weights, np.ndarray):
        return weights[np.ix_(history_items, items)]
    similarity = getattr(model, "similarity", None)
    if sp.issparse(similarity):
        return similarity[history_items][:, items].toarray()
    if model.name == "als":
        factors = model.item_factors
        return factors[history_items] @ factors[items].T
    one_hot = sp.csr_matrix(
        (np.ones(len(history_items)), (np.arange(len(history_items)), history_items)),
        shape=(len(history_items), model.n_items),
    )
    return np.asarray(model.score(one_hot))[:, items]


def because_items(model: Recommender, history_items: np.ndarray, items: np.ndarray) -> np.ndarray:
    """For each item, the history item explaining it (-1 where nothing contributes positively)."""
    result = np.full(len(items), -1, dtype=np.int64)
    contrib = contributions(model, np.asarray(history_items, dtype=np.int64), np.asarray(items, dtype=np.int64))
    if contrib is None:
        return result
    best = np.argmax(contrib, axis=0)
    positive = contrib[best, np.arange(len(items))] > 0
    result[positive] = np.asarray(history_items)[best[positive]]
    return result
