"""Implicit-feedback ALS (Hu, Koren and Volinsky 2008) through the `implicit` library.

implicit 0.7 expects a users x items CSR in `fit`; confidence is `alpha * value` for the
observed cells and 1 elsewhere. New or changed users are folded in with
`recalculate_user`: an exact least-squares solve of their factors against the fixed item
factors, so a history newer than the model is scored without a retrain.
Set OPENBLAS_NUM_THREADS=1 (implicit parallelises itself and warns otherwise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from recommender.ml.base import NotFittedError, Recommender, as_csr, binarize


class ALS(Recommender):
    """Matrix factorisation for implicit feedback; scales to large catalogs.

    Defaults: `factors=64`, `regularization=30` (strong: it is not scaled by the number of
    interactions), `alpha=4` (confidence of an observed interaction; what matters most is its
    ratio to the regularisation), `iterations=15`, `binary=True` (1 per interaction before alpha; False uses
    the weights), `random_state=42`, `num_threads=0` (all cores).
    """

    name = "als"
    defaults = {
        "factors": 64,
        "regularization": 30.0,
        "alpha": 4.0,
        "iterations": 15,
        "binary": True,
        "random_state": 42,
        "num_threads": 0,
    }

    _model: AlternatingLeastSquares | None = None

    def _new_model(self) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(
            factors=int(self.factors),
            regularization=float(self.regularization),
            alpha=float(self.alpha),
            iterations=int(self.iterations),
            random_state=self.random_state,
            num_threads=int(self.num_threads),
        )

    def _prepare(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        return binarize(matrix) if self.binary else as_csr(matrix)

    def fit(self, matrix: sp.csr_matrix) -> ALS:
        self._model = self._new_model()
        self._model.fit(self._prepare(matrix), show_progress=False)
        self.n_items = matrix.shape[1]
        return self

    @property
    def item_factors(self) -> np.ndarray:
        if self._model is None:
            raise NotFittedError("ALS model is not fitted")
        return self._model.item_factors

    def user_factors(self, history: sp.csr_matrix) -> np.ndarray:
        """Fold-in: the least-squares user factors for these history rows."""
        if self._model is None:
            raise NotFittedError("ALS model is not fitted")
        hist = self._prepare(history)
        if hist.shape[0] == 0:
            return np.zeros((0, int(self.factors)), dtype=np.float32)
        return np.asarray(self._model.recalculate_user(np.arange(hist.shape[0]), hist))

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(self.user_factors(history) @ self.item_factors.T, dtype=np.float64)

    def similar_items(self, item: int, *, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine between item factor vectors."""
        factors = self.item_factors.astype(np.float64)
        norms = np.linalg.norm(factors, axis=1) + 1e-12
        sims = (factors @ factors[item]) / (norms * norms[item])
        sims[item] = -np.inf
        order = np.lexsort((np.arange(len(sims)), -sims))[:n]
        return order, sims[order]

    def get_state(self) -> dict[str, Any]:
        return {"item_factors": self.item_factors}

    def set_state(self, state: dict[str, Any]) -> None:
        model = self._new_model()
        model.item_factors = np.ascontiguousarray(state["item_factors"], dtype=np.float32)
        model.user_factors = np.zeros((0, model.item_factors.shape[1]), dtype=np.float32)
        self._model = model
