"""Train / test splits of interaction data, as boolean "goes to train" masks over event rows.

- `stratified_split`: each user's interactions shuffled with a fixed seed and the first
  round(ratio * n) go to train (microsoft/recommenders `python_stratified_split` semantics,
  no minimum-rating filter): every user appears in both parts, in proportion.
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
    """Train mask: per user, a seeded random round(ratio * n) of their rows (at least 1 when n >= 1)."""
    if not 0 < ratio < 1:
        raise ValueError("ratio must be between 0 and 1")
    rng = np.random.default_rng(seed)
    rank, sizes = _rank_within_user(users, rng.random(len(users)))
    n_train = np.maximum(np.round(ratio * sizes), 1)
    return rank < n_train


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
