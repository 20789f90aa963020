"""Qini / uplift curves and their normalised areas, against curves worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from marketing.ml.uplift_metrics import (
    qini_auc_score,
    qini_curve,
    qini_interval,
    random_uplift,
    uplift_at_k,
    uplift_auc_score,
    uplift_curve,
    uplift_metrics,
)

# Six customers, ranked as listed (predicted uplift falling).
Y = np.array([1, 0, 1, 0, 1, 0])
T = np.array([1, 1, 0, 0, 1, 0])
SCORE = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_qini_curve_by_hand():
    # top n:      1      2      3           4           5             6
    # Y_T, N_T:  1,1    1,2    1,2         1,2         2,3           2,3
    # Y_C, N_C:  0,0    0,0    1,1         1,2         1,2           1,3
    # Qini:      1      1      1-1*2/1=-1  1-1*2/2=0   2-1*3/2=0.5   2-1*3/3=1
    x, y = qini_curve(Y, SCORE, T)
    np.testing.assert_allclose(x, [0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(y, [0, 1, 1, -1, 0, 0.5, 1])


def test_uplift_curve_by_hand():
    # (Y_T/N_T - Y_C/N_C) * n: 1, 1, (1/2 - 1) * 3, (1/2 - 1/2) * 4, (2/3 - 1/2) * 5, (2/3 - 1/3) * 6
    _x, y = uplift_curve(Y, SCORE, T)
    np.testing.assert_allclose(y, [0, 1, 1, -1.5, 0, 5 / 6, 2])


def test_qini_coefficient_by_hand():
    # Model area (trapezoids) 2.0; random line to (6, 1): 3.0.
    # The perfect ranking (score y*t - y*(1-t)) steps to (2, 2), (5, 2), (6, 1): area 9.5.
    # (2.0 - 3.0) / (9.5 - 3.0)
    assert qini_auc_score(Y, SCORE, T) == pytest.approx(-1 / 6.5)


def test_auuc_by_hand():
    # Model area 2.3333; random line to (6, 2): 6. The perfect uplift ranking 2*(y == t) + t
    # (control responders do not outnumber treated non-responders) steps to (2, 2), (4, 4), (5, 10/3), (6, 2):
    # area 14.3333. (2.3333 - 6) / (14.3333 - 6) = -0.44
    assert uplift_auc_score(Y, SCORE, T) == pytest.approx(-0.44)


def test_perfect_and_reversed_rankings():
    rng = np.random.default_rng(0)
    y, t = rng.integers(0, 2, 400), rng.integers(0, 2, 400)
    perfect = y * t - y * (1 - t)
    assert qini_auc_score(y, perfect, t) == pytest.approx(1.0)
    assert qini_auc_score(y, -perfect, t) < 0
    # a constant score is one step from (0, 0) to the end: exactly random
    assert qini_auc_score(y, np.zeros(400), t) == pytest.approx(0.0, abs=1e-12)
    assert uplift_auc_score(y, np.zeros(400), t) == pytest.approx(0.0, abs=1e-12)


def test_ties_form_one_step():
    x, y = qini_curve(Y, np.array([1, 1, 0, 0, 0, 0]), T)
    np.testing.assert_allclose(x, [0, 2, 6])
    np.testing.assert_allclose(y, [0, 1, 1])


def test_uplift_at_k_and_random_uplift_by_hand():
    # top 3 of 6: treated 1, 0 -> 0.5; control 1 -> 1.0
    assert uplift_at_k(Y, SCORE, T, k=0.5) == pytest.approx(-0.5)
    assert random_uplift(Y, T) == pytest.approx(2 / 3 - 1 / 3)
    # the top customer alone is treated: no control to compare with
    assert uplift_at_k(Y, SCORE, T, k=0.2) is None
    with pytest.raises(ValueError):
        uplift_at_k(Y, SCORE, T, k=1.5)


def test_continuous_outcome_and_bad_input():
    revenue = np.array([30.0, 0, 20.0, 0, 10.0, 0])
    assert qini_auc_score(revenue, revenue * T - revenue * (1 - T), T) == pytest.approx(1.0)
    metrics = uplift_metrics(revenue, SCORE, T)
    assert metrics["random_uplift"] == pytest.approx(40 / 3 - 20 / 3)
    assert metrics["holdout_recipients"] == 6
    with pytest.raises(ValueError, match="treatment"):
        qini_auc_score(Y, SCORE, np.array([0, 1, 2, 0, 1, 0]))
    with pytest.raises(ValueError, match="length"):
        qini_auc_score(Y, SCORE[:5], T)
    assert qini_auc_score(np.zeros(6), SCORE, T) is None  # nobody converted: nothing to rank


def test_same_numbers_as_scikit_uplift():
    # Reference values computed with scikit-uplift 0.5.1 (qini_auc_score, uplift_auc_score,
    # uplift_at_k(strategy="overall")) on this seeded case, scores rounded to create ties.
    rng = np.random.default_rng(42)
    y, t = rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    u = np.round(rng.normal(size=500) + 0.3 * y * t, 1)
    assert qini_auc_score(y, u, t) == pytest.approx(0.028939803881324184, rel=1e-10)
    assert uplift_auc_score(y, u, t) == pytest.approx(0.0346250600599695, rel=1e-10)
    assert uplift_at_k(y, u, t, k=0.1) == pytest.approx(0.09500805152979064, rel=1e-10)
    assert uplift_at_k(y, u, t, k=0.3) == pytest.approx(-0.024345930232558155, rel=1e-10)


def _planted(n: int, seed: int):
    """A randomised campaign whose effect is known: +20 points for half the customers, none for the rest."""
    rng = np.random.default_rng(seed)
    t = (rng.random(n) < 0.5).astype(int)
    effect = np.where(rng.random(n) < 0.5, 0.2, 0.0)
    y = (rng.random(n) < 0.1 + t * effect).astype(int)
    return y, effect, t, rng


def test_qini_interval_excludes_zero_for_the_true_effect_and_holds_it_for_random_scores():
    y, effect, t, rng = _planted(4000, seed=5)
    low, high = qini_interval(y, effect, t, rng=1)
    assert 0 < low < qini_auc_score(y, effect, t) < high
    low, high = qini_interval(y, rng.random(len(y)), t, rng=1)
    assert low < 0 < high


def test_qini_interval_narrows_with_more_recipients_and_is_seeded():
    small = qini_interval(*_planted(500, seed=2)[:3], rng=3)
    large = qini_interval(*_planted(8000, seed=2)[:3], rng=3)
    assert large[1] - large[0] < (small[1] - small[0]) / 2
    assert qini_interval(*_planted(500, seed=2)[:3], rng=3) == small


def test_qini_interval_needs_both_groups_and_a_sensible_level():
    assert qini_interval(Y, SCORE, np.ones(6, dtype=int), rng=0) is None
    with pytest.raises(ValueError, match="level"):
        qini_interval(Y, SCORE, T, rng=0, level=95)
