"""Item-kNN: shrunk cosine similarity between item columns, keeping each item's top-k neighbours."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ml.base import NotFittedError, Recommender, as_csr, binarize

# Dense similarity blocks are at most this many cells (~160 MB of float64).
_BLOCK_CELLS = 20_000_000


def cosine_topk(matrix: sp.csr_matrix, *, k: int, shrink: float) -> sp.csr_matrix:
    """Items x items similarity, S[j, i] = x_j . x_i / (|x_j| |x_i| + shrink) for the k best j of each i.

    Column i holds item i's neighbours (its own entry is zero), so `history @ S` scores every
    item by the similarity of what the user saw to it. Built block by block over columns so a
    large catalog never needs the full dense items x items matrix.
    """
    csr = as_csr(matrix, dtype=np.float64)
    csc = csr.tocsc()
    n_items = csr.shape[1]
    norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=0)).ravel())
    gram_left = csc.T.tocsr()  # items x users
    k = max(0, min(k, n_items - 1))
    block = max(1, _BLOCK_CELLS // max(n_items, 1))
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    vals_out: list[np.ndarray] = []
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        dots = (gram_left @ csc[:, start:stop]).toarray()  # n_items x block
        sims = dots / (np.outer(norms, norms[start:stop]) + shrink + 1e-12)
        sims[np.arange(start, stop), np.arange(stop - start)] = 0.0
        if k == 0:
            continue
        top = np.argpartition(-sims, k - 1, axis=0)[:k]  # k x block
        top_vals = np.take_along_axis(sims, top, axis=0)
        keep = top_vals > 0
        rows_out.append(top[keep])
        cols_out.append(np.broadcast_to(np.arange(start, stop), top.shape)[keep])
        vals_out.append(top_vals[keep])
    if not rows_out:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    sim = sp.csr_matrix(
        (np.concatenate(vals_out).astype(np.float32), (np.concatenate(rows_out), np.concatenate(cols_out))),
        shape=(n_items, n_items),
    )
    sim.sort_indices()
    return sim


class ItemKNN(Recommender):
    """Item-based nearest neighbours (Sarwar et al. 2001) with cosine + shrinkage.

    Defaults: `k=200` neighbours per item, `shrink=50` (dampens similarities built on few
    common users), `binary=True` (similarity on who-interacted, not on weights).
    """

    name = "item_knn"
    defaults = {"k": 200, "shrink": 50.0, "binary": True}

    similarity: sp.csr_matrix | None = None

    def fit(self, matrix: sp.csr_matrix) -> ItemKNN:
        data = binarize(matrix) if self.binary else as_csr(matrix)
        self.similarity = cosine_topk(data, k=int(self.k), shrink=float(self.shrink))
        self.n_items = matrix.shape[1]
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        if self.similarity is None:
            raise NotFittedError("item-kNN model is not fitted")
        hist = binarize(history) if self.binary else as_csr(history)
        return np.asarray((hist @ self.similarity).toarray(), dtype=np.float64)

    def similar_items(self, item: int, *, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The item's own neighbour list (column `item` of the similarity), best first."""
        if self.similarity is None:
            raise NotFittedError("item-kNN model is not fitted")
        column = self.similarity[:, item].toarray().ravel()
        column[item] = -np.inf
        column[column <= 0] = -np.inf
        order = np.lexsort((np.arange(len(column)), -column))[:n]
        return order, column[order]

    def get_state(self) -> dict[str, Any]:
        return {"similarity": self.similarity}

    def set_state(self, state: dict[str, Any]) -> None:
        self.similarity = state["similarity"]
