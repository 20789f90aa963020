"""Search spaces scaled to the data, successive halving, the l2 line search and the blend's fallback."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml import evaluation
from recommender.ml.evaluation import Dataset, choose_blend, recommend_for_test, validation_folds
from recommender.ml.registry import make_recommender
from recommender.ml.search import DataShape, candidates, line_search_log, successive_halving


def test_spaces_scale_with_the_data_and_are_the_same_for_the_same_data():
    small = DataShape(n_users=1_000, n_items=1_000, nnz=50_000)
    large = DataShape(n_users=100_000, n_items=1_000, nnz=5_000_000)
    assert candidates("ease", large)[0]["l2"] == pytest.approx(100 * candidates("ease", small)[0]["l2"])
    assert candidates("als", large)[0]["regularization"] == pytest.approx(
        10 * candidates("als", small)[0]["regularization"]
    )
    assert candidates("ials", large, seed=3) == candidates("ials", large, seed=3)
    assert candidates("ials", large, seed=3) != candidates("ials", large, seed=4)
    # A catalog of 40 items cannot use 128 factors; neighbourhoods never exceed the catalog.
    tiny = DataShape(n_users=500, n_items=40, nnz=4_000)
    assert max(c["factors"] for c in candidates("ials", tiny)) <= 10
    assert max(c["k"] for c in candidates("item_knn", tiny)) <= 39
    # Weighted cells add a second EASE starting point that reads them.
    assert [c.get("binary", True) for c in candidates("ease", small, with_values=True)] == [True, False]


def test_successive_halving_spends_the_full_fit_on_the_best_third_only():
    seen = []

    def evaluate(params):
        seen.append(params)
        return -abs(params["x"] - 6) + params["iterations"] / 100

    result = successive_halving([{"x": x} for x in range(9)], evaluate, levels=(3, 7, 15))
    assert result.params == {"x": 6, "iterations": 15}
    assert [p["iterations"] for p in seen] == [3] * 9 + [7] * 3 + [15]
    assert {p["x"] for p in seen if p["iterations"] == 7} == {5, 6, 7}
    assert not result.cut_short


def test_the_winner_of_the_last_level_reached_is_fitted_in_full():
    def evaluate(params):  # 7 iterations score best, but only the last level's candidate is compared
        return -abs(params["x"] - 2) - abs(params["iterations"] - 7) / 100

    result = successive_halving([{"x": x} for x in range(6)], evaluate, levels=(3, 7, 15))
    assert result.params == {"x": 2, "iterations": 15}


def test_a_search_past_its_deadline_stops_and_keeps_the_best_so_far():
    ticks = iter(range(100))

    def clock():
        return next(ticks)

    result = successive_halving(
        [{"x": x} for x in range(9)], lambda p: p["x"], levels=(3, 7, 15), deadline=4, clock=clock
    )
    assert result.cut_short
    assert len(result.tried) < 9
    assert result.params["x"] == max(p["x"] for p, _level, _value in result.tried)


def test_line_search_walks_to_the_peak_on_a_log_scale():
    def evaluate(params):
        return -abs(math.log(params["l2"] / 700.0))

    result = line_search_log({}, "l2", 10.0, evaluate)
    assert 700 / math.sqrt(2) <= result.params["l2"] <= 700 * math.sqrt(2)
    assert len(result.tried) <= 12


def _two_tastes(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    users, items = [], []
    for user in range(120):
        liked = np.arange(15) if user % 2 else np.arange(15, 30)
        chosen = rng.choice(liked, 8, replace=False)
        users += [user] * len(chosen)
        items += chosen.tolist()
    return Dataset(users=np.array(users), items=np.array(items), n_users=120, n_items=30)


def test_a_blend_that_is_not_clearly_better_gives_its_best_part_all_the_weight():
    folds = validation_folds(_two_tastes(), protocol="stratified", test_ratio=0.25, seed=1, folds=1)
    params, info = choose_blend({"item_knn": {"k": 10, "shrink": 0.0}, "popularity": {}}, folds, k=5)
    assert info["best_part"] == "item_knn"
    # On validation the tuned mix scored a little higher, within the noise of 60 users: not kept.
    assert "not clearly better" in info["decision"]
    assert params["weights"] == {"item_knn": 1.0}
    assert info["validation_gain_over_best_part"] <= 2 * info["validation_gain_stderr"]


def test_batched_recommendations_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(5)
    train = sp.csr_matrix((rng.random((50, 20)) < 0.2).astype(np.float32))
    model = make_recommender("ease", l2=10.0).fit(train)
    whole = recommend_for_test(model, train, None, k=5)
    monkeypatch.setattr(evaluation, "SCORE_BATCH", 7)
    np.testing.assert_array_equal(recommend_for_test(model, train, None, k=5), whole)


def test_mixture_groups_are_capped_by_the_users_there_are_to_form_them():
    few = DataShape(n_users=400, n_items=1_000, nnz=20_000)
    many = DataShape(n_users=60_000, n_items=1_000, nnz=600_000)
    assert max(c["components"] for c in candidates("mixture", few)) == 16
    assert [c["components"] for c in candidates("mixture", many)] == [8, 16, 32, 64, 128]


def test_the_blend_weighs_only_parts_close_to_the_best_on_validation():
    validation = {"ease": 0.19, "mixture": 0.193, "item_knn": 0.175, "ials": 0.17, "als": 0.153}
    # The three best; iALS is close enough but one more part would multiply the weight grid.
    assert evaluation.blend_parts(validation) == ["mixture", "ease", "item_knn"]
    assert evaluation.blend_parts({"ease": 0.2, "als": 0.1}) == ["ease"]
    with pytest.raises(ValueError, match="at least one"):
        evaluation.blend_parts({})


def test_a_family_below_the_floor_at_the_first_level_is_not_refined():
    seen = []

    def evaluate(params):
        seen.append(params["iterations"])
        return 0.1 + params["x"] / 100

    result = successive_halving([{"x": x} for x in range(6)], evaluate, levels=(3, 15), floor=0.5)
    assert seen == [3] * 6  # nothing fitted at 15 iterations
    assert result.params == {"x": 5, "iterations": 15}
    refined = successive_halving([{"x": x} for x in range(6)], evaluate, levels=(3, 15), floor=0.12)
    assert refined.tried[-1][1] == 15


class _CpuClock:
    """A process clock that only the evaluations move: each costs iterations x factors / 32 seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def evaluate(self, params):
        self.now += params["iterations"] * params["factors"] / 32
        return -abs(params["x"] - 4) + params["iterations"] / 100


