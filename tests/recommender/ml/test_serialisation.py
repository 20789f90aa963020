import io

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.base import Recommender
from recommender.ml.registry import ALGORITHMS, make_recommender

RNG = np.random.default_rng(11)
MATRIX = sp.csr_matrix(np.where(RNG.random((30, 12)) < 0.35, RNG.integers(1, 6, (30, 12)), 0).astype(np.float32))
SMALL = {"als": {"factors": 3, "num_threads": 1}, "ials": {"factors": 3}, "biased_mf": {"factors": 2}}


def _fitted(name: str) -> Recommender:
    model = make_recommender(name, **SMALL.get(name, {}))
    if name == "content":
        return model.fit(MATRIX, item_text=[f"word{i % 4} other{i % 3}" for i in range(12)])
    if name == "blend":
        model = make_recommender(
            "blend",
            components={"ease": {"l2": 10.0}, "als": SMALL["als"], "item_knn": {"k": 5}},
            weights={"ease": 0.5, "als": 0.3, "item_knn": 0.2},
        )
    return model.fit(MATRIX)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_save_and_load_round_trip(name, tmp_path):
    model = _fitted(name)
    path = tmp_path / f"{name}.npz"
    model.save(path)
    loaded = Recommender.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert loaded.n_items == MATRIX.shape[1]
    np.testing.assert_allclose(loaded.score(MATRIX[:6]), model.score(MATRIX[:6]), rtol=1e-5, atol=1e-6)
    original, _ = model.similar_items(2, n=4)
    again, _ = loaded.similar_items(2, n=4)
    np.testing.assert_array_equal(original, again)


def test_model_files_hold_no_pickles():
    buffer = io.BytesIO(_fitted("ease").to_bytes())
    with np.load(buffer, allow_pickle=False) as data:
        assert "__meta__" in data.files


def test_unknown_parameters_are_refused():
    with pytest.raises(TypeError, match="no parameter"):
        make_recommender("ease", lambda_=3)
    with pytest.raises(ValueError, match="unknown algorithm"):
        make_recommender("svd++")
