"""A weighted blend of complementary models, each model's scores normalised per user.

EASE (item-item regression), ALS / iALS (low-rank factors) and item-kNN (local neighbourhoods)
make different mistakes; their scores live on different scales, so each is standardised per user
over the items the user has not seen (z-score by default) before the weighted sum. The
weights are chosen on a validation split carved from the training data
(`evaluation.tune_blend_weights`), never on the test split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import NotFittedError, Recommender, from_saved

NORMALISERS = ("zscore", "minmax", "none")


def normalise_scores(scores: np.ndarray, history: sp.csr_matrix, *, method: str = "zscore") -> np.ndarray:
    """Per-row normalisation with statistics over the row's unseen items (history entries ignored)."""
    scores = np.asarray(scores, dtype=np.float64)
    if method == "none":
        return scores
    if method not in NORMALISERS:
        raise ValueError(f"normalise must be one of {NORMALISERS}, not {method!r}")
    n_rows, n_items = scores.shape
    hist = sp.csr_matrix(history)
    rows, cols = hist.nonzero()
    unseen = (n_items - np.bincount(rows, minlength=n_rows)).astype(np.float64)
    unseen = np.maximum(unseen, 1.0)
    if method == "zscore":
        seen_vals = scores[rows, cols]
        total = scores.sum(axis=1) - np.bincount(rows, weights=seen_vals, minlength=n_rows)
        total_sq = (scores**2).sum(axis=1) - np.bincount(rows, weights=seen_vals**2, minlength=n_rows)
        mean = total / unseen
        std = np.sqrt(np.maximum(total_sq / unseen - mean**2, 0.0))
        return (scores - mean[:, None]) / (std[:, None] + 1e-12)
    masked = scores.copy()
    masked[rows, cols] = np.nan
    low = np.nanmin(masked, axis=1, initial=np.inf, where=~np.isnan(masked))
    high = np.nanmax(masked, axis=1, initial=-np.inf, where=~np.isnan(masked))
    span = np.where(high > low, high - low, 1.0)
    return (scores - low[:, None]) / span[:, None]


class Blend(Recommender):
    """Weighted sum of per-user-normalised scores of several models.

    Defaults: `components={"ease": {}, "als": {}, "item_knn": {}}` (algorithm -> its
    parameters), `weights={"ease": 0.6, "als": 0.3, "item_knn": 0.1}`, `normalise="zscore"`.
    A component whose weight is 0 is not fitted.
    """

    name = "blend"
    defaults = {
        "components": {"ease": {}, "als": {}, "item_knn": {}},
        "weights": {"ease": 0.6, "als": 0.3, "item_knn": 0.1},
        "normalise": "zscore",
    }
    uses_values = True  # parts that learn from weights (EASE with binary=False) get them; the others binarise

    models: dict[str, Recommender] | None = None

    def _active(self) -> list[str]:
        return [name for name in self.components if float(self.weights.get(name, 0.0)) != 0.0]

    def fit(self, matrix: sp.csr_matrix) -> Blend:
        from recommender.ml.registry import make_recommender

        self.models = {name: make_recommender(name, **self.components[name]).fit(matrix) for name in self._active()}
        self.n_items = matrix.shape[1]
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        if self.models is None:
            raise NotFittedError("blend is not fitted")
        total = np.zeros((history.shape[0], self.n_items))
        for name, model in self.models.items():
            part = normalise_scores(model.score(history), history, method=self.normalise)
            total += float(self.weights[name]) * part
        return total

    def meta(self) -> dict[str, Any]:
        header = super().meta()
        header["parts"] = {name: model.meta() for name, model in (self.models or {}).items()}
        return header

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> Blend:
        blend = cls(**header["params"])
        blend.parts_header = header.get("parts", {})
        return blend

    def get_state(self) -> dict[str, Any]:
        if self.models is None:
            raise NotFittedError("blend is not fitted")
        state: dict[str, Any] = {}
        for name, model in self.models.items():
            for key, value in model.get_state().items():
                state[f"{name}/{key}"] = value
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        parts: dict[str, dict[str, Any]] = {}
        for key, value in state.items():
            name, _, sub = key.partition("/")
            parts.setdefault(name, {})[sub] = value
        headers = getattr(self, "parts_header", {})
        self.models = {name: from_saved(headers[name], parts.get(name, {})) for name in headers}
