import numpy as np
import scipy.sparse as sp

from recommender.ml.blend import Blend, normalise_scores
from recommender.ml.ease import EASE


def test_zscore_uses_only_unseen_items():
    scores = np.array([[10.0, 1.0, 2.0, 3.0]])
    history = sp.csr_matrix(np.array([[1, 0, 0, 0]]))
    out = normalise_scores(scores, history, method="zscore")
    np.testing.assert_allclose(out[0, 1:], [-np.sqrt(1.5), 0, np.sqrt(1.5)], rtol=1e-9)
    minmax = normalise_scores(scores, history, method="minmax")
    np.testing.assert_allclose(minmax[0, 1:], [0, 0.5, 1])


def test_a_blend_with_one_weighted_model_ranks_like_that_model():
    rng = np.random.default_rng(5)
    matrix = sp.csr_matrix((rng.random((60, 15)) < 0.3).astype(np.float32))
    blend = Blend(components={"ease": {"l2": 5.0}, "als": {}}, weights={"ease": 1.0, "als": 0.0}).fit(matrix)
    assert list(blend.models) == ["ease"]  # a zero-weight model is not even fitted
    ease = EASE(l2=5.0).fit(matrix)
    ours, _ = blend.recommend(matrix[:10], n=5, exclude=matrix[:10])
    theirs, _ = ease.recommend(matrix[:10], n=5, exclude=matrix[:10])
    np.testing.assert_array_equal(ours, theirs)


def test_weights_mix_normalised_scores():
    rng = np.random.default_rng(6)
    matrix = sp.csr_matrix((rng.random((60, 15)) < 0.3).astype(np.float32))
    blend = Blend(components={"ease": {"l2": 5.0}, "item_knn": {"k": 5}}, weights={"ease": 0.25, "item_knn": 0.75}).fit(
        matrix
    )
    history = matrix[:4]
    expected = 0.25 * normalise_scores(blend.models["ease"].score(history), history) + 0.75 * normalise_scores(
        blend.models["item_knn"].score(history), history
    )
    np.testing.assert_allclose(blend.score(history), expected)
