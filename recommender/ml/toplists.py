"""What a trained model's artifact holds beside the model: top-N lists, their explanations, popular lists.

Pure numpy / pandas: the training service reads interactions into a frame (columns customer,
product, kind, occurred_at, order_ref) and passes the index arrays of customers and products.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

BecauseItems = Callable[[object, np.ndarray, np.ndarray], np.ndarray]


def cell_matrix(frame: pd.DataFrame, mask: np.ndarray, user_ids, item_ids, values: np.ndarray) -> sp.csr_matrix:
    """customers x products with `values` at the cells of the frame's rows under `mask` (unknown ids dropped)."""
    rows = pd.Index(user_ids).get_indexer(frame["customer"].to_numpy()[mask])
    cols = pd.Index(item_ids).get_indexer(frame["product"].to_numpy()[mask])
    keep = (rows >= 0) & (cols >= 0)
    return sp.coo_matrix((values[keep], (rows[keep], cols[keep])), shape=(len(user_ids), len(item_ids))).tocsr()


def excluded_cells(frame: pd.DataFrame, user_ids, item_ids, *, kinds: Iterable[str]) -> sp.csr_matrix:
    """1 where the customer did one of `kinds` with the product (never recommended back)."""
    mask = frame["kind"].isin(tuple(kinds)).to_numpy()
    matrix = cell_matrix(frame, mask, user_ids, item_ids, np.ones(int(mask.sum()), dtype=np.float32))
    matrix.data[:] = 1.0
    return matrix


def kind_code_matrix(frame: pd.DataFrame, user_ids, item_ids, *, codes: Mapping[str, int]) -> sp.csr_matrix:
    """Per cell, the strongest thing the customer did with the product (the largest of `codes`)."""
    kind_codes = frame["kind"].map(codes).fillna(0).to_numpy(dtype=np.int8)
    cells = pd.DataFrame(
        {
            "r": pd.Index(user_ids).get_indexer(frame["customer"].to_numpy()),
            "c": pd.Index(item_ids).get_indexer(frame["product"].to_numpy()),
            "k": kind_codes,
        }
    )
    cells = cells[(cells["r"] >= 0) & (cells["c"] >= 0) & (cells["k"] > 0)]
    cells = cells.groupby(["r", "c"], sort=False)["k"].max().reset_index()
    matrix = sp.csr_matrix(
        (cells["k"].to_numpy(dtype=np.int8), (cells["r"].to_numpy(), cells["c"].to_numpy())),
        shape=(len(user_ids), len(item_ids)),
    )
    matrix.sort_indices()
    return matrix


