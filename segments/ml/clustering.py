"""K-means with the number of clusters chosen by silhouette, DBSCAN that scales, and cluster quality metrics.

Everything takes a float matrix (customers x features, already scaled) and a random state, and
returns integer labels: 0..k-1 for clusters, -1 for DBSCAN noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.cluster import DBSCAN, KMeans, MiniBatchKMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, pairwise_distances, silhouette_score
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

MINIBATCH_ABOVE = 50_000
SILHOUETTE_SAMPLE = 5_000
NOISE = -1
# On a machine shared with web and worker processes, OpenMP threads spinning for a core cost far more than
# they save on problems this size (MiniBatchKMeans on 100,000 rows: 0.7 s on one thread, 5 s on two busy ones).
SINGLE_THREAD = {"limits": 1}


@dataclass
class ClusteringResult:
    labels: np.ndarray
    metrics: dict = field(default_factory=dict)
    centers: np.ndarray | None = None


def _sample_rows(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size=size, replace=False))


def _kmeans(k: int, *, n: int, random_state: int, n_init: int = 4):
    if n > MINIBATCH_ABOVE:
        return MiniBatchKMeans(
            n_clusters=k, random_state=random_state, n_init=n_init, batch_size=4096, max_no_improvement=20
        )
    return KMeans(n_clusters=k, random_state=random_state, n_init=n_init)


def choose_k(
    X: np.ndarray, *, k_min: int = 2, k_max: int = 10, sample_size: int = SILHOUETTE_SAMPLE, random_state: int = 0
) -> tuple[int, dict[int, float]]:
    """The k in k_min..k_max with the best silhouette, fitted and scored on a random sample; and every k's score."""
    rng = np.random.default_rng(random_state)
    sample = X[_sample_rows(len(X), sample_size, rng)]
    distinct = len(np.unique(sample, axis=0))
    scores: dict[int, float] = {}
    # Small fits: thread start-up costs more than it saves, and contends with other work on the machine.
    # The sample's distances are computed once (float32: 100 MB for 5,000 rows) and shared by every k.
    distances = pairwise_distances(sample.astype(np.float32))
    with threadpool_limits(**SINGLE_THREAD):
        for k in range(k_min, min(k_max, distinct - 1, len(sample) - 1) + 1):
            labels = KMeans(n_clusters=k, random_state=random_state, n_init=4).fit_predict(sample)
            if len(np.unique(labels)) < 2:
                continue
            scores[k] = float(silhouette_score(distances, labels, metric="precomputed"))
    if not scores:
        return 1, {}
    best = max(scores, key=lambda k: (scores[k], -k))
    return best, scores


def cluster_metrics(X: np.ndarray, labels: np.ndarray, *, random_state: int = 0) -> dict:
    """Silhouette (on a sample), Davies-Bouldin and Calinski-Harabasz over the non-noise points."""
    mask = labels != NOISE
    metrics: dict = {"noise_share": float(1 - mask.mean()) if len(labels) else 0.0}
    points, kept = X[mask], labels[mask]
    n_clusters = len(np.unique(kept))
    metrics["clusters"] = int(n_clusters)
    if n_clusters < 2 or n_clusters >= len(points):
        metrics.update(silhouette=None, davies_bouldin=None, calinski_harabasz=None)
        return metrics
    rows = _sample_rows(len(points), SILHOUETTE_SAMPLE, np.random.default_rng(random_state))
    if len(np.unique(kept[rows])) >= 2:
        distances = pairwise_distances(points[rows].astype(np.float32))
        metrics["silhouette"] = float(silhouette_score(distances, kept[rows], metric="precomputed"))
    else:
        metrics["silhouette"] = None
    metrics["davies_bouldin"] = float(davies_bouldin_score(points, kept))
    metrics["calinski_harabasz"] = float(calinski_harabasz_score(points, kept))
    return metrics


