import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.content import ContentBased, item_vectors

TEXTS = ["red cotton shirt", "red cotton shirt long sleeves", "blue denim jeans", "blue denim jacket"]


def test_similar_items_by_text():
    model = ContentBased(ngram_max=1).fit(sp.csr_matrix((1, 4)), item_text=TEXTS)
    items, scores = model.similar_items(0, n=3)
    assert items[0] == 1
    assert scores[1] == -np.inf  # no word in common with the jeans or the jacket
    items, _ = model.similar_items(2, n=1)
    assert items.tolist() == [3]


def test_identical_text_is_cosine_one_and_a_shared_category_adds_similarity():
    vectors = item_vectors(["lamp", "lamp", "chair", "table"], ["home", "home", "garden", "home"], category_weight=1.0)
    sims = (vectors @ vectors.T).toarray()
    np.testing.assert_allclose(sims[0, 1], 1.0, rtol=1e-6)
    # chair and table share no word; table shares lamp's category: unit text + unit category -> cos 1/2.
    np.testing.assert_allclose(sims[0, 3], 0.5, rtol=1e-6)
    np.testing.assert_allclose(sims[0, 2], 0.0, atol=1e-7)


def test_a_product_nobody_touched_is_recommended_from_its_text():
    history = sp.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float32))
    model = ContentBased(ngram_max=1).fit(history, item_text=TEXTS)
    items, _ = model.recommend(history, n=1, exclude=history)
    assert items[0].tolist() == [1]


def test_text_is_required():
    with pytest.raises(ValueError, match="item_text"):
        ContentBased().fit(sp.csr_matrix((1, 4)))
