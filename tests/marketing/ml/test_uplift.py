"""Uplift models: each meta-learner finds a planted effect, the chosen model beats random targeting on a
simulated campaign with a known effect, and the fitted model pickles and scores new customers."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from marketing.ml.synthetic import synthetic_campaign
from marketing.ml.uplift import LEARNERS, BaseModels, fit_uplift, targeting_estimate


@pytest.fixture(scope="module")
def campaign():
    return synthetic_campaign(30_000, seed=3)


@pytest.fixture(scope="module")
def result(campaign):
    return fit_uplift(
        campaign.features, campaign.treatment, campaign.converted, seed=0, learners=["t-learner", "x-learner"]
    )


@pytest.mark.parametrize("key", sorted(LEARNERS))
def test_each_learner_finds_a_planted_effect(key):
    # The offer adds 30 points for customers with x0 > 0 and nothing for the others.
    rng = np.random.default_rng(1)
    n = 4000
    X = rng.normal(size=(n, 3))
    t = rng.integers(0, 2, n)
    effect = np.where(X[:, 0] > 0, 0.3, 0.0)
    y = (rng.random(n) < 0.2 + 0.1 * (X[:, 1] > 0) + t * effect).astype(float)
    learner = LEARNERS[key](BaseModels.boosting("small", 0), binary=True, seed=0).fit(X, t, y)
    predicted = learner.predict(X)
    moved, unmoved = predicted[X[:, 0] > 0].mean(), predicted[X[:, 0] <= 0].mean()
    assert moved == pytest.approx(0.3, abs=0.08)
    assert unmoved == pytest.approx(0.0, abs=0.08)


@pytest.mark.slow
def test_model_beats_random_targeting_on_known_effect(campaign, result):
    metrics = result.metrics
    assert metrics["holdout_recipients"] == 6000
    assert metrics["qini"] > 0.03
    assert metrics["uplift_at_10"] > max(2 * metrics["random_uplift"], metrics["random_uplift"] + 0.02)
    assert metrics["uplift_at_30"] > metrics["random_uplift"] + 0.01
    predicted = result.predict(campaign.features)
    assert np.corrcoef(predicted, campaign.true_uplift)[0, 1] > 0.5
    assert result.learner in {v["learner"] for v in result.validation}
    assert len(result.validation) == 5  # linear T-learner and T / X on two sizes of gradient boosting
    assert result.as_dict()["learner"] == result.learner
    low, high = metrics["qini_interval"]  # the split's luck around the held-out Qini
    assert low < metrics["qini"] < high and high - low < 0.3


@pytest.mark.slow
def test_fitted_model_pickles_and_scores_new_customers(campaign, result):
    new = campaign.features.head(50).copy()
    new.loc[new.index[0], "channel"] = "podcast"  # a level never seen in training
    new.loc[new.index[1], "spent_last_purchase"] = np.nan
    new["unrelated"] = 1  # extra columns are ignored
    restored = pickle.loads(pickle.dumps(result.model))
    np.testing.assert_allclose(restored.predict(new), result.predict(new))
    assert np.isfinite(result.predict(new)).all()
    assert len(result.predict(new.iloc[:0])) == 0
    with pytest.raises(ValueError, match="browsing_minutes"):
        result.predict(new.drop(columns="browsing_minutes"))


@pytest.mark.slow
def test_revenue_outcome(campaign):
    revenue = fit_uplift(
        campaign.features, campaign.treatment, campaign.revenue, outcome="revenue", seed=0, learners=["x-learner"]
    )
    assert revenue.outcome == "revenue"
    assert revenue.metrics["qini"] > 0
    assert revenue.metrics["uplift_at_10"] > revenue.metrics["random_uplift"]


def test_small_campaign_is_cross_validated():
    small = synthetic_campaign(2000, seed=4)
    result = fit_uplift(small.features, small.treatment, small.converted, seed=0, learners=["transformed outcome"])
    assert result.split_sizes["folds"] == 3
    assert result.metrics["holdout_recipients"] == 400
    assert all(v["validation_qini"] is not None for v in result.validation)


def test_bad_input_is_named():
    small = synthetic_campaign(1000, seed=5)
    X, t, y = small.features, small.treatment, small.converted
    with pytest.raises(ValueError, match="treatment"):
        fit_uplift(X, np.where(t == 1, 2, 0), y)
    with pytest.raises(ValueError, match="length"):
        fit_uplift(X, t[:-1], y)
    with pytest.raises(ValueError, match="too few control"):
        fit_uplift(X, np.where(np.arange(1000) < 950, 1, 0), y)
    with pytest.raises(ValueError, match="nothing to learn"):
        fit_uplift(X, t, np.zeros(1000))
    with pytest.raises(ValueError, match="unknown learner"):
        fit_uplift(X, t, y, learners=["s-learner"])
    with pytest.raises(ValueError, match="outcome"):
        fit_uplift(X, t, y, outcome="clicks")
    with pytest.raises(ValueError, match="not a number"):
        fit_uplift(X, t, pd.Series(["yes"] * 1000))


def test_targeting_estimate_by_hand():
    estimate = targeting_estimate(np.array([0.1, -0.02, 0.05, 0.0, 0.2]), share=0.4)
    assert estimate == {
        "audience": 5,
        "targeted": 2,
        "expected_incremental": pytest.approx(0.3),
        "expected_incremental_everyone": pytest.approx(0.33),
    }


def test_rare_conversions_still_train():
    # three buyers in all: too few to stratify the splits by outcome, still a model and its metrics
    small = synthetic_campaign(1000, seed=2)
    y = np.zeros(1000)
    y[:3] = 1
    result = fit_uplift(small.features, small.treatment, y, seed=0, learners=["t-learner"])
    assert result.metrics["holdout_recipients"] == 200
    assert np.isfinite(result.predict(small.features.head(5))).all()
