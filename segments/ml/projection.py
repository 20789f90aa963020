"""A 2-D picture of a segmentation: principal components of the standardised features, for a sample of customers.

Staff pages draw the sample as a scatter coloured by segment; a few thousand points show the shape at any shop
size, so the run stores the sample rather than the page computing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_POINTS = 2000
# Every segment keeps a few points, however small it is, so it still shows on the picture.
MIN_PER_SEGMENT = 25
# The axes are fitted on at most this many customers: enough for stable components, cheap at any shop size.
FIT_ROWS = 20000


@dataclass(frozen=True)
class Projection:
    """Sampled customers' coordinates on the first two principal components, and each axis' share of variance."""

    customer_ids: np.ndarray
    labels: np.ndarray
    xy: np.ndarray
    explained: tuple[float, float]


def sample_per_segment(
    labels: pd.Series, *, max_points: int = MAX_POINTS, min_per_segment: int = MIN_PER_SEGMENT, seed: int = 0
) -> pd.Series:
    """A sample of `labels` (customer id -> segment key) of about `max_points`: each segment in proportion to its
    size, with at least `min_per_segment` (or all its customers when it has fewer)."""
    if max_points <= 0:
        raise ValueError(f"max_points must be positive; got {max_points}")
    if labels.empty:
        return labels
    rng = np.random.default_rng(seed)
    sizes = labels.value_counts()
    picked = []
    for key, size in sizes.items():
        wanted = min(size, max(min_per_segment, round(max_points * size / len(labels))))
        members = labels.index[(labels == key).to_numpy()]
        picked.append(rng.choice(members.to_numpy(), size=wanted, replace=False))
    chosen = np.sort(np.concatenate(picked))
    return labels.loc[chosen]


def project_2d(fit_matrix: np.ndarray, sample_matrix: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, tuple]:
    """Fit two principal components on `fit_matrix` (standardised rows) and place `sample_matrix` on them.
    Fewer than two usable dimensions leave the missing axis at zero."""
    from sklearn.decomposition import PCA

    if fit_matrix.ndim != 2 or sample_matrix.ndim != 2 or fit_matrix.shape[1] != sample_matrix.shape[1]:
        raise ValueError(
            f"matrices must be 2-D with the same columns; got {fit_matrix.shape} and {sample_matrix.shape}"
        )
    components = min(2, fit_matrix.shape[0], fit_matrix.shape[1])
    xy = np.zeros((sample_matrix.shape[0], 2))
    explained = [0.0, 0.0]
    if components == 0 or not np.any(np.var(fit_matrix, axis=0) > 0):
        return xy, tuple(explained)
    pca = PCA(n_components=components, random_state=seed).fit(fit_matrix)
    xy[:, :components] = pca.transform(sample_matrix)
    explained[:components] = [float(v) for v in pca.explained_variance_ratio_]
    # A component's sign is arbitrary: make the heavier tail point right / up so reruns look alike.
    for axis in range(components):
        if np.sum(xy[:, axis] ** 3) < 0:
            xy[:, axis] = -xy[:, axis]
    return xy, (explained[0], explained[1])


def project_segments(
    features: pd.DataFrame, labels: pd.Series, *, columns: list[str], max_points: int = MAX_POINTS, seed: int = 0
) -> Projection:
    """Standardise `columns` of the labelled customers (the clustering's pipeline), fit two components on up to
    FIT_ROWS of them and place a per-segment sample of about `max_points` on them."""
    from segments.ml.pipeline import feature_pipeline

    labels = labels[labels.index.isin(features.index)]
    if labels.empty or not columns:
        empty = np.zeros(0)
        return Projection(empty.astype(int), empty.astype(object), np.zeros((0, 2)), (0.0, 0.0))
    sample = sample_per_segment(labels, max_points=max_points, seed=seed)
    rng = np.random.default_rng(seed)
    fit_ids = labels.index.to_numpy()
    if len(fit_ids) > FIT_ROWS:
        fit_ids = rng.choice(fit_ids, size=FIT_ROWS, replace=False)
    pipeline = feature_pipeline(columns).fit(features.loc[fit_ids, columns])
    fit_matrix = np.nan_to_num(np.asarray(pipeline.transform(features.loc[fit_ids, columns]), dtype=np.float64))
    sample_matrix = np.nan_to_num(np.asarray(pipeline.transform(features.loc[sample.index, columns]), dtype=np.float64))
    xy, explained = project_2d(fit_matrix, sample_matrix, seed=seed)
    return Projection(sample.index.to_numpy(), sample.to_numpy(), xy, explained)
