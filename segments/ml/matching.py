"""Comparing two runs: which new segment continues which old one, how customers moved, and agreement (ARI).

Each run is a Series indexed by customer id whose values are segment keys.
"""

from __future__ import annotations

from collections.abc import Hashable

import pandas as pd

MIN_JACCARD = 0.5


def match_segments(
    previous: pd.Series, current: pd.Series, *, min_jaccard: float = MIN_JACCARD
) -> dict[Hashable, Hashable]:
    """current key -> previous key, one to one, greedily by member overlap (Jaccard), best pairs first.

    Pairs sharing fewer than `min_jaccard` of their combined members are not matched.
    """
    if previous.empty or current.empty:
        return {}
    common = previous.index.intersection(current.index)
    overlap = pd.crosstab(current.reindex(common), previous.reindex(common))
    current_sizes = current.value_counts()
    previous_sizes = previous.value_counts()
    pairs = []
    for new_key in overlap.index:
        for old_key in overlap.columns:
            shared = int(overlap.at[new_key, old_key])
            if shared:
                union = current_sizes[new_key] + previous_sizes[old_key] - shared
                pairs.append((shared / union, new_key, old_key))
    pairs.sort(key=lambda p: -p[0])
    matched: dict[Hashable, Hashable] = {}
    used: set[Hashable] = set()
    for jaccard, new_key, old_key in pairs:
        if jaccard < min_jaccard:
            break
        if new_key in matched or old_key in used:
            continue
        matched[new_key] = old_key
        used.add(old_key)
    return matched


def movement(previous: pd.Series, current: pd.Series) -> list[tuple[Hashable | None, Hashable | None, int]]:
    """(previous key or None, current key or None, customers): None means not in the other run."""
    joined = pd.concat([previous.rename("from"), current.rename("to")], axis=1)
    joined = joined.astype(object).where(joined.notna(), None)
    counts = joined.groupby(["from", "to"], dropna=False).size()
    return [(None if pd.isna(a) else a, None if pd.isna(b) else b, int(n)) for (a, b), n in counts.items()]


def adjusted_rand(previous: pd.Series, current: pd.Series) -> float | None:
    """ARI between the runs over the customers both segmented; None when they share fewer than two."""
    common = previous.index.intersection(current.index)
    if len(common) < 2:
        return None
    from sklearn.metrics import adjusted_rand_score  # loaded on use: RFM and rules runs start faster

    return float(adjusted_rand_score(previous.reindex(common).astype(str), current.reindex(common).astype(str)))
