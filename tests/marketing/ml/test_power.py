"""Minimum detectable uplift and holdout share, against statsmodels' NormalIndPower and hand computation."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower

from marketing.ml.power import (
    effect_to_uplift,
    holdout_share_for_uplift,
    minimum_detectable_uplift,
    power_sentence,
    required_audience,
    uplift_to_effect,
)


@pytest.mark.parametrize(
    ("audience", "holdout", "baseline"),
    [(1200, 0.1, 0.03), (1200, 0.3, 0.03), (50_000, 0.05, 0.02), (5000, 0.5, 0.11), (400, 0.25, 0.2)],
)
def test_minimum_detectable_uplift_agrees_with_normal_ind_power(audience, holdout, baseline):
    control = round(audience * holdout)
    treated = audience - control
    h = NormalIndPower().solve_power(effect_size=None, nobs1=treated, ratio=control / treated, alpha=0.05, power=0.8)
    expected = math.sin(math.asin(math.sqrt(baseline)) + h / 2) ** 2 - baseline
    mde = minimum_detectable_uplift(audience=audience, holdout_share=holdout, baseline_rate=baseline)
    assert mde == pytest.approx(expected, rel=1e-4)
    # and the power statsmodels gives at exactly that uplift is the 80 % asked for
    achieved = NormalIndPower().power(
        effect_size=uplift_to_effect(mde, baseline), nobs1=treated, ratio=control / treated, alpha=0.05
    )
    assert achieved == pytest.approx(0.8, abs=1e-4)


def test_minimum_detectable_uplift_by_hand():
    # 1,000 recipients, half held out, 10 % baseline: h = (1.95996 + 0.84162) * sqrt(2 / 500) = 0.177193
    h = (1.959964 + 0.841621) * math.sqrt(2 / 500)
    p1 = math.sin(math.asin(math.sqrt(0.1)) + h / 2) ** 2
    mde = minimum_detectable_uplift(audience=1000, holdout_share=0.5, baseline_rate=0.1)
    assert mde == pytest.approx(p1 - 0.1, rel=1e-5)
    assert mde == pytest.approx(0.0590, abs=5e-4)


def test_bigger_holdout_and_audience_detect_smaller_uplifts():
    small = minimum_detectable_uplift(audience=1200, holdout_share=0.1, baseline_rate=0.05)
    wider = minimum_detectable_uplift(audience=1200, holdout_share=0.3, baseline_rate=0.05)
    bigger = minimum_detectable_uplift(audience=12000, holdout_share=0.1, baseline_rate=0.05)
    assert wider < small and bigger < small
    assert minimum_detectable_uplift(audience=1200, holdout_share=0.0, baseline_rate=0.05) is None
    assert minimum_detectable_uplift(audience=4, holdout_share=0.5, baseline_rate=0.9) is None  # beyond 100 %


def test_holdout_share_and_audience_invert_the_minimum_detectable_uplift():
    mde = minimum_detectable_uplift(audience=5000, holdout_share=0.2, baseline_rate=0.04)
    share = holdout_share_for_uplift(audience=5000, uplift=mde, baseline_rate=0.04)
    assert share == pytest.approx(0.2, abs=1e-3)
    assert required_audience(uplift=mde, holdout_share=0.2, baseline_rate=0.04) == pytest.approx(5000, abs=2)
    # an uplift too small for even a 50 % holdout
    assert holdout_share_for_uplift(audience=500, uplift=0.001, baseline_rate=0.04) is None


def test_effect_and_uplift_round_trip():
    assert effect_to_uplift(uplift_to_effect(0.023, 0.05), 0.05) == pytest.approx(0.023)
    with pytest.raises(ValueError):
        uplift_to_effect(-0.01, 0.05)


def test_plain_sentence():
    sentence = power_sentence(audience=1200, holdout_share=0.1, baseline_rate=0.02)
    mde10 = minimum_detectable_uplift(audience=1200, holdout_share=0.1, baseline_rate=0.02)
    mde30 = minimum_detectable_uplift(audience=1200, holdout_share=0.3, baseline_rate=0.02)
    assert sentence == (
        f"with 1,200 recipients and a 10 % holdout, only an uplift above {mde10 * 100:.1f} points can be told "
        f"from chance; raise the holdout to 30 % to detect {mde30 * 100:.1f} points"
    )
    at_half = power_sentence(audience=1200, holdout_share=0.5, baseline_rate=0.02)
    assert "raise the holdout" not in at_half and "recipients would detect" in at_half
    assert "no holdout" in power_sentence(audience=1200, holdout_share=0, baseline_rate=0.02)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"audience": 100, "holdout_share": 1.5, "baseline_rate": 0.1},
        {"audience": 100, "holdout_share": 0.1, "baseline_rate": 1.2},
        {"audience": -5, "holdout_share": 0.1, "baseline_rate": 0.1},
        {"audience": 100, "holdout_share": 0.1, "baseline_rate": 0.1, "power": 1.0},
    ],
)
def test_bad_input_is_refused(kwargs):
    with pytest.raises(ValueError):
        minimum_detectable_uplift(**kwargs)
