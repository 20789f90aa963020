import numpy as np
import scipy.sparse as sp

from recommender.ml.als import ALS


def _two_tastes() -> sp.csr_matrix:
    """20 users like items 0-4 (most of them), 20 users like items 5-9."""
    rng = np.random.default_rng(0)
    dense = np.zeros((40, 10), dtype=np.float32)
    for user in range(40):
        group = np.arange(5) if user < 20 else np.arange(5, 10)
        dense[user, rng.choice(group, 4, replace=False)] = 1
    return sp.csr_matrix(dense)


def test_recommends_within_the_users_taste_and_folds_in_new_users():
    matrix = _two_tastes()
    model = ALS(factors=2, regularization=1.0, alpha=5.0, iterations=20, random_state=0, num_threads=1).fit(matrix)
    new_user = sp.csr_matrix(([1.0, 1.0], ([0, 0], [6, 7])), shape=(1, 10))  # never seen in training
    items, _ = model.recommend(new_user, n=3, exclude=new_user)
    assert set(items[0]) <= {5, 8, 9}
    first_group = sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 10))
    items, _ = model.recommend(first_group, n=3, exclude=first_group)
    assert set(items[0]) <= {0, 2, 3, 4}


def test_fold_in_matches_implicits_own_recalculate_user():
    matrix = _two_tastes()
    model = ALS(factors=2, regularization=1.0, alpha=5.0, iterations=10, random_state=0, num_threads=1).fit(matrix)
    factors = model.user_factors(matrix[:5])
    y = model.item_factors.astype(np.float64)
    for row in range(5):
        seen = matrix[row].indices
        confidence = 5.0  # alpha * 1 for a binary history
        a = y.T @ y + 1.0 * np.eye(2) + (confidence - 1) * y[seen].T @ y[seen]
        b = confidence * y[seen].sum(axis=0)
        np.testing.assert_allclose(factors[row], np.linalg.solve(a, b), rtol=1e-3, atol=1e-4)


def test_similar_items_share_the_taste():
    model = ALS(factors=2, regularization=1.0, alpha=5.0, iterations=20, random_state=0, num_threads=1).fit(
        _two_tastes()
    )
    items, _ = model.similar_items(0, n=4)
    assert set(items) == {1, 2, 3, 4}
