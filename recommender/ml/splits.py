"""Train / test splits of interaction data, as boolean "goes to train" masks over event rows.

- `stratified_split`: each user's interactions shuffled with a fixed seed and the first
  round(ratio * n) go to train — the same rows microsoft/recommenders'
  `python_stratified_split` picks (no minimum-rating filter): every user in both parts, in
  proportion.
- `temporal_split`: each user's most recent interactions go to test (leave-last-N-out; N is
  fixed, or a share of the user's history), so the model is judged on what came next.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _rank_within_user(users: np.ndarray, sort_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's 0-based position within its user when ordered by sort_key; and each row's user size."""
    users = np.asarray(users)
    _, user_codes = np.unique(users, return_inverse=True)
    order = np.lexsort((sort_key, user_codes))
    counts = np.bincount(user_codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - np.repeat(starts, counts)
    return rank, counts[user_codes]


def stratified_split(users: np.ndarray, *, ratio: float = 0.75, seed: int = 42) -> np.ndarray:
    """Train mask: per user, a seeded random round(ratio * n) of their rows.

    Row for row what microsoft/recommenders' `python_stratified_split(ratio, seed)` keeps: each
    user's rows (in their original order) are shuffled by pandas' `sample(frac=1,
    random_state=seed)`, i.e. `RandomState(seed).permutation(n)`, and the first
    round(ratio * n) go to train (round half to even, as Python's round). The permutation
    depends only on n, so it is computed once per distinct history length.
    """
    if not 0 < ratio < 1:
        raise ValueError("ratio must be between 0 and 1")
    users = np.asarray(users)
    _, codes = np.unique(users, return_inverse=True)
    order = np.argsort(codes, kind="stable")  # rows grouped by user, original order inside
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    in_train_sorted = np.zeros(len(users), dtype=bool)
    for size in np.unique(counts):
        chosen = np.random.RandomState(seed).permutation(int(size))[: round(ratio * int(size))]
        group_starts = starts[counts == size]
        in_train_sorted[(group_starts[:, None] + chosen[None, :]).ravel()] = True
    mask = np.zeros(len(users), dtype=bool)
    mask[order] = in_train_sorted
    return mask


def temporal_split(
    users: np.ndarray, times: np.ndarray, *, n_last: int | None = None, test_ratio: float | None = None
) -> np.ndarray:
    """Train mask: all but each user's last `n_last` rows (or last round(test_ratio * n)) by time.

    A user always keeps at least one row in train; ties in time are broken by row order.
    """
    if (n_last is None) == (test_ratio is None):
        raise ValueError("give exactly one of n_last or test_ratio")
    # Position of each row in time order, ties broken by row order.
    time_order = pd.Series(times).reset_index(drop=True).rank(method="first").to_numpy()
    rank, sizes = _rank_within_user(users, time_order)
    n_test = np.full(len(sizes), n_last) if n_last is not None else np.round(test_ratio * sizes)
    n_train = np.maximum(sizes - n_test, 1)
    return rank < n_train


def split_frame(frame: pd.DataFrame, train_mask: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame[train_mask], frame[~train_mask]
