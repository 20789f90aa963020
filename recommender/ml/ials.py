"""iALS with frequency-scaled regularisation (Rendle, Krichene, Zhang and Koren, "Revisiting the
Performance of iALS on Item Recommendation Benchmarks", RecSys 2022), in numpy.

Loss over users u and items i with factors w_u, h_i and observed set S:
    sum_{(u,i) in S} (w_u.h_i - 1)^2 + alpha0 * sum_{u,i} (w_u.h_i)^2
    + reg * (sum_u (|I_u| + alpha0 |I|)^nu |w_u|^2 + sum_i (|U_i| + alpha0 |U|)^nu |h_i|^2)
Each half-step solves every row's ridge system at once:
    (H_u'H_u + alpha0 H'H + reg_u I) w_u = H_u' 1.
It differs from `implicit`'s ALS by the regularisation that grows with a row's activity
(nu = 1), which Rendle et al. found decisive, and by the unobserved weight alpha0 being a
parameter of its own. New users are folded in with the same solve.

Memory: the per-row Gram matrices come from (pattern) @ (outer products of the other side's
factors): n_items x factors^2 floats, so keep factors <= ~128 on catalogs of tens of
thousands of items; `als` (implicit) is the choice for larger catalogs.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import NotFittedError, Recommender, binarize

_BLOCK_CELLS = 20_000_000
_DENSE_CELLS = 5_000_000
_CHUNK_CELLS = 65_536


def _solve_rows(
    pattern: sp.csr_matrix, other: np.ndarray, *, alpha0: float, reg: float, nu: float, n_other_total: int
) -> np.ndarray:
    """Factors for every row of `pattern` (binary) against the other side's fixed factors."""
    n_rows = pattern.shape[0]
    dim = other.shape[1]
    gram_all = alpha0 * (other.T @ other)
    outer = np.einsum("ij,ik->ijk", other, other).reshape(len(other), dim * dim)
    rhs = np.asarray(pattern @ other)
    counts = np.diff(pattern.indptr).astype(np.float64)
    row_reg = reg * np.power(counts + alpha0 * n_other_total, nu)
    solution = np.zeros((n_rows, dim))
    block = max(1, _BLOCK_CELLS // (dim * dim))
    diag = np.arange(dim)
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        gram = np.asarray(pattern[start:stop] @ outer).reshape(stop - start, dim, dim) + gram_all[None]
        gram[:, diag, diag] += row_reg[start:stop, None]
        solution[start:stop] = np.linalg.solve(gram, rhs[start:stop, :, None])[:, :, 0]
    return solution


def _cg_rows(
    pattern: sp.csr_matrix,
    other: np.ndarray,
    start: np.ndarray,
    *,
    alpha0: float,
    reg: float,
    nu: float,
    n_other_total: int,
    steps: int,
) -> np.ndarray:
    """A few conjugate-gradient steps on every row's system at once, warm-started at `start`.

    Never forms a per-row Gram matrix: A x = alpha0 x H'H + reg_u x + sum_{i in row} (x.h_i) h_i,
    the last term through the observed cells only, so a step costs O(nnz * factors).
    """
    indptr, cols = pattern.indptr, pattern.indices
    gram_all = alpha0 * (other.T @ other)
    counts = np.diff(indptr).astype(np.float64)
    row_reg = (reg * np.power(counts + alpha0 * n_other_total, nu))[:, None]

    dense_pattern = pattern.toarray() if pattern.shape[0] * pattern.shape[1] <= _DENSE_CELLS else None
    # Row blocks of about _CHUNK_CELLS observed cells: the gathered factors of a block stay in cache instead
    # of two nnz x factors arrays being allocated and walked through memory at every step.
    bounds = np.searchsorted(indptr, np.arange(0, indptr[-1], _CHUNK_CELLS), side="right") - 1
    bounds = np.unique(np.concatenate([[0], bounds, [pattern.shape[0]]]))

    def observed_part(x: np.ndarray) -> np.ndarray:
        if dense_pattern is not None:  # small data: two BLAS products beat gathering every cell
            return (dense_pattern * (x @ other.T)) @ other
        out = np.empty_like(x)
        for first, last in itertools.pairwise(bounds):
            lo, hi = indptr[first], indptr[last]
            block_cols = cols[lo:hi]
            block_rows = np.repeat(np.arange(last - first), counts[first:last].astype(np.int64))
            cell = np.einsum("ij,ij->i", x[first:last][block_rows], other[block_cols])
            block = sp.csr_matrix((cell, block_cols, indptr[first : last + 1] - lo), shape=(last - first, len(other)))
            out[first:last] = block @ other
        return out

    def apply(x: np.ndarray) -> np.ndarray:
        return x @ gram_all + row_reg * x + observed_part(x)

    x = start.copy()
    residual = np.asarray(pattern @ other) - apply(x)
    direction = residual.copy()
    rs_old = np.einsum("ij,ij->i", residual, residual)
    for _ in range(steps):
        applied = apply(direction)
        step = rs_old / np.maximum(np.einsum("ij,ij->i", direction, applied), 1e-20)
        x += step[:, None] * direction
        residual -= step[:, None] * applied
        rs_new = np.einsum("ij,ij->i", residual, residual)
        direction = residual + (rs_new / np.maximum(rs_old, 1e-20))[:, None] * direction
        rs_old = rs_new
    return x


class IALS(Recommender):
    """Implicit ALS with activity-scaled regularisation (numpy; catalogs up to tens of thousands).

    Defaults: `factors=64`, `alpha0=0.3` (weight of every unobserved cell), `regularization=0.017`
    (scaled per row by (count + alpha0 * n_other) ** nu), `nu=1.0`, `iterations=15`,
    `cg_steps=3` (conjugate-gradient steps per half-iteration, warm-started),
    `init_std=0.1`, `random_state=42`.
    """

    name = "ials"
    defaults = {
        "factors": 64,
        "alpha0": 0.3,
        "regularization": 0.017,
        "nu": 1.0,
        "iterations": 15,
        "cg_steps": 3,
        "init_std": 0.1,
        "random_state": 42,
    }

    item_factors: np.ndarray | None = None

    def fit(self, matrix: sp.csr_matrix) -> IALS:
        users = binarize(matrix).astype(np.float64)
        items = users.T.tocsr()
        n_users, n_items = users.shape
        dim = int(self.factors)
        rng = np.random.default_rng(self.random_state)
        scale = float(self.init_std) / np.sqrt(dim)
        user_factors = rng.normal(0, scale, (n_users, dim))
        item_factors = rng.normal(0, scale, (n_items, dim))
        options = {"alpha0": float(self.alpha0), "reg": float(self.regularization), "nu": float(self.nu)}
        steps = int(self.cg_steps)
        for _ in range(int(self.iterations)):
            user_factors = _cg_rows(users, item_factors, user_factors, n_other_total=n_items, steps=steps, **options)
            item_factors = _cg_rows(items, user_factors, item_factors, n_other_total=n_users, steps=steps, **options)
        self.item_factors = item_factors
        self.n_items = n_items
        return self

    def user_factors(self, history: sp.csr_matrix) -> np.ndarray:
        """Fold-in: the least-squares user factors for these history rows."""
        if self.item_factors is None:
            raise NotFittedError("iALS model is not fitted")
        return _solve_rows(
            binarize(history).astype(np.float64),
            self.item_factors,
            alpha0=float(self.alpha0),
            reg=float(self.regularization),
            nu=float(self.nu),
            n_other_total=self.n_items,
        )

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return self.user_factors(history) @ self.item_factors.T

    def similar_items(self, item: int, *, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine between item factor vectors."""
        if self.item_factors is None:
            raise NotFittedError("iALS model is not fitted")
        norms = np.linalg.norm(self.item_factors, axis=1) + 1e-12
        sims = (self.item_factors @ self.item_factors[item]) / (norms * norms[item])
        sims[item] = -np.inf
        order = np.lexsort((np.arange(len(sims)), -sims))[:n]
        return order, sims[order]

    def get_state(self) -> dict[str, Any]:
        return {"item_factors": self.item_factors}

    def set_state(self, state: dict[str, Any]) -> None:
        self.item_factors = np.asarray(state["item_factors"], dtype=np.float64)
