"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

A ridge regression of every item on all the others with a zero diagonal, in closed form:
P = (X'X + l2 I)^-1, B = -P / diag(P) column-wise, diag(B) = 0; scores = X B. It needs a
dense items x items inverse, so it is for catalogs up to `MAX_ITEMS` items; larger ones
are refused (use ALS or item-kNN there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recommender.ml.base import NotFittedError, Recommender, as_csr, binarize

MAX_ITEMS = 20_000
# Above this many items the weights are kept in float32 to halve memory (20,000 items: 1.6 GB).
_FLOAT64_MAX_ITEMS = 6_000


def ease_weights(matrix: sp.csr_matrix, *, l2: float, max_items: int = MAX_ITEMS) -> np.ndarray:
    """The EASE item-item weight matrix B (items x items, zero diagonal)."""
    n_items = matrix.shape[1]
    if n_items > max_items:
        raise ValueError(
            f"EASE needs a dense {n_items:,} x {n_items:,} inverse; catalogs above {max_items:,} items are "
            "refused. Use 'als' or 'item_knn' for a catalog this large."
        )
    if l2 <= 0:
        raise ValueError("EASE l2 must be positive")
    dtype = np.float64 if n_items <= _FLOAT64_MAX_ITEMS else np.float32
    x = as_csr(matrix, dtype=dtype)
    gram = (x.T @ x).toarray()
    gram[np.diag_indices(n_items)] += l2
    precision = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    weights = precision / (-np.diag(precision))
    weights[np.diag_indices(n_items)] = 0.0
    return weights


def value_cells(matrix: sp.csr_matrix, power: float) -> sp.csr_matrix:
    """Cells value ** power, scaled so the mean cell is 1 (then `l2` means the same as on a binary matrix)."""
    out = as_csr(matrix)
    out.data = np.power(np.maximum(out.data, 0.0), power, dtype=np.float32)
    out.eliminate_zeros()
    if out.nnz:
        out.data /= out.data.mean()
    return out


class EASE(Recommender):
    """Closed-form item-item linear model; the strongest single model on dense-ish data.

    Defaults: `l2=500` (ridge penalty; tune on validation, larger for larger data),
    `binary=True` (learn from who-interacted rather than the weights). With `binary=False` each
    cell is weight ** `value_power` (default 0.5: a rating of 5 counts about 2.2 times a rating
    of 1), rescaled so the mean cell is 1; scoring uses the history the same way (the rescaling
    multiplies a user's scores by one constant, so rankings do not depend on it).
    """

    name = "ease"
    defaults = {"l2": 500.0, "binary": True, "value_power": 0.5}
    uses_values = True  # with binary=False it learns from the weights: evaluation hands it the weighted matrix

    weights: np.ndarray | None = None

    def fit(self, matrix: sp.csr_matrix) -> EASE:
        data = self._prepare(matrix)
        self.weights = ease_weights(data, l2=float(self.l2))
        self.n_items = matrix.shape[1]
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        if self.weights is None:
            raise NotFittedError("EASE model is not fitted")
        hist = self._prepare(history)
        return np.asarray(hist.astype(self.weights.dtype) @ self.weights, dtype=np.float64)

    def _prepare(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        return binarize(matrix) if self.binary else value_cells(matrix, float(self.value_power))

    def get_state(self) -> dict[str, Any]:
        return {"weights": self.weights}

    def set_state(self, state: dict[str, Any]) -> None:
        self.weights = np.asarray(state["weights"])
