import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.ease import EASE, ease_weights


def test_closed_form_equals_a_ridge_regression_of_each_item_on_the_others():
    rng = np.random.default_rng(3)
    dense = (rng.random((40, 7)) < 0.4).astype(np.float64)
    l2 = 2.5
    weights = ease_weights(sp.csr_matrix(dense), l2=l2)
    np.testing.assert_allclose(np.diag(weights), 0.0)
    for j in range(dense.shape[1]):
        others = [i for i in range(dense.shape[1]) if i != j]
        a = dense[:, others]
        expected = np.linalg.solve(a.T @ a + l2 * np.eye(len(others)), a.T @ dense[:, j])
        np.testing.assert_allclose(weights[others, j], expected, rtol=1e-8, atol=1e-10)


def test_scores_are_history_times_weights():
    rng = np.random.default_rng(4)
    dense = (rng.random((30, 6)) < 0.5).astype(np.float32)
    model = EASE(l2=1.0).fit(sp.csr_matrix(dense))
    history = sp.csr_matrix(dense[:3])
    np.testing.assert_allclose(model.score(history), dense[:3] @ model.weights, rtol=1e-6)


def test_a_catalog_above_the_limit_is_refused_with_a_clear_message():
    too_big = sp.csr_matrix((3, 20_001), dtype=np.float32)
    with pytest.raises(ValueError, match=r"above 20,000 items are refused.*'als' or 'item_knn'"):
        EASE().fit(too_big)
