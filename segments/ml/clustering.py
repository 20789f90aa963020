"""K-means with k chosen by silhouette and stability, DBSCAN that scales, and cluster quality metrics.

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


def _kmeans(k: int, *, n: int, random_state: int, n_init: int = 4, init="k-means++"):
    if n > MINIBATCH_ABOVE:
        return MiniBatchKMeans(
            n_clusters=k, random_state=random_state, n_init=n_init, batch_size=4096, max_no_improvement=20, init=init
        )
    return KMeans(n_clusters=k, random_state=random_state, n_init=n_init, init=init)


# Choosing k. Each k's clustering is the best of RESTARTS K-means restarts, so its silhouette does not depend on
# the seed (with 4 restarts the silhouette of k = 2 on the demo moved from 0.18 to 0.28 between seeds). Its
# stability is the lower of two agreements (adjusted Rand index) with that clustering: of the other restarts that
# came within NEAR_OPTIMAL of its inertia (another seed could have picked them), and of K-means fitted on
# RESAMPLES random subsamples of SUBSAMPLE of the rows, each predicting every row (a k whose clusters move when a
# fifth of the customers is left out would also move when a few events arrive). Among the k that are stable
# (>= STABLE), the best silhouette wins; the previous run's k stays unless the winner's silhouette is higher by
# more than KEEP_TOLERANCE. With no stable k, the most stable one is taken.
RESTARTS = 10
RESAMPLES = 8
RESAMPLE_RESTARTS = 2
SUBSAMPLE = 0.8
NEAR_OPTIMAL = 0.01
STABLE = 0.95
KEEP_STABLE = 0.9
KEEP_TOLERANCE = 0.02


@dataclass
class KChoice:
    k: int
    scores: dict[int, dict[str, float]] = field(default_factory=dict)  # k -> {"silhouette", "stability"}
    reason: str = ""


def score_ks(
    X: np.ndarray,
    *,
    k_min: int = 2,
    k_max: int = 10,
    sample_size: int = SILHOUETTE_SAMPLE,
    random_state: int = 0,
    resamples: int = RESAMPLES,
) -> dict[int, dict[str, float]]:
    """k -> {"silhouette", "stability"} for each k in k_min..k_max that splits a random sample of the rows."""
    rng = np.random.default_rng(random_state)
    sample = X[_sample_rows(len(X), sample_size, rng)]
    distinct = len(np.unique(sample, axis=0))
    scores: dict[int, dict[str, float]] = {}
    if len(sample) < 3:
        return scores
    from sklearn.metrics import adjusted_rand_score

    # The sample's distances are computed once (float32: 100 MB for 5,000 rows) and shared by every k. Small fits:
    # thread start-up costs more than it saves, and contends with other work on the machine.
    distances = pairwise_distances(sample.astype(np.float32))
    size = max(2, round(SUBSAMPLE * len(sample)))
    with threadpool_limits(**SINGLE_THREAD):
        for k in range(k_min, min(k_max, distinct - 1, len(sample) - 1) + 1):
            # The restarts one by one: the best is the clustering, and those nearly as good (within NEAR_OPTIMAL
            # of its inertia) that split the customers differently show a k with no one answer.
            restarts = [
                KMeans(n_clusters=k, random_state=int(rng.integers(2**31 - 1)), n_init=1).fit(sample)
                for _ in range(RESTARTS)
            ]
            reference = min(restarts, key=lambda model: model.inertia_)
            labels = reference.labels_
            if len(np.unique(labels)) < 2:
                continue
            rivals = [
                adjusted_rand_score(labels, model.labels_)
                for model in restarts
                if model is not reference and model.inertia_ <= reference.inertia_ * (1 + NEAR_OPTIMAL)
            ]
            restart_agreement = float(np.mean(rivals)) if rivals else 1.0
            silhouette = float(silhouette_score(distances, labels, metric="precomputed"))
            agreement = []
            for _ in range(resamples):
                rows = rng.choice(len(sample), size=size, replace=False)
                if len(np.unique(sample[rows], axis=0)) <= k:
                    continue
                # The better of a fit started from the clusters found on all rows and fresh restarts: a restart
                # stuck in a poor optimum says nothing about the data, a better optimum on the subsample does.
                part = sample[rows]
                warm = KMeans(n_clusters=k, init=reference.cluster_centers_, n_init=1).fit(part)
                fresh = KMeans(n_clusters=k, random_state=int(rng.integers(2**31 - 1)), n_init=RESAMPLE_RESTARTS)
                fresh.fit(part)
                model = fresh if fresh.inertia_ < warm.inertia_ else warm
                agreement.append(adjusted_rand_score(labels, model.predict(sample)))
            subsample_agreement = float(np.mean(agreement)) if agreement else 1.0
            scores[k] = {
                "silhouette": round(silhouette, 4),
                "stability": round(min(subsample_agreement, restart_agreement), 4),
                "subsample_agreement": round(subsample_agreement, 4),
                "restart_agreement": round(restart_agreement, 4),
            }
    return scores


def pick_k(scores: dict[int, dict[str, float]], *, previous_k: int | None = None) -> KChoice:
    """The k to use from every k's scores (see RESTARTS above), and why, in words."""
    if not scores:
        return KChoice(k=1, scores=scores, reason="no k splits these customers")
    stable = [k for k, s in scores.items() if s["stability"] >= STABLE]
    if stable:
        best = max(stable, key=lambda k: (scores[k]["silhouette"], -k))
        reason = (
            f"best silhouette ({scores[best]['silhouette']:.3f}) among the k whose clusters hold over resamples "
            f"(stability >= {STABLE})"
        )
    else:
        best = max(scores, key=lambda k: (scores[k]["stability"], scores[k]["silhouette"], -k))
        reason = f"no k reached stability {STABLE}; the most stable ({scores[best]['stability']:.2f})"
    kept = scores.get(previous_k) if previous_k is not None else None
    if (
        kept is not None
        and previous_k != best
        and kept["stability"] >= KEEP_STABLE
        and kept["silhouette"] >= scores[best]["silhouette"] - KEEP_TOLERANCE
    ):
        return KChoice(
            k=previous_k,
            scores=scores,
            reason=f"kept the previous run's k: k={best} is not clearly better "
            f"(silhouette {scores[best]['silhouette']:.3f} vs {kept['silhouette']:.3f}, tolerance {KEEP_TOLERANCE})",
        )
    if previous_k == best:
        reason += "; the previous run's k too"
    return KChoice(k=best, scores=scores, reason=reason)


