import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.ease import EASE, ease_weights, value_cells


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


def test_value_cells_are_weights_to_the_power_rescaled_to_mean_one():
    matrix = sp.csr_matrix(np.array([[1.0, 0.0, 4.0], [0.0, 9.0, 0.0]]))
    cells = value_cells(matrix, 0.5)
    # sqrt: 1, 2, 3 (mean 2) -> 0.5, 1, 1.5
    np.testing.assert_allclose(cells.toarray(), [[0.5, 0.0, 1.0], [0.0, 1.5, 0.0]])


def test_weighted_ease_learns_from_the_values_and_binary_ease_ignores_them():
    rng = np.random.default_rng(5)
    pattern = rng.random((40, 6)) < 0.5
    ratings = np.where(pattern, rng.integers(1, 6, size=pattern.shape), 0).astype(np.float64)
    matrix = sp.csr_matrix(ratings)
    binary = EASE(l2=3.0).fit(matrix)
    np.testing.assert_allclose(binary.weights, ease_weights(sp.csr_matrix(pattern.astype(float)), l2=3.0))
    weighted = EASE(l2=3.0, binary=False, value_power=0.5).fit(matrix)
    cells = np.sqrt(ratings)
    expected = ease_weights(sp.csr_matrix(cells / cells[pattern].mean()), l2=3.0)
    np.testing.assert_allclose(weighted.weights, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(weighted.weights, binary.weights)
    # A history is scored on the same cells (up to one constant per call, which leaves rankings alone).
    scores = weighted.score(sp.csr_matrix(ratings[:2]))
    np.testing.assert_allclose(
        scores / scores[0, 0], (cells[:2] @ weighted.weights) / (cells[0] @ weighted.weights[:, 0]), rtol=1e-5
    )