def precompute_top(
    model,
    matrix: sp.csr_matrix,
    *,
    excluded: sp.csr_matrix,
    kinds: sp.csr_matrix,
    n: int,
    because_items: BecauseItems,
    batch: int = 2000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every customer's top-n (excluded cells left out), with the explaining history item and its kind.

    `because_items(model, history, items)` explains one customer's items; item-item models are
    explained for a whole batch at once from their weight matrix.
    """
    n_users, n_items = matrix.shape
    n = min(n, n_items)
    top_items = np.full((n_users, n), -1, dtype=np.int32)
    top_scores = np.zeros((n_users, n), dtype=np.float32)
    because = np.full((n_users, n), -1, dtype=np.int32)
    because_kind = np.zeros((n_users, n), dtype=np.int8)
    item_weights = getattr(model, "weights", None)
    for start in range(0, n_users, batch):
        stop = min(start + batch, n_users)
        items, scores = model.recommend(matrix[start:stop], n=n, exclude=excluded[start:stop])
        valid = np.isfinite(scores)
        top_items[start:stop] = np.where(valid, items, -1)
        top_scores[start:stop] = np.where(valid, scores, 0.0)
        if isinstance(item_weights, np.ndarray) and item_weights.ndim == 2:
            because[start:stop] = because_dense(item_weights, matrix[start:stop], top_items[start:stop])
        else:
            for row in range(start, stop):
                history = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]
                chosen = top_items[row][top_items[row] >= 0]
                because[row, : len(chosen)] = because_items(model, history, chosen)
    because_kind[:] = kinds_at(kinds, because)
    return top_items, top_scores, because, because_kind


def kinds_at(kinds: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    """kinds[row, items[row, slot]] for every slot at once (0 where absent or items is -1)."""
    n_items = kinds.shape[1]
    cell_keys = np.repeat(np.arange(kinds.shape[0], dtype=np.int64), np.diff(kinds.indptr)) * n_items + kinds.indices
    query = np.arange(items.shape[0], dtype=np.int64)[:, None] * n_items + np.maximum(items, 0)
    pos = np.minimum(np.searchsorted(cell_keys, query), max(len(cell_keys) - 1, 0))
    if len(cell_keys) == 0:
        return np.zeros(items.shape, dtype=np.int8)
    found = (cell_keys[pos] == query) & (items >= 0)
    return np.where(found, kinds.data[pos], 0).astype(np.int8)


def because_dense(weights: np.ndarray, history: sp.csr_matrix, targets: np.ndarray) -> np.ndarray:
    """Vectorised explanation for an item-item weight matrix: per row and slot, the history item j
    with the largest weights[j, target] (-1 when none is positive or the slot is empty)."""
    out = np.full(targets.shape, -1, dtype=np.int32)
    counts = np.diff(history.indptr)
    rows = np.flatnonzero(counts)
    if len(rows) == 0:
        return out
    owner = np.repeat(np.arange(history.shape[0]), counts)
    cols = history.indices
    values = weights[cols[:, None], np.maximum(targets[owner], 0)]  # nnz x slots
    starts = history.indptr[rows]
    best = np.maximum.reduceat(values, starts, axis=0)  # rows x slots
    positions = np.where(values == np.repeat(best, counts[rows], axis=0), np.arange(len(cols))[:, None], len(cols))
    first = np.minimum.reduceat(positions, starts, axis=0)
    chosen = np.where((best > 0) & (targets[rows] >= 0), cols[np.minimum(first, len(cols) - 1)], -1)
    out[rows] = chosen
    return out


def ranked(counts: np.ndarray, limit: int = 1000) -> np.ndarray:
    """Items with a positive count, most counted first (ties by item index), at most `limit`."""
    items = np.flatnonzero(counts > 0)
    order = np.lexsort((items, -counts[items]))
    return items[order][:limit].astype(np.int32)


def trending_items(frame: pd.DataFrame, item_ids, *, days: int, limit: int = 200) -> np.ndarray:
    """Items by distinct customers in the last `days` before the newest event."""
    since = frame["occurred_at"].max() - pd.Timedelta(days=days)
    recent = frame[(frame["occurred_at"] >= since).to_numpy()]
    cols = pd.Index(item_ids).get_indexer(recent.drop_duplicates(["customer", "product"])["product"].to_numpy())
    return ranked(np.bincount(cols[cols >= 0], minlength=len(item_ids)), limit=limit)


def segment_popular(
    positives: sp.csr_matrix, user_ids, segments_by_customer: Mapping[int, Iterable[int]], *, limit: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment (sorted ids): its members' most popular items, -1 padded to `limit`."""
    if not segments_by_customer:
        return np.zeros(0, dtype=np.int64), np.zeros((0, limit), dtype=np.int32)
    row_of = {int(u): r for r, u in enumerate(user_ids)}
    segment_ids = sorted({s for segments in segments_by_customer.values() for s in segments})
    seg_index = {s: i for i, s in enumerate(segment_ids)}
    rows, cols = [], []
    for customer, segments in segments_by_customer.items():
        for segment in segments:
            rows.append(seg_index[segment])
            cols.append(row_of[customer])
    membership = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(segment_ids), len(user_ids))
    )
    counts = (membership @ positives).toarray()
    lists = np.full((len(segment_ids), limit), -1, dtype=np.int32)
    for i in range(len(segment_ids)):
        top = ranked(counts[i], limit=limit)
        lists[i, : len(top)] = top
    return np.asarray(segment_ids, dtype=np.int64), lists


def order_baskets(frame: pd.DataFrame, item_ids) -> sp.csr_matrix | None:
    """orders x products, 1 where the order holds the product; None without purchases carrying an order."""
    if "order_ref" not in frame:
        return None
    purchases = frame[(frame["kind"] == "purchase").to_numpy() & (frame["order_ref"].fillna("") != "").to_numpy()]
    if purchases.empty:
        return None
    orders, order_rows = np.unique(purchases["order_ref"].to_numpy().astype(str), return_inverse=True)
    cols = pd.Index(item_ids).get_indexer(purchases["product"].to_numpy())
    keep = cols >= 0
    baskets = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (order_rows[keep], cols[keep])), shape=(len(orders), len(item_ids))
    )
    baskets.data[:] = 1.0
    return baskets
