import numpy as np
import scipy.sparse as sp

from recommender.ml.knn import ItemKNN

# Columns: i0 = (1,1,0,0), i1 = (1,1,1,0), i2 = (0,1,1,1), i3 = (0,0,0,1).
X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=np.float32))


def test_cosine_neighbours_of_a_4x4():
    model = ItemKNN(k=3, shrink=0.0).fit(X)
    items, scores = model.similar_items(0, n=3)
    assert items[:2].tolist() == [1, 2]
    np.testing.assert_allclose(scores[:2], [2 / np.sqrt(6), 1 / np.sqrt(6)], rtol=1e-6)
    assert scores[2] == -np.inf  # i3 shares no user with i0
    items, scores = model.similar_items(2, n=3)
    assert items.tolist() == [1, 3, 0]
    np.testing.assert_allclose(scores, [2 / 3, 1 / np.sqrt(3), 1 / np.sqrt(6)], rtol=1e-6)


def test_shrinkage_dampens_similarities_with_little_support():
    model = ItemKNN(k=3, shrink=1.0).fit(X)
    _, scores = model.similar_items(2, n=3)
    np.testing.assert_allclose(scores, [2 / 4, 1 / (np.sqrt(3) + 1), 1 / (np.sqrt(6) + 1)], rtol=1e-6)


def test_only_top_k_neighbours_are_kept():
    model = ItemKNN(k=2, shrink=0.0).fit(X)
    assert np.all(np.diff(model.similarity.tocsc().indptr) <= 2)
    items, scores = model.similar_items(2, n=3)
    assert items[:2].tolist() == [1, 3]
    assert scores[2] == -np.inf


def test_scores_sum_the_similarities_of_the_history():
    model = ItemKNN(k=3, shrink=0.0).fit(X)
    history = sp.csr_matrix(np.array([[1, 0, 0, 1]], dtype=np.float32))
    scores = model.score(history)[0]
    np.testing.assert_allclose(scores[1], 2 / np.sqrt(6), rtol=1e-6)  # from i0 only
    np.testing.assert_allclose(scores[2], 1 / np.sqrt(6) + 1 / np.sqrt(3), rtol=1e-6)  # from i0 and i3
    items, _ = model.recommend(history, n=2, exclude=history)
    assert items[0].tolist() == [2, 1]