def choose_k(
    X: np.ndarray,
    *,
    k_min: int = 2,
    k_max: int = 10,
    sample_size: int = SILHOUETTE_SAMPLE,
    random_state: int = 0,
    previous_k: int | None = None,
) -> KChoice:
    """The k in k_min..k_max to cluster X with (see RESTARTS above), with every k's scores."""
    scores = score_ks(X, k_min=k_min, k_max=k_max, sample_size=sample_size, random_state=random_state)
    return pick_k(scores, previous_k=previous_k)


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


# A fit started from the previous run's segments is kept unless a fresh fit's inertia is lower by more than this:
# two near-equal optima must not swap customers between runs.
WARM_START_TOLERANCE = 0.01


def _previous_centers(X: np.ndarray, previous: np.ndarray | None, k: int) -> np.ndarray | None:
    """The centres, in today's features, of the previous run's k clusters (-1: not clustered then), if it had k."""
    if previous is None or len(previous) != len(X):
        return None
    previous = np.asarray(previous)
    groups = [g for g in np.unique(previous) if g >= 0]
    if len(groups) != k:
        return None
    centers = np.vstack([X[previous == g].mean(axis=0) for g in groups])
    return centers if len(np.unique(centers, axis=0)) == k else None


def fit_kmeans(
    X: np.ndarray,
    *,
    k: int | None = None,
    k_max: int = 10,
    random_state: int = 0,
    sample_size: int = SILHOUETTE_SAMPLE,
    previous_labels: np.ndarray | None = None,
) -> ClusteringResult:
    """K-means with k given, or chosen over 2..k_max (`choose_k`); MiniBatchKMeans above 50,000 rows.

    `previous_labels` (one per row: the previous run's cluster 0..k-1, or -1) makes the previous k preferred and
    starts a fit from the previous clusters, kept unless a fresh fit is clearly better (WARM_START_TOLERANCE).
    A k above the number of rows is a ValueError, never quietly lowered."""
    n = len(X)
    if n == 0:
        return ClusteringResult(labels=np.zeros(0, dtype=int), metrics={"k": 0})
    previous_k = None
    if previous_labels is not None and len(previous_labels) == n:
        previous_k = len([g for g in np.unique(previous_labels) if g >= 0]) or None
    choice = None
    if k is None:
        choice = choose_k(X, k_max=k_max, sample_size=sample_size, random_state=random_state, previous_k=previous_k)
        k = choice.k
    elif int(k) > n:  # fewer segments than asked for would pass unnoticed
        raise ValueError(f"k={int(k)} segments asked for, but there are only {n} customers to cluster; use k ≤ {n}")
    k = max(1, min(int(k), n))
    warm_started = False
    with threadpool_limits(**SINGLE_THREAD):
        model = _kmeans(k, n=n, random_state=random_state, n_init=RESTARTS if n <= MINIBATCH_ABOVE else 3).fit(X)
        centers = _previous_centers(X, previous_labels, k)
        if centers is not None:
            warm = _kmeans(k, n=n, random_state=random_state, n_init=1, init=centers).fit(X)
            if model.inertia_ >= warm.inertia_ * (1 - WARM_START_TOLERANCE):
                model, warm_started = warm, True
        labels = model.labels_.astype(int)
        metrics = cluster_metrics(X, labels, random_state=random_state)
    metrics.update(
        k=int(k),
        inertia=float(model.inertia_),
        algorithm=type(model).__name__,
        warm_started=warm_started,
        silhouette_by_k={str(key): value["silhouette"] for key, value in (choice.scores if choice else {}).items()},
        stability_by_k={str(key): value["stability"] for key, value in (choice.scores if choice else {}).items()},
    )
    if choice is not None:
        metrics["k_choice"] = choice.reason
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
