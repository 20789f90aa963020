"""Rating prediction for explicit ratings: biased matrix factorisation on the squared error.

r_hat(u, i) = mu + b_u + c_i + p_u . q_i, fitted by alternating least squares: with the item
side fixed, each user's (p_u, b_u) is a small ridge regression of (r - mu - c_i) on (q_i, 1),
solved for all users at once (batched normal equations), then the same for items. With
`weighted=True` each row's penalty is scaled by its number of ratings (ALS-WR, Zhou et al.
2008), which is what per-rating SGD regularisation (Surprise's SVD) amounts to.

Memory: the normal equations are built as (ratings pattern) @ (outer products of the other
side's vectors), about n_other x (factors + 1)^2 floats; fine for rating data sets up to
hundreds of thousands of items at tens of factors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import NotFittedError, Recommender, as_csr

_BLOCK_CELLS = 30_000_000


def _solve_side(
    ratings: sp.csr_matrix,
    other: np.ndarray,
    other_bias: np.ndarray,
    mu: float,
    *,
    reg_factors: float,
    reg_bias: float,
    weighted: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge solve of every row's (factors, bias) against the other side's fixed (factors, bias)."""
    n_rows = ratings.shape[0]
    n_factors = other.shape[1]
    dim = n_factors + 1
    z = np.hstack([other, np.ones((other.shape[0], 1))])  # (q_i, 1)
    outer = np.einsum("ij,ik->ijk", z, z).reshape(len(z), dim * dim)
    pattern = ratings.copy()
    pattern.data = np.ones_like(pattern.data, dtype=np.float64)
    residual = ratings.copy().astype(np.float64)
    residual.data = residual.data - mu - other_bias[residual.indices]
    rhs = np.asarray(residual @ z)  # n_rows x dim
    counts = np.diff(ratings.indptr).astype(np.float64)
    scale = np.maximum(counts, 1.0) if weighted else np.ones(n_rows)
    penalty = np.concatenate([np.full(n_factors, reg_factors), [reg_bias]])
    solution = np.zeros((n_rows, dim))
    block = max(1, _BLOCK_CELLS // (dim * dim))
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        gram = np.asarray(pattern[start:stop] @ outer).reshape(stop - start, dim, dim)
        gram[:, np.arange(dim), np.arange(dim)] += scale[start:stop, None] * penalty[None, :]
        solution[start:stop] = np.linalg.solve(gram, rhs[start:stop, :, None])[:, :, 0]
    return solution[:, :n_factors], solution[:, n_factors]


class BiasedMF(Recommender):
    """Biased matrix factorisation for explicit ratings (the squared-error objective).

    Defaults: `factors=8`, `regularization=10.0` (on factors and biases, per rating when
    `weighted`), `weighted=False`, `iterations=20`, `random_state=42`. As a top-N recommender
    it ranks by predicted rating, which is a poor ranking objective (see Surprise's SVD row
    in the published table); it is here for rating prediction (RMSE / MAE).
    """

    name = "biased_mf"
    needs_ratings = True
    defaults = {"factors": 8, "regularization": 10.0, "weighted": False, "iterations": 20, "random_state": 42}

    mu: float = 0.0
    rating_min: float = -np.inf
    rating_max: float = np.inf
    user_factors: np.ndarray | None = None
    user_bias: np.ndarray | None = None
    item_factors: np.ndarray | None = None
    item_bias: np.ndarray | None = None

    def fit(self, matrix: sp.csr_matrix) -> BiasedMF:
        """Fit on a users x items matrix whose nonzeros are the ratings."""
        ratings = as_csr(matrix, dtype=np.float64)
        by_item = ratings.T.tocsr()
        n_users, n_items = ratings.shape
        rng = np.random.default_rng(self.random_state)
        self.mu = float(ratings.data.mean()) if ratings.nnz else 0.0
        if ratings.nnz:
            self.rating_min, self.rating_max = float(ratings.data.min()), float(ratings.data.max())
        f = int(self.factors)
        self.user_factors = rng.normal(0, 0.1, (n_users, f))
        self.item_factors = rng.normal(0, 0.1, (n_items, f))
        self.user_bias = np.zeros(n_users)
        self.item_bias = np.zeros(n_items)
        reg = float(self.regularization)
        for _ in range(int(self.iterations)):
            self.user_factors, self.user_bias = _solve_side(
                ratings,
                self.item_factors,
                self.item_bias,
                self.mu,
                reg_factors=reg,
                reg_bias=reg,
                weighted=self.weighted,
            )
            self.item_factors, self.item_bias = _solve_side(
                by_item,
                self.user_factors,
                self.user_bias,
                self.mu,
                reg_factors=reg,
                reg_bias=reg,
                weighted=self.weighted,
            )
        self.n_items = n_items
        return self

    def fold_in(self, history: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Factors and bias for users given only their ratings (rows of `history`)."""
        if self.item_factors is None:
            raise NotFittedError("biased MF model is not fitted")
        reg = float(self.regularization)
        return _solve_side(
            as_csr(history, dtype=np.float64),
            self.item_factors,
            self.item_bias,
            self.mu,
            reg_factors=reg,
            reg_bias=reg,
            weighted=self.weighted,
        )

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        """Predicted rating of every item for users with these rating rows."""
        factors, bias = self.fold_in(history)
        return self.mu + bias[:, None] + self.item_bias[None, :] + factors @ self.item_factors.T

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings for (training user index, item index) pairs, clipped to the rating scale seen."""
        if self.user_factors is None:
            raise NotFittedError("biased MF model is not fitted")
        users, items = np.asarray(users), np.asarray(items)
        dots = np.einsum("ij,ij->i", self.user_factors[users], self.item_factors[items])
        return np.clip(self.mu + self.user_bias[users] + self.item_bias[items] + dots, self.rating_min, self.rating_max)

    def get_state(self) -> dict[str, Any]:
        return {
            "mu": np.array(self.mu),
            "rating_range": np.array([self.rating_min, self.rating_max]),
            "user_factors": self.user_factors,
            "user_bias": self.user_bias,
            "item_factors": self.item_factors,
            "item_bias": self.item_bias,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.mu = float(state["mu"])
        self.rating_min, self.rating_max = (float(v) for v in state["rating_range"])
        for key in ("user_factors", "user_bias", "item_factors", "item_bias"):
            setattr(self, key, np.asarray(state[key], dtype=np.float64))
