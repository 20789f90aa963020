"""Uplift statistics: hand-worked examples, agreement with scipy / statsmodels, and empty or zero groups."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from marketing.ml.stats import benjamini_hochberg, campaign_uplift_table, compare_means, compare_proportions

ARTEA = Path(__file__).resolve().parents[4] / "shared" / "datasets" / "artea" / "artea-ab-experiment.csv"


def wilson(count: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe(c1: int, n1: int, c2: int, n2: int) -> tuple[float, float]:
    """Newcombe (1998) method 10, written out from the two Wilson intervals."""
    p1, p2 = c1 / n1, c2 / n2
    (l1, u1), (l2, u2) = wilson(c1, n1), wilson(c2, n2)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def test_artea_coupon_experiment_by_hand():
    # 310 of 2,502 couponed customers bought again against 267 of 2,498 without the coupon.
    result = compare_proportions(310, 2502, 267, 2498)
    assert result.uplift == pytest.approx(310 / 2502 - 267 / 2498)
    assert round(result.uplift * 100, 2) == 1.70
    assert result.uplift_ci == pytest.approx([-0.0007, 0.0348], abs=5e-5)
    assert result.uplift_ci == pytest.approx(newcombe(310, 2502, 267, 2498), rel=1e-9)
    assert result.p_value == pytest.approx(0.06, abs=0.005)
    assert result.test == "score"
    assert result.significant is False
    assert result.relative_uplift == pytest.approx(result.uplift / (267 / 2498))


def test_small_counts_use_fisher_exact_test_worked_by_hand():
    # 2 of 10 against 0 of 12: the only tables as extreme are those with both buyers in treatment,
    # P = C(10,2) C(12,0) / C(22,2) = 45 / 231.
    result = compare_proportions(2, 10, 0, 12)
    assert result.test == "fisher"
    assert result.p_value == pytest.approx(45 / 231)
    assert result.relative_uplift is None  # control rate 0: no relative uplift
    assert result.uplift_ci == pytest.approx(newcombe(2, 10, 0, 12))


def test_zero_counts_and_empty_groups_give_none_not_nan():
    nobody = compare_proportions(0, 10, 0, 12)
    assert nobody.uplift == 0.0
    assert nobody.p_value == 1.0
    assert nobody.relative_uplift is None
    assert nobody.uplift_ci[0] < 0 < nobody.uplift_ci[1]
    empty = compare_proportions(0, 0, 3, 10)
    assert empty.uplift is None and empty.uplift_ci is None and empty.p_value is None and empty.significant is None
    assert empty.conversion_rate_control == pytest.approx(0.3)
    json.dumps(empty.as_dict(), allow_nan=False)
    json.dumps(compare_proportions(0, 0, 0, 0).as_dict(), allow_nan=False)


def test_a_control_group_without_conversions_gives_its_figures_without_warnings():
    # A segment of lapsed customers: nobody in control bought. The report must not print numpy warnings.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lapsed = compare_proportions(42, 301, 0, 289)
    assert lapsed.uplift == pytest.approx(42 / 301)
    assert lapsed.test == "score" and lapsed.p_value < 1e-6
    assert lapsed.relative_uplift is None


@pytest.mark.parametrize("args", [(-1, 10, 0, 10), (11, 10, 0, 10), (1.5, 10, 0, 10), (1, 10, 3, 2)])
def test_impossible_counts_are_refused(args):
    with pytest.raises(ValueError, match=r"conv|n_"):
        compare_proportions(*args)


def test_newcombe_interval_matches_hand_formula_on_random_counts():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n1, n2 = rng.integers(1, 3000, size=2)
        c1, c2 = rng.integers(0, n1 + 1), rng.integers(0, n2 + 1)
        result = compare_proportions(int(c1), int(n1), int(c2), int(n2))
        np.testing.assert_allclose(result.uplift_ci, newcombe(c1, n1, c2, n2), rtol=1e-9, atol=1e-12)
        assert 0 <= result.p_value <= 1


def test_score_p_value_close_to_pearson_chi_square_on_large_counts():
    # For large samples the score test of a difference is Pearson's chi-square up to the n / (n - 1) factor.
    rng = np.random.default_rng(4)
    for _ in range(20):
        n1, n2 = rng.integers(2000, 20000, size=2)
        c1, c2 = rng.binomial(n1, 0.1), rng.binomial(n2, 0.11)
        chi2 = sps.chi2_contingency([[c1, n1 - c1], [c2, n2 - c2]], correction=False).pvalue
        assert compare_proportions(int(c1), int(n1), int(c2), int(n2)).p_value == pytest.approx(chi2, rel=0.01)


def test_welch_agrees_with_scipy():
    rng = np.random.default_rng(5)
    for _ in range(10):
        t = rng.lognormal(2, 1.5, rng.integers(5, 500)) * (rng.random() < 0.5)
        c = rng.lognormal(2, 1.2, rng.integers(5, 500))
        result = compare_means(t, c)
        # A treated group without spread (nobody bought): Student's pooled interval, see the next test.
        scipy_result = sps.ttest_ind(t, c, equal_var=bool(t.var() == 0))
        ci = scipy_result.confidence_interval(0.95)
        assert result.difference == pytest.approx(t.mean() - c.mean())
        assert result.p_value == pytest.approx(scipy_result.pvalue, rel=1e-9)
        np.testing.assert_allclose(result.ci, [ci.low, ci.high], rtol=1e-9)


def test_a_group_without_spread_still_counts_its_size():
    """Ten control recipients, none of whom bought: Welch takes the control mean as exactly 0 and the interval
    reflects the treated group alone; the pooled interval widens with the small control group."""
    rng = np.random.default_rng(12)
    treated = np.where(rng.random(400) < 0.3, rng.gamma(2.0, 8.0, 400), 0.0)
    control = np.zeros(10)

    result = compare_means(treated, control)

    welch = sps.ttest_ind(treated, control, equal_var=False).confidence_interval(0.95)
    student = sps.ttest_ind(treated, control, equal_var=True)
    np.testing.assert_allclose(result.ci, list(student.confidence_interval(0.95)), rtol=1e-9)
    assert result.p_value == pytest.approx(student.pvalue, rel=1e-9)
    assert result.ci[1] - result.ci[0] > 2.5 * (welch.high - welch.low)


def test_bootstrap_is_seeded_and_consistent_with_its_interval():
    rng = np.random.default_rng(6)
    t = np.where(rng.random(800) < 0.1, rng.pareto(1.5, 800) * 50, 0.0)
    c = np.where(rng.random(800) < 0.1, rng.pareto(1.5, 800) * 50, 0.0)
    first = compare_means(t, c, method="bootstrap", rng=11, n_resamples=1000)
    again = compare_means(t, c, method="bootstrap", rng=11, n_resamples=1000)
    assert first == again
    assert first.method == "bootstrap-BCa"
    assert first.ci[0] <= first.difference <= first.ci[1]
    assert (first.p_value < 0.05) == (first.ci[0] > 0 or first.ci[1] < 0)
    shifted = compare_means(t + 40, c, method="bootstrap", rng=11, n_resamples=1000, bootstrap_method="percentile")
    assert shifted.ci[0] > 0 and shifted.p_value < 0.05


def test_means_of_tiny_or_constant_groups():
    assert compare_means(np.array([5.0]), np.array([1.0, 2.0])).ci is None
    nobody_bought = compare_means(np.zeros(50), np.zeros(40))
    assert nobody_bought.difference == 0 and nobody_bought.ci == [0.0, 0.0] and nobody_bought.p_value == 1.0
    empty = compare_means(np.array([]), np.array([1.0, 2.0]))
    assert empty.difference is None and empty.mean_treatment is None
    json.dumps(empty.as_dict(), allow_nan=False)


def test_benjamini_hochberg_by_hand_and_against_statsmodels():
    # sorted p: .005 .01 .03 .04 -> p * 4 / rank = .02 .02 .04 .04, already monotone
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([0.01, None, 0.04, float("nan")]) == [pytest.approx(0.02), None, 0.04, None]
    p = np.random.default_rng(7).random(40) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1])
    with pytest.raises(ValueError):
        benjamini_hochberg([1.2])


def frame(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["group", "segment", "bought", "revenue"])


def test_table_matches_single_comparisons_per_variant_and_segment():
    rng = np.random.default_rng(8)
    n = 6000
    df = pd.DataFrame(
        {
            "group": rng.choice(["control", "10% off", "free shipping"], n, p=[0.2, 0.4, 0.4]),
            "segment": rng.choice(["loyal", "new", "lapsed"], n),
        }
    )
    df["bought"] = rng.binomial(1, np.where(df["group"] == "control", 0.08, 0.1))
    df["revenue"] = np.where(df["bought"] == 1, rng.lognormal(3, 1, n), 0.0)
    table = campaign_uplift_table(
        df, group_col="group", control="control", conversion_col="bought", revenue_col="revenue", by="segment"
    )
    json.dumps(table, allow_nan=False)
    assert [v["name"] for v in table["variants"]] == ["10% off", "free shipping"]
    assert [g["value"] for g in table["breakdown"]["groups"]] == ["lapsed", "loyal", "new"]
    ctrl = df[df.group == "control"]
    assert table["control"]["recipients"] == len(ctrl)
    assert table["control"]["revenue_per_recipient"] == pytest.approx(ctrl.revenue.mean())
    p_values = []
    for group in table["breakdown"]["groups"]:
        part = df[df.segment == group["value"]]
        c = part[part.group == "control"]
        for variant in group["variants"]:
            t = part[part.group == variant["name"]]
            single = compare_proportions(int(t.bought.sum()), len(t), int(c.bought.sum()), len(c))
            assert variant["uplift"] == pytest.approx(single.uplift)
            assert variant["uplift_ci"] == pytest.approx(single.uplift_ci)
            assert variant["p_value"] == pytest.approx(single.p_value)
            revenue = compare_means(t.revenue.to_numpy(), c.revenue.to_numpy())
            assert variant["revenue_uplift"] == pytest.approx(revenue.difference)
            assert variant["revenue_uplift_ci"] == pytest.approx(revenue.ci)
            assert variant["incremental_conversions"] == pytest.approx(single.uplift * len(t))
            assert variant["incremental_revenue"] == pytest.approx(revenue.difference * len(t))
            p_values.append(variant["p_value"])
        assert group["q_value"] == min(v["q_value"] for v in group["variants"])
    flat_q = [v["q_value"] for g in table["breakdown"]["groups"] for v in g["variants"]]
    np.testing.assert_allclose(flat_q, multipletests(p_values, method="fdr_bh")[1])


def test_table_segment_without_control_or_without_buyers():
    df = frame(
        [
            ("control", "loyal", 1, 20.0),
            ("control", "loyal", 0, 0.0),
            ("A", "loyal", 1, 30.0),
            ("A", "loyal", 1, 10.0),
            ("A", "new", 0, 0.0),  # no control among new customers
            ("A", None, 0, 0.0),
            ("control", None, 0, 0.0),
        ]
    )
    table = campaign_uplift_table(df, group_col="group", control="control", conversion_col="bought", by="segment")
    json.dumps(table, allow_nan=False)
    groups = {g["value"]: g for g in table["breakdown"]["groups"]}
    assert list(groups) == ["loyal", "new", None]
    new = groups["new"]
    assert new["control"]["recipients"] == 0 and new["control"]["conversion_rate"] is None
    assert new["variants"][0]["uplift"] is None and new["variants"][0]["p_value"] is None
    assert new["q_value"] is None
    unknown = groups[None]["variants"][0]
    assert unknown["uplift"] == 0 and unknown["relative_uplift"] is None and unknown["p_value"] == 1.0
    assert table["variants"][0]["revenue_per_recipient"] is None  # no revenue column given


def test_table_treats_counts_as_converted_and_names_bad_columns():
    df = pd.DataFrame({"arm": [0, 0, 1, 1], "orders": [0, 3, 2, np.nan], "spend": [0, 5, 1, None]})
    table = campaign_uplift_table(df, group_col="arm", control=0, conversion_col="orders", revenue_col="spend")
    assert table["control"]["conversions"] == 1 and table["variants"][0]["conversions"] == 1
    assert table["variants"][0]["name"] == 1 and isinstance(table["variants"][0]["name"], int)
    assert table["variants"][0]["revenue_per_recipient"] == pytest.approx(0.5)
    as_text = campaign_uplift_table(df, group_col="arm", control="0", conversion_col="orders")
    assert as_text["variants"][0]["name"] == "1" and as_text["control"]["recipients"] == 2
    with pytest.raises(ValueError, match="channel"):
        campaign_uplift_table(df, group_col="arm", control=0, conversion_col="orders", by="channel")
    with pytest.raises(ValueError, match="control"):
        campaign_uplift_table(df, group_col="arm", control="holdout", conversion_col="orders")
    with pytest.raises(ValueError, match="orders"):
        campaign_uplift_table(df.assign(orders=["x", 1, 0, 1]), group_col="arm", control=0, conversion_col="orders")


@pytest.mark.dataset
@pytest.mark.skipif(not ARTEA.exists(), reason="Artea data set not present")
def test_artea_table_overall():
    df = pd.read_csv(ARTEA)
    table = campaign_uplift_table(
        df, group_col="test_coupon", control=0, conversion_col="trans_after", revenue_col="revenue_after"
    )
    variant = table["variants"][0]
    assert (variant["recipients"], variant["conversions"]) == (2502, 310)
    assert (table["control"]["recipients"], table["control"]["conversions"]) == (2498, 267)
    assert variant["uplift_ci"] == pytest.approx([-0.0007, 0.0348], abs=5e-5)
