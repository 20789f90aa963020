"""Thompson-sampling waves: the control share stays fixed, the better variant gets more, and it is seeded."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from marketing.ml.bandit import probability_best, thompson_allocation


def test_probability_best_matches_numerical_integration():
    # P(rate_A > rate_B) = integral of f_A(x) F_B(x) dx for the two Beta posteriors
    a, b = sps.beta(1 + 30, 1 + 270), sps.beta(1 + 22, 1 + 278)
    exact = integrate.quad(lambda x: a.pdf(x) * b.cdf(x), 0, 1)[0]
    estimate = probability_best({"A": (30, 300), "B": (22, 300)}, rng=0, draws=200_000)
    assert estimate["A"] == pytest.approx(exact, abs=0.005)
    assert estimate["A"] + estimate["B"] == pytest.approx(1.0)


def test_better_variant_gets_more_and_control_stays_fixed():
    results = {"10% off": (60, 500), "free shipping": (30, 500), "gift": (31, 500)}
    wave = thompson_allocation(results, wave_size=1000, control_share=0.2, rng=1)
    assert wave.control == 200
    assert sum(wave.variants.values()) == 800
    assert wave.variants["10% off"] > 0.8 * 800
    assert min(wave.variants.values()) >= 0.05 * 800  # every variant keeps learning
    assert wave.probability_best["10% off"] > 0.99


def test_without_evidence_variants_share_equally_and_results_are_seeded():
    wave = thompson_allocation({"A": (0, 0), "B": (0, 0)}, wave_size=1001, control_share=0.1, rng=7)
    assert wave.control == 100
    assert sum(wave.variants.values()) == 901
    assert abs(wave.variants["A"] - wave.variants["B"]) < 30
    again = thompson_allocation({"A": (0, 0), "B": (0, 0)}, wave_size=1001, control_share=0.1, rng=7)
    assert again == wave


def test_min_share_zero_lets_a_clear_loser_starve():
    wave = thompson_allocation(
        {"A": (200, 1000), "B": (50, 1000)}, wave_size=500, control_share=0.2, rng=2, min_share=0
    )
    assert wave.variants == {"A": 400, "B": 0}


@pytest.mark.parametrize(
    ("results", "kwargs"),
    [
        ({"A": (5, 3)}, {}),
        ({}, {}),
        ({"A": (1, 10)}, {"control_share": 1.0}),
        ({"A": (1, 10), "B": (1, 10)}, {"min_share": 0.6}),
        ({"A": (1, 10)}, {"wave_size": -1}),
    ],
)
def test_bad_input_is_refused(results, kwargs):
    with pytest.raises(ValueError):
        thompson_allocation(results, **{"wave_size": 100, "control_share": 0.1, "rng": 0, **kwargs})


def test_allocation_counts_always_add_up():
    rng = np.random.default_rng(3)
    for _ in range(20):
        k = int(rng.integers(1, 5))
        results = {f"v{i}": (int(c), int(c + rng.integers(0, 500))) for i, c in enumerate(rng.integers(0, 50, k))}
        size = int(rng.integers(0, 5000))
        wave = thompson_allocation(results, wave_size=size, control_share=0.15, rng=4, draws=2000)
        assert wave.control + sum(wave.variants.values()) == size
