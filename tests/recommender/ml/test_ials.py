import numpy as np
import scipy.sparse as sp

from recommender.ml.ials import IALS


def _two_tastes() -> sp.csr_matrix:
    rng = np.random.default_rng(0)
    dense = np.zeros((40, 10), dtype=np.float32)
    for user in range(40):
        group = np.arange(5) if user < 20 else np.arange(5, 10)
        dense[user, rng.choice(group, 4, replace=False)] = 1
    return sp.csr_matrix(dense)


def test_fold_in_solves_the_regularised_least_squares_exactly():
    model = IALS(factors=3, alpha0=0.2, regularization=0.05, iterations=5).fit(_two_tastes())
    history = sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 0, 0], [1, 2, 7])), shape=(1, 10))
    h = model.item_factors
    seen = [1, 2, 7]
    reg = 0.05 * (len(seen) + 0.2 * 10) ** 1.0
    a = h[seen].T @ h[seen] + 0.2 * h.T @ h + reg * np.eye(3)
    expected = np.linalg.solve(a, h[seen].sum(axis=0))
    np.testing.assert_allclose(model.user_factors(history)[0], expected, rtol=1e-8)


def test_learns_two_tastes():
    model = IALS(factors=2, alpha0=0.2, regularization=0.02, iterations=15).fit(_two_tastes())
    newcomer = sp.csr_matrix(([1.0, 1.0], ([0, 0], [6, 7])), shape=(1, 10))
    items, _ = model.recommend(newcomer, n=3, exclude=newcomer)
    assert set(items[0]) <= {5, 8, 9}
    similar, _ = model.similar_items(0, n=4)
    assert set(similar) == {1, 2, 3, 4}


def test_the_sparse_path_in_row_blocks_fits_what_one_pass_over_the_cells_fits(monkeypatch):
    from recommender.ml import ials

    rng = np.random.default_rng(3)
    dense = rng.random((300, 40)) < 0.1
    dense[5] = False  # an empty row inside a block
    matrix = sp.csr_matrix(dense.astype(np.float32))
    monkeypatch.setattr(ials, "_DENSE_CELLS", 0)  # the path large data takes
    monkeypatch.setattr(ials, "_CHUNK_CELLS", 10**9)
    whole = IALS(factors=4, iterations=4).fit(matrix).item_factors
    monkeypatch.setattr(ials, "_CHUNK_CELLS", 7)
    blocked = IALS(factors=4, iterations=4).fit(matrix).item_factors
    np.testing.assert_allclose(blocked, whole, rtol=1e-10, atol=1e-12)
    monkeypatch.setattr(ials, "_DENSE_CELLS", 10**9)  # and both agree with the dense path of small data
    np.testing.assert_allclose(IALS(factors=4, iterations=4).fit(matrix).item_factors, whole, rtol=1e-8, atol=1e-10)