_WIDE_AND_NARROW = [{"x": x, "factors": f} for x, f in enumerate([64, 128, 32, 64, 32, 32, 128, 32, 64])]


@pytest.mark.parametrize("budget", [10, 25, 45, 60, 90, 130])
def test_no_evaluation_starts_that_would_carry_the_search_past_its_deadline(budget):
    clock = _CpuClock()
    result = successive_halving(
        _WIDE_AND_NARROW, clock.evaluate, levels=(3, 7, 15), deadline=budget, clock=clock, label="ials"
    )
    assert clock.now <= budget
    assert result.params["iterations"] == 15
    assert result.params in [dict(c, iterations=15) for c in _WIDE_AND_NARROW]
    # The winner's full fit is costed from its own fits: 15 iterations at its width.
    assert result.cost == pytest.approx(15 * result.params["factors"] / 32)


def test_the_first_level_tries_the_cheapest_settings_first_and_leaves_time_to_refine():
    clock = _CpuClock()
    seen = []

    def evaluate(params):
        seen.append((params["factors"], params["iterations"]))
        return clock.evaluate(params)

    result = successive_halving(_WIDE_AND_NARROW, evaluate, levels=(3, 7, 15), deadline=60, clock=clock)
    first = [factors for factors, iterations in seen if iterations == 3]
    assert first == sorted(first) and 128 not in first  # the dearest did not fit in the first level's third
    assert result.cut_short
    assert seen[-1] == (32, 15)  # time was left to fit the best setting in full: x = 4 (32 factors)
    assert result.params == {"x": 4, "factors": 32, "iterations": 15}


def test_line_search_starts_no_point_its_last_fit_says_would_overrun():
    now = [0.0]

    def evaluate(params):
        now[0] += 10.0
        return -abs(math.log(params["l2"] / 700.0))

    result = line_search_log({}, "l2", 10.0, evaluate, deadline=35.0, clock=lambda: now[0])
    assert now[0] <= 35.0
    assert len(result.tried) == 3
    assert result.cut_short
    assert result.cost == pytest.approx(10.0)


def test_the_blend_keeps_the_parts_whose_refits_fit_in_what_is_left():
    costs = {"mixture": 10.0, "ease": 1.0, "ials": 60.0, "item_knn": 2.0}
    parts = ["mixture", "ease", "ials", "item_knn"]
    assert evaluation.affordable_parts(parts, costs, None) == parts
    assert evaluation.affordable_parts(parts, costs, 80.0) == parts
    # iALS would overrun; item-kNN after it still fits.
    assert evaluation.affordable_parts(parts, costs, 20.0) == ["mixture", "ease", "item_knn"]
    # The best part is kept even when nothing is left.
    assert evaluation.affordable_parts(parts, costs, 0.0) == ["mixture"]


def test_a_blend_of_one_part_gives_it_all_the_weight_without_fitting_it(monkeypatch):
    def no_fit(*_args, **_kwargs):
        raise AssertionError("a single part needs no fit on the blend's split")

    monkeypatch.setattr(evaluation, "_fit", no_fit)
    folds = validation_folds(_two_tastes(), protocol="stratified", test_ratio=0.25, seed=1, folds=1)
    params, info = choose_blend({"ease": {"l2": 5.0}}, folds, k=5)
    assert params["components"] == {"ease": {"l2": 5.0}}
    assert params["weights"] == {"ease": 1.0}
    assert info["best_part"] == "ease"
    assert "all weight to ease" in info["decision"]


def test_the_reported_search_time_is_the_search_alone_not_the_final_fits(monkeypatch):
    class Clock:
        now = 0.0

        def process_time(self):
            return self.now

        def perf_counter(self):
            return self.now

    clock = Clock()
    monkeypatch.setattr(evaluation, "time", clock)
    scored = evaluation.evaluate_fitted

    def slow_test_scoring(*args, **kwargs):
        clock.now += 100.0  # the final fits' test scoring, after the search
        return scored(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate_fitted", slow_test_scoring)
    report = evaluation.run_evaluation(_two_tastes(), algorithms=["ease"], k=5, search_seconds=None)
    assert report["tuned"]
    assert report["search_cpu_seconds"] == 0.0
    assert report["search_seconds"] == 0.0
