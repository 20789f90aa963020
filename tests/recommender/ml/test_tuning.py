import numpy as np

from recommender.ml.evaluation import (
    Dataset,
    _input_matrix,
    tune_algorithm,
    tune_blend_weights,
    validation_folds,
    weight_grid,
)


def _two_tastes(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    users, items = [], []
    for user in range(60):
        liked = np.arange(10) if user % 2 else np.arange(10, 20)
        chosen = rng.choice(liked, 8, replace=False)
        users += [user] * len(chosen)
        items += chosen.tolist()
    return Dataset(users=np.array(users), items=np.array(items), n_users=60, n_items=20)


def test_weight_grid_covers_the_simplex():
    grid = list(weight_grid(["a", "b", "c"], step=0.5))
    assert len(grid) == 6
    assert all(abs(sum(w.values()) - 1) < 1e-9 for w in grid)
    assert {"a": 1.0, "b": 0.0, "c": 0.0} in grid


def test_tuning_picks_the_setting_that_does_best_on_validation_only():
    data = _two_tastes()
    folds = validation_folds(data, protocol="stratified", test_ratio=0.25, seed=1, folds=2)
    assert len(folds) == 2
    # A neighbourhood of one item is too small to rank 20 items; a neighbourhood of 9 finds the taste.
    result = tune_algorithm("item_knn", folds, grid=[{"k": 1, "shrink": 0.0}, {"k": 9, "shrink": 0.0}], k=5)
    assert result.params == {"k": 9, "shrink": 0.0}
    small, large = (value for _params, value in result.tried)
    assert large > small


def test_blend_weights_follow_the_model_that_ranks_validation_well():
    data = _two_tastes()
    folds = validation_folds(data, protocol="stratified", test_ratio=0.25, seed=1, folds=1)
    fold = folds[0]
    truth = fold.valid_positives[fold.users].toarray()
    noise = np.random.default_rng(2).random(truth.shape)
    scores = {"oracle": [truth + 0.01 * noise], "noise": [noise]}
    weights, method, ndcg = tune_blend_weights(scores, folds, k=5)
    assert weights["oracle"] > weights["noise"]
    assert method == "zscore"
    assert ndcg > 0.9


def test_models_that_learn_from_weights_are_fitted_on_the_ratings_the_others_on_zero_one():
    data = Dataset(
        users=np.array([0, 0, 1]), items=np.array([0, 1, 1]), n_users=2, n_items=2, ratings=np.array([5.0, 2.0, 4.0])
    )
    assert _input_matrix("ease", data).toarray().tolist() == [[5.0, 2.0], [0.0, 4.0]]
    assert _input_matrix("blend", data).toarray().tolist() == [[5.0, 2.0], [0.0, 4.0]]
    assert _input_matrix("als", data).toarray().tolist() == [[1.0, 1.0], [0.0, 1.0]]
    assert _input_matrix("ials", data).toarray().tolist() == [[1.0, 1.0], [0.0, 1.0]]