def fit_kmeans(
    X: np.ndarray,
    *,
    k: int | None = None,
    k_max: int = 10,
    random_state: int = 0,
    sample_size: int = SILHOUETTE_SAMPLE,
) -> ClusteringResult:
    """K-means with k given, or chosen by silhouette over 2..k_max; MiniBatchKMeans above 50,000 rows.

    A k above the number of rows is a ValueError, never quietly lowered."""
    n = len(X)
    if n == 0:
        return ClusteringResult(labels=np.zeros(0, dtype=int), metrics={"k": 0})
    silhouette_by_k: dict[int, float] = {}
    if k is None:
        k, silhouette_by_k = choose_k(X, k_max=k_max, sample_size=sample_size, random_state=random_state)
    elif int(k) > n:  # fewer segments than asked for would pass unnoticed
        raise ValueError(f"k={int(k)} segments asked for, but there are only {n} customers to cluster; use k ≤ {n}")
    k = max(1, min(int(k), n))
    with threadpool_limits(**SINGLE_THREAD):
        model = _kmeans(k, n=n, random_state=random_state).fit(X)
        labels = model.labels_.astype(int)
        metrics = cluster_metrics(X, labels, random_state=random_state)
    metrics.update(
        k=int(k),
        inertia=float(model.inertia_),
        algorithm=type(model).__name__,
        silhouette_by_k={str(key): round(value, 4) for key, value in silhouette_by_k.items()},
    )
    return ClusteringResult(labels=labels, metrics=metrics, centers=model.cluster_centers_)


def knee_eps(X: np.ndarray, *, min_samples: int, sample_size: int = SILHOUETTE_SAMPLE, random_state: int = 0) -> float:
    """eps at the knee of the sorted k-distance curve (k = min_samples) on a sample.

    The knee is the point farthest from the straight line joining the curve's ends.
    """
    rng = np.random.default_rng(random_state)
    sample = X[_sample_rows(len(X), sample_size, rng)]
    k = min(min_samples, len(sample) - 1)
    if k < 1:
        return 0.5
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(sample).kneighbors(sample)
    curve = np.sort(distances[:, k])
    if curve[-1] <= curve[0]:
        return float(curve[-1]) or 0.5
    x = np.linspace(0.0, 1.0, len(curve))
    y = (curve - curve[0]) / (curve[-1] - curve[0])
    # The curve is convex and increasing: the knee is where it falls farthest below the chord y = x.
    knee = int(np.argmax(x - y))
    return float(curve[knee]) or float(curve[curve > 0][0] if (curve > 0).any() else 0.5)


def fit_dbscan(
    X: np.ndarray,
    *,
    eps: float | None = None,
    min_samples: int = 10,
    sample_size: int = 20_000,
    random_state: int = 0,
) -> ClusteringResult:
    """DBSCAN fitted on at most `sample_size` rows; every other row joins the cluster of its nearest core
    point within eps, or is noise. Memory stays linear in the number of customers.
    """
    n = len(X)
    if n == 0:
        return ClusteringResult(labels=np.zeros(0, dtype=int), metrics={"k": 0, "noise_share": 0.0})
    rng = np.random.default_rng(random_state)
    rows = _sample_rows(n, sample_size, rng)
    # Density (and so eps) is judged on the sample the model is fitted on.
    if eps is None:
        eps = knee_eps(X[rows], min_samples=min_samples, sample_size=len(rows), random_state=random_state)
    with threadpool_limits(**SINGLE_THREAD):
        model = DBSCAN(eps=eps, min_samples=min_samples).fit(X[rows])
    labels = np.full(n, NOISE, dtype=int)
    labels[rows] = model.labels_
    rest = np.setdiff1d(np.arange(n), rows, assume_unique=True)
    core = model.core_sample_indices_
    if len(rest) and len(core):
        nn = NearestNeighbors(n_neighbors=1).fit(X[rows][core])
        for start in range(0, len(rest), 50_000):
            chunk = rest[start : start + 50_000]
            distance, nearest = nn.kneighbors(X[chunk])
            near = distance[:, 0] <= eps
            labels[chunk[near]] = model.labels_[core[nearest[near, 0]]]
    metrics = cluster_metrics(X, labels, random_state=random_state)
    metrics.update(k=metrics["clusters"], eps=float(eps), min_samples=int(min_samples), fitted_on=len(rows))
    return ClusteringResult(labels=labels, metrics=metrics)
