"""K-means with auto k, DBSCAN on a sample, and their metrics (no database)."""

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from segments.ml import clustering
from segments.ml.clustering import NOISE, choose_k, fit_dbscan, fit_kmeans, knee_eps


@pytest.mark.parametrize("true_k", [3, 5])
def test_auto_k_finds_the_true_k_on_well_separated_blobs(true_k):
    X, truth = make_blobs(
        n_samples=1500, centers=true_k, n_features=6, cluster_std=0.6, center_box=(-20, 20), random_state=7
    )
    result = fit_kmeans(X, random_state=0)
    assert result.metrics["k"] == true_k
    assert set(result.metrics["silhouette_by_k"]) == {str(k) for k in range(2, 11)}
    assert adjusted_rand_score(truth, result.labels) > 0.99
    for key in ("silhouette", "davies_bouldin", "calinski_harabasz", "inertia"):
        assert result.metrics[key] is not None


def test_given_k_is_used_and_runs_are_reproducible():
    X, _ = make_blobs(n_samples=600, centers=4, random_state=1)
    first, second = fit_kmeans(X, k=6, random_state=3), fit_kmeans(X, k=6, random_state=3)
    assert first.metrics["k"] == 6 and first.metrics["silhouette_by_k"] == {}
    np.testing.assert_array_equal(first.labels, second.labels)


def test_minibatch_above_the_threshold(monkeypatch):
    monkeypatch.setattr(clustering, "MINIBATCH_ABOVE", 500)
    X, truth = make_blobs(n_samples=2000, centers=3, cluster_std=0.5, random_state=2)
    result = fit_kmeans(X, k=3, random_state=0)
    assert result.metrics["algorithm"] == "MiniBatchKMeans"
    assert adjusted_rand_score(truth, result.labels) > 0.99


def test_choose_k_on_identical_points_does_not_crash():
    choice = choose_k(np.ones((50, 3)))
    assert choice.k == 1 and choice.scores == {}


def _customers_like(seed=0):
    """Overlapping groups of unequal size and spread, as customer features are: not textbook blobs."""
    X, _ = make_blobs(
        n_samples=[500, 300, 150, 80],
        centers=[[0, 0, 0, 0], [3.5, 1, 0, 0], [0, 3.5, 1.5, 0], [2, 2, 4, 1]],
        cluster_std=[1.0, 0.8, 0.9, 0.7],
        random_state=seed,
    )
    return X


def test_auto_k_is_the_same_for_every_seed_and_the_segments_agree():
    X = _customers_like()
    results = [fit_kmeans(X, random_state=seed) for seed in (1, 2, 3)]
    assert len({r.metrics["k"] for r in results}) == 1
    for a in range(3):
        for b in range(a + 1, 3):
            assert adjusted_rand_score(results[a].labels, results[b].labels) >= 0.9
    metrics = results[0].metrics
    assert set(metrics["silhouette_by_k"]) == set(metrics["stability_by_k"]) == {str(k) for k in range(2, 11)}
    assert all(0 <= v <= 1 for v in metrics["stability_by_k"].values())
    assert "stability" in metrics["k_choice"]


def test_each_ks_score_does_not_depend_on_the_seed():
    X = _customers_like(seed=4)
    # Up to one above the groups there are: splitting them further has many equally good ways.
    scores = [clustering.score_ks(X, k_max=5, random_state=seed) for seed in (1, 2, 3)]
    for k in range(2, 6):
        silhouettes = [s[k]["silhouette"] for s in scores]
        assert max(silhouettes) - min(silhouettes) < 0.01, (k, silhouettes)


def test_a_few_changed_customers_keep_k_and_segments():
    X = _customers_like(seed=5)
    first = fit_kmeans(X, random_state=1)
    rng = np.random.default_rng(0)
    moved = X.copy()
    changed = rng.choice(len(X), size=5, replace=False)
    moved[changed] += rng.normal(0, 0.5, size=(5, X.shape[1]))
    second = fit_kmeans(moved, random_state=2, previous_labels=first.labels)
    assert second.metrics["k"] == first.metrics["k"]
    assert second.metrics["warm_started"] is True
    assert adjusted_rand_score(first.labels, second.labels) >= 0.95


def _scores(**silhouette_and_stability):
    return {int(k[1:]): {"silhouette": s, "stability": t} for k, (s, t) in silhouette_and_stability.items()}


def test_pick_k_takes_the_best_separation_among_stable_ks():
    scores = _scores(k2=(0.30, 0.95), k3=(0.35, 0.70), k4=(0.32, 0.97))
    assert clustering.pick_k(scores).k == 4  # k=3 separates best but does not hold over resamples


def test_pick_k_keeps_the_previous_k_unless_another_is_clearly_better():
    scores = _scores(k3=(0.300, 0.96), k4=(0.310, 0.97), k6=(0.250, 0.99))
    assert clustering.pick_k(scores).k == 4
    kept = clustering.pick_k(scores, previous_k=3)
    assert kept.k == 3 and "previous run" in kept.reason
    assert clustering.pick_k(scores, previous_k=6).k == 4  # 0.06 lower: the new k is clearly better
    unstable = _scores(k3=(0.305, 0.60), k4=(0.310, 0.97))
    assert clustering.pick_k(unstable, previous_k=3).k == 4  # the previous k no longer holds


def test_pick_k_without_any_stable_k_takes_the_most_stable():
    choice = clustering.pick_k(_scores(k2=(0.2, 0.5), k3=(0.4, 0.7)))
    assert choice.k == 3 and "most stable" in choice.reason


def _blobs_with_outliers(n=1200, seed=0):
    X, truth = make_blobs(n_samples=n, centers=[[0, 0], [10, 10], [0, 10]], cluster_std=0.5, random_state=seed)
    far = np.array([[30.0, -30.0], [-30.0, 30.0], [40.0, 40.0], [-25.0, -25.0], [25.0, -5.0]])
    return np.vstack([X, far]), np.concatenate([truth, [NOISE] * len(far)])


def test_dbscan_marks_outliers_as_noise():
    X, truth = _blobs_with_outliers()
    result = fit_dbscan(X, min_samples=8)
    assert (result.labels[-5:] == NOISE).all()
    assert result.metrics["k"] == 3
    assert adjusted_rand_score(truth[:-5], result.labels[:-5]) > 0.95
    assert 0 < result.metrics["noise_share"] < 0.05


def test_dbscan_fitted_on_a_sample_assigns_everyone_else():
    X, truth = _blobs_with_outliers(n=6000, seed=3)
    result = fit_dbscan(X, min_samples=8, sample_size=1000)
    assert result.metrics["fitted_on"] == 1000
    assert (result.labels[-5:] == NOISE).all()
    assert adjusted_rand_score(truth[:-5], result.labels[:-5]) > 0.95


def test_knee_eps_sits_between_within_and_between_cluster_distances():
    X, _ = _blobs_with_outliers()
    eps = knee_eps(X, min_samples=8)
    assert 0.1 < eps < 5.0


def test_a_k_above_the_number_of_customers_is_refused_not_lowered():
    X, _ = make_blobs(n_samples=4, centers=2, random_state=0)
    with pytest.raises(ValueError, match="k=5 segments asked for, but there are only 4 customers"):
        fit_kmeans(X, k=5, random_state=0)
