"""Top-k ranking metrics (microsoft/recommenders definitions) and rating errors.

Inputs: `recommended`, users x k item indices best first (a slot of -1 is "nothing
recommended"), and `relevant`, a users x items CSR whose nonzeros are that user's held-out
items (every held-out item relevant). Only users with at least one relevant item count;
each metric is a mean over those users (a user with no hit contributes 0), as in
recommenders' `merge_ranking_true_pred`.

- precision@k: hits in the top k / k (k, not the list length: a short list is penalised).
- recall@k: hits in the top k / number of relevant items.
- nDCG@k: binary gains, DCG = sum over hits of 1 / log(1 + rank); ideal DCG places
  min(#relevant, k) hits first (the log base cancels).
- map: recommenders' `map` — per user, the sum of precision@rank at each hit within the top
  k, divided by the number of relevant items; the definition behind the published MAP column
  of its benchmark (BiVAE 0.146 on ml-100k).
- map_at_k: recommenders' `map_at_k` (Spark's meanAveragePrecisionAt) — the same sum divided by
  min(#relevant, k).
- hit_rate: share of users with at least one hit in the top k.
- coverage: share of the catalog that appears in at least one user's top k.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def hit_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean users x k: is the item in that slot relevant to that user."""
    recommended = np.asarray(recommended, dtype=np.int64)
    n_users, k = recommended.shape
    if k == 0:
        return np.zeros((n_users, 0), dtype=bool)
    relevant = sp.csr_matrix(relevant)
    rows = np.repeat(np.arange(n_users), k)
    cols = recommended.ravel()
    valid = cols >= 0
    hits = np.zeros(n_users * k, dtype=bool)
    if valid.any():
        hits[valid] = np.asarray(relevant[rows[valid], cols[valid]]).ravel() > 0
    return hits.reshape(n_users, k)


def ranking_metrics(recommended: np.ndarray, relevant: sp.csr_matrix, *, k: int) -> dict[str, float]:
    """precision, recall, ndcg, map, map_at_k and hit_rate at k; see the module docstring."""
    recommended = np.asarray(recommended, dtype=np.int64)[:, :k]
    if recommended.shape[1] < k:
        pad = np.full((recommended.shape[0], k - recommended.shape[1]), -1, dtype=np.int64)
        recommended = np.hstack([recommended, pad])
    n_relevant = np.diff(sp.csr_matrix(relevant).indptr)
    users = np.flatnonzero(n_relevant > 0)
    if len(users) == 0:
        return dict.fromkeys(("precision", "recall", "ndcg", "map", "map_at_k", "hit_rate"), 0.0)
    hits = hit_matrix(recommended[users], sp.csr_matrix(relevant)[users]).astype(np.float64)
    n_rel = n_relevant[users].astype(np.float64)
    n_hits = hits.sum(axis=1)
    ranks = np.arange(1, k + 1, dtype=np.float64)
    discounts = 1.0 / np.log(1.0 + ranks)
    dcg = hits @ discounts
    ideal_cum = np.cumsum(discounts)
    idcg = ideal_cum[np.minimum(n_rel, k).astype(np.int64) - 1]
    precision_at_hits = np.cumsum(hits, axis=1) / ranks * hits
    ap_sum = precision_at_hits.sum(axis=1)
    return {
        "precision": float(np.mean(n_hits / k)),
        "recall": float(np.mean(n_hits / n_rel)),
        "ndcg": float(np.mean(dcg / idcg)),
        "map": float(np.mean(ap_sum / n_rel)),
        "map_at_k": float(np.mean(ap_sum / np.minimum(n_rel, k))),
        "hit_rate": float(np.mean(n_hits > 0)),
    }


def ndcg_per_user(recommended: np.ndarray, relevant: sp.csr_matrix, *, k: int) -> np.ndarray:
    """nDCG@k of each user with at least one relevant item (the values `ranking_metrics` averages)."""
    recommended = np.asarray(recommended, dtype=np.int64)[:, :k]
    n_relevant = np.diff(sp.csr_matrix(relevant).indptr)
    users = np.flatnonzero(n_relevant > 0)
    if len(users) == 0 or recommended.shape[1] == 0:
        return np.zeros(len(users))
    hits = hit_matrix(recommended[users], sp.csr_matrix(relevant)[users]).astype(np.float64)
    discounts = 1.0 / np.log(1.0 + np.arange(1, hits.shape[1] + 1, dtype=np.float64))
    ideal_cum = np.cumsum(1.0 / np.log(1.0 + np.arange(1, k + 1, dtype=np.float64)))
    return (hits @ discounts) / ideal_cum[np.minimum(n_relevant[users], k) - 1]


def catalog_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the n_items catalog recommended to at least one user."""
    items = np.asarray(recommended).ravel()
    items = items[items >= 0]
    return float(len(np.unique(items)) / n_items) if n_items else 0.0


def rmse(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(truth) - np.asarray(predicted)) ** 2)))


def mae(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(truth) - np.asarray(predicted))))
