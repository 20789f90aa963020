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
    k, scores = choose_k(np.ones((50, 3)))
    assert k == 1 and scores == {}


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
