"""Uplift statistics: treatment against control, for conversion rates and revenue per recipient.

Conversions. The interval for the difference of two proportions is Newcombe's hybrid score interval
(statsmodels `confint_proportions_2indep(method="newcomb")`): built from the two Wilson intervals, it keeps
its coverage at small counts and rare conversions, where the Wald interval is far too narrow and can even
cross 0 % or 100 %. The p-value is two-sided, from the score test of equal proportions (statsmodels
`test_proportions_2indep(method="score")`) when every expected cell of the 2x2 table holds at least 5
(Cochran's rule), and from Fisher's exact test (scipy) otherwise, where the normal approximation of the
score test is no longer trusted. `ProportionComparison.test` says which one was used.

Revenue. The difference of mean revenue per recipient (every recipient counts, buyers or not) has a Welch
t interval and p-value (Student's pooled-variance one when exactly one group has no spread, such as a small
control group where nobody bought: Welch would treat that group's mean as exact), or a bootstrap interval
(BCa or percentile, seeded) for heavy tails, whose p-value is the smallest two-sided level at which the
percentile interval excludes 0.

Many groups. When a campaign is broken down into segments, each group's p-value is shown beside its
Benjamini-Hochberg q-value (false discovery rate across the groups).

Every number that cannot be computed (an empty group, no control, zero control rate for a relative uplift)
is `None`, never NaN, so the results go to JSON as they are.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

MIN_EXPECTED_CELL = 5  # below this expected count in any 2x2 cell, Fisher's exact test replaces the score test


def _num(value: Any) -> float | None:
    """A plain float, or None for NaN / infinity / None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _interval(lo: Any, hi: Any) -> list[float] | None:
    lo, hi = _num(lo), _num(hi)
    return None if lo is None or hi is None else [lo, hi]


@dataclass(frozen=True)
class ProportionComparison:
    """Conversion rate of treatment against control. Rates and uplifts are fractions (0.017 = 1.7 points)."""

    recipients_treatment: int
    conversions_treatment: int
    conversion_rate_treatment: float | None
    recipients_control: int
    conversions_control: int
    conversion_rate_control: float | None
    uplift: float | None  # rate_treatment - rate_control
    uplift_ci: list[float] | None  # Newcombe hybrid score interval at 1 - alpha
    relative_uplift: float | None  # uplift / rate_control; None when the control rate is 0
    p_value: float | None  # two-sided
    test: Literal["score", "fisher"] | None
    significant: bool | None  # p_value < alpha

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MeanComparison:
    """Mean revenue per recipient of treatment against control."""

    recipients_treatment: int
    mean_treatment: float | None
    recipients_control: int
    mean_control: float | None
    difference: float | None  # mean_treatment - mean_control
    ci: list[float] | None
    p_value: float | None
    method: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_counts(**counts: Any) -> dict[str, np.ndarray]:
    arrays = {}
    for name, value in counts.items():
        array = np.asarray(value, dtype=float)
        if np.any(~np.isfinite(array)) or np.any(array < 0) or np.any(array != np.round(array)):
            raise ValueError(f"{name} must be whole numbers >= 0, got {value!r}")
        arrays[name] = array
    for conv, n in (("conv_t", "n_t"), ("conv_c", "n_c")):
        if np.any(arrays[conv] > arrays[n]):
            raise ValueError(f"{conv} cannot exceed {n}: {counts[conv]!r} > {counts[n]!r}")
    return arrays


def _proportion_arrays(conv_t, n_t, conv_c, n_c, alpha: float) -> dict[str, np.ndarray]:
    """Vectorised core of `compare_proportions`: arrays in, arrays out (NaN where undefined)."""
    a = _check_counts(conv_t=conv_t, n_t=n_t, conv_c=conv_c, n_c=n_c)
    conv_t, n_t, conv_c, n_c = (
        np.atleast_1d(x).copy() for x in np.broadcast_arrays(a["conv_t"], a["n_t"], a["conv_c"], a["n_c"])
    )
    size = conv_t.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_t = np.where(n_t > 0, conv_t / np.where(n_t > 0, n_t, 1), np.nan)
        rate_c = np.where(n_c > 0, conv_c / np.where(n_c > 0, n_c, 1), np.nan)
        uplift = rate_t - rate_c
        relative = np.where(rate_c > 0, uplift / np.where(rate_c > 0, rate_c, 1), np.nan)
    lo, hi, p = np.full(size, np.nan), np.full(size, np.nan), np.full(size, np.nan)
    test = np.full(size, "", dtype=object)
    both = (n_t > 0) & (n_c > 0)
    if both.any():
        lo[both], hi[both] = confint_proportions_2indep(
            conv_t[both], n_t[both], conv_c[both], n_c[both], method="newcomb", alpha=alpha
        )
        # Expected cells of the 2x2 table under equal rates; the smallest decides which test is trusted.
        total = n_t + n_c
        pooled = (conv_t + conv_c) / np.where(total > 0, total, 1)
        smallest = np.minimum.reduce([n_t * pooled, n_t * (1 - pooled), n_c * pooled, n_c * (1 - pooled)])
        score = both & (smallest >= MIN_EXPECTED_CELL)
        if score.any():
            # statsmodels also works out the rate ratio, which divides by zero when control had no conversion.
            with np.errstate(divide="ignore", invalid="ignore"):
                result = test_proportions_2indep(
                    conv_t[score], n_t[score], conv_c[score], n_c[score], method="score", compare="diff"
                )
            p[score] = result.pvalue
            test[score] = "score"
        for index in zip(*np.nonzero(both & ~score), strict=True):
            ct, nt, cc, nc = (int(x[index]) for x in (conv_t, n_t, conv_c, n_c))
            p[index] = sps.fisher_exact([[ct, nt - ct], [cc, nc - cc]]).pvalue
            test[index] = "fisher"
    return {
        "n_t": n_t,
        "conv_t": conv_t,
        "rate_t": rate_t,
        "n_c": n_c,
        "conv_c": conv_c,
        "rate_c": rate_c,
        "uplift": uplift,
        "lo": lo,
        "hi": hi,
        "relative": relative,
        "p": p,
        "test": test,
    }


def compare_proportions(conv_t: int, n_t: int, conv_c: int, n_c: int, *, alpha: float = 0.05) -> ProportionComparison:
    """Conversion rate of `conv_t` of `n_t` treated recipients against `conv_c` of `n_c` in control.

    Uplift = rate_t - rate_c with its Newcombe interval at level 1 - alpha and a two-sided p-value (score
    test, or Fisher's exact test when an expected cell is below 5). An empty group gives None for every
    number that needs it; counts that are negative, fractional or larger than their group raise ValueError.
    """
    _check_alpha(alpha)
    r = _proportion_arrays(conv_t, n_t, conv_c, n_c, alpha)
    p = _num(r["p"].item(0))
    return ProportionComparison(
        recipients_treatment=int(n_t),
        conversions_treatment=int(conv_t),
        conversion_rate_treatment=_num(r["rate_t"].item(0)),
        recipients_control=int(n_c),
        conversions_control=int(conv_c),
        conversion_rate_control=_num(r["rate_c"].item(0)),
        uplift=_num(r["uplift"].item(0)),
        uplift_ci=_interval(r["lo"].item(0), r["hi"].item(0)),
        relative_uplift=_num(r["relative"].item(0)),
        p_value=p,
        test=r["test"][0] or None,
        significant=None if p is None else p < alpha,
    )


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")


def _welch_arrays(mean_t, var_t, n_t, mean_c, var_c, n_c, alpha: float) -> dict[str, np.ndarray]:
    """Welch t interval and p-value from group means, variances (ddof=1) and sizes; NaN where undefined.
    Where exactly one group has no spread, Student's pooled-variance interval instead (see below)."""
    mean_t, var_t, n_t, mean_c, var_c, n_c = (
        np.asarray(x, dtype=float) for x in (mean_t, var_t, n_t, mean_c, var_c, n_c)
    )
    diff = mean_t - mean_c
    ok = (n_t >= 2) & (n_c >= 2)
    # One group without any spread (say ten control recipients, none of whom bought): Welch would take its mean
    # as exactly known and the interval would only reflect the other group. Pool the two variances there
    # (Student's t), so the small group's size still widens the interval.
    one_flat = ok & ((var_t == 0) != (var_c == 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = ((n_t - 1) * var_t + (n_c - 1) * var_c) / (n_t + n_c - 2)
        var_t = np.where(one_flat, pooled, var_t)
        var_c = np.where(one_flat, pooled, var_c)
        st, sc = var_t / n_t, var_c / n_c
        se = np.sqrt(st + sc)
        df = np.where(one_flat, n_t + n_c - 2, (st + sc) ** 2 / (st**2 / (n_t - 1) + sc**2 / (n_c - 1)))
        t = diff / se
        p = 2 * sps.t.sf(np.abs(t), df)
        half = sps.t.ppf(1 - alpha / 2, df) * se
    # No spread in either group: the difference is exact.
    exact = ok & (se == 0)
    p = np.where(exact, np.where(diff == 0, 1.0, 0.0), p)
    half = np.where(exact, 0.0, half)
    lo = np.where(ok, diff - half, np.nan)
    hi = np.where(ok, diff + half, np.nan)
    return {"diff": diff, "lo": lo, "hi": hi, "p": np.where(ok, p, np.nan)}


def compare_means(
    revenue_t: np.ndarray,
    revenue_c: np.ndarray,
    *,
    method: Literal["welch", "bootstrap"] = "welch",
    alpha: float = 0.05,
    rng: np.random.Generator | int | None = None,
    n_resamples: int = 2000,
    bootstrap_method: Literal["BCa", "percentile"] = "BCa",
) -> MeanComparison:
    """Difference of mean revenue per recipient, treatment minus control, with interval and p-value.

    `revenue_t` / `revenue_c` hold one value per recipient (0 for those who did not buy; NaN counts as 0).
    method="welch": Welch's unequal-variance t interval and test (scipy). method="bootstrap": a two-sample
    bootstrap of the difference of means (scipy.stats.bootstrap, `bootstrap_method` BCa or percentile,
    `n_resamples`, seeded by `rng`), for heavy-tailed revenue; its p-value is
    2 * min(share of resampled differences <= 0, share >= 0). Groups with fewer than two recipients
    give None interval and p-value.
    """
    _check_alpha(alpha)
    if method not in ("welch", "bootstrap"):
        raise ValueError(f"method must be 'welch' or 'bootstrap', got {method!r}")
    t = np.nan_to_num(np.asarray(revenue_t, dtype=float).ravel(), nan=0.0)
    c = np.nan_to_num(np.asarray(revenue_c, dtype=float).ravel(), nan=0.0)
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(c))):
        raise ValueError("revenue must be finite numbers")
    mean_t = float(t.mean()) if t.size else None
    mean_c = float(c.mean()) if c.size else None
    diff = None if mean_t is None or mean_c is None else mean_t - mean_c
    ci, p = None, None
    if t.size >= 2 and c.size >= 2:
        if method == "welch":
            r = _welch_arrays(t.mean(), t.var(ddof=1), t.size, c.mean(), c.var(ddof=1), c.size, alpha)
            ci, p = _interval(r["lo"], r["hi"]), _num(r["p"])
        elif np.ptp(t) == 0 and np.ptp(c) == 0:
            ci, p = [diff, diff], 1.0 if diff == 0 else 0.0
        else:
            result = sps.bootstrap(
                (t, c),
                lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
                n_resamples=n_resamples,
                confidence_level=1 - alpha,
                method=bootstrap_method,
                rng=np.random.default_rng(rng),
                vectorized=True,
            )
            ci = _interval(result.confidence_interval.low, result.confidence_interval.high)
            dist = result.bootstrap_distribution
            p = float(min(1.0, 2 * min(np.mean(dist <= 0), np.mean(dist >= 0))))
    return MeanComparison(
        recipients_treatment=int(t.size),
        mean_treatment=mean_t,
        recipients_control=int(c.size),
        mean_control=mean_c,
        difference=diff,
        ci=ci,
        p_value=p,
        method=method if method == "welch" else f"bootstrap-{bootstrap_method}",
    )


def benjamini_hochberg(p_values: Sequence[float | None] | np.ndarray) -> list[float | None]:
    """Benjamini-Hochberg q-values (statsmodels `multipletests(method="fdr_bh")`), in the input order.

    None / NaN p-values (groups that could not be tested) stay None and do not count as tests.
    """
    p = np.array([np.nan if v is None else float(v) for v in p_values], dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie between 0 and 1")
    q: list[float | None] = [None] * len(p)
    tested = np.flatnonzero(np.isfinite(p))
    if tested.size:
        adjusted = multipletests(p[tested], method="fdr_bh")[1]
        for index, value in zip(tested, adjusted, strict=True):
            q[index] = float(value)
    return q


# --- the campaign table ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar for a group or variant label (numpy scalars to Python, NaN to None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return _plain(value.item(0))
    return value


def _arm_dict(recipients: int, conversions: int, rate: float, rpr: float | None) -> dict[str, Any]:
    return {
        "recipients": int(recipients),
        "conversions": int(conversions),
        "conversion_rate": _num(rate),
        "revenue_per_recipient": _num(rpr),
    }


def campaign_uplift_table(
    df: pd.DataFrame,
    *,
    group_col: str,
    control: Hashable,
    conversion_col: str,
    revenue_col: str | None = None,
    by: str | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Every variant against control, overall and (with `by`) per value of the breakdown column.

    One row of `df` per recipient: `group_col` holds the variant name or the `control` value
    (compared as text when only its text form matches, as a value given on a command line does);
    `conversion_col` is a 0/1 flag or a count (non-zero means converted, NaN means not); `revenue_col`
    (optional) the revenue within the attribution window (NaN means 0). Returns, ready for JSON:

        {"control": {recipients, conversions, conversion_rate, revenue_per_recipient},
         "variants": [{name, recipients, conversions, conversion_rate, uplift, uplift_ci, relative_uplift,
                       p_value, test, significant, revenue_per_recipient, revenue_uplift, revenue_uplift_ci,
                       revenue_p_value, incremental_conversions, incremental_revenue}, ...],
         "breakdown": {"by": by, "groups": [{"value", "control": {...}, "variants": [..., "q_value"],
                                              "q_value"}, ...]}}   # only with `by`

    Variants are in sorted order of their names; groups in sorted order of their values, a missing value
    (None) last. Uplifts are fractions (0.017 = 1.7 points); intervals are Newcombe for conversion rates
    and Welch for revenue per recipient. Incremental conversions / revenue = uplift x treated recipients.
    In the breakdown each variant's q-value is Benjamini-Hochberg across all its group x variant tests,
    and a group's q-value is the smallest of its variants' (the group moved if that is below alpha).
    Revenue fields are None without `revenue_col`.
    """
    _check_alpha(alpha)
    missing = [c for c in (group_col, conversion_col, revenue_col, by) if c is not None and c not in df.columns]
    if missing:
        raise ValueError(f"column(s) not in the frame: {', '.join(missing)}")
    groups = df[group_col]
    if not (groups == control).any() and (groups.astype(str) == str(control)).any():
        # a control value typed on a command line ("0") for a column read as numbers: compare as text
        groups, control = groups.astype(str), str(control)
    if not (groups == control).any():
        raise ValueError(f"no recipient in control: {group_col} never equals {control!r}")
    if groups.isna().any():
        raise ValueError(f"{group_col} is empty on {int(groups.isna().sum())} row(s)")
    conversions = pd.to_numeric(df[conversion_col], errors="coerce")
    bad = conversions.isna() & df[conversion_col].notna()
    if bad.any():
        raise ValueError(f"{conversion_col} is not a number on {int(bad.sum())} row(s)")
    frame = pd.DataFrame(
        {"group": groups.to_numpy(), "converted": (conversions.fillna(0).to_numpy() != 0).astype(np.int64)}
    )
    if revenue_col is not None:
        revenue = pd.to_numeric(df[revenue_col], errors="coerce")
        bad = revenue.isna() & df[revenue_col].notna()
        if bad.any():
            raise ValueError(f"{revenue_col} is not a number on {int(bad.sum())} row(s)")
        frame["revenue"] = revenue.fillna(0.0).to_numpy(dtype=float)
    else:
        frame["revenue"] = 0.0
    variants = sorted((v for v in pd.unique(frame["group"]) if v != control), key=lambda v: (str(type(v)), v))

    overall = _summarise(frame, ["group"])
    result: dict[str, Any] = _section(overall, control, variants, revenue_col is not None, alpha, key=())
    if by is None:
        return result

    frame["by"] = df[by].to_numpy()
    per_group = _summarise(frame, ["by", "group"])
    values = list(pd.unique(per_group.index.get_level_values("by")))
    present = sorted((v for v in values if _plain(v) is not None), key=lambda v: (str(type(v)), v))
    if len(present) < len(values):
        present.append(None)
    sections = []
    for value in present:
        section = _section(per_group, control, variants, revenue_col is not None, alpha, key=(value,))
        sections.append({"value": _plain(value), "control": section["control"], "variants": section["variants"]})
    flat = [v for s in sections for v in s["variants"]]
    for variant, q in zip(flat, benjamini_hochberg([v["p_value"] for v in flat]), strict=True):
        variant["q_value"] = q
        variant["significant_after_fdr"] = None if q is None else q < alpha
    for section in sections:
        qs = [v["q_value"] for v in section["variants"] if v["q_value"] is not None]
        section["q_value"] = min(qs) if qs else None
    result["breakdown"] = {"by": by, "groups": sections}
    return result


def _summarise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Recipients, conversions, revenue mean and variance per key combination (one vectorised groupby)."""
    return frame.groupby(keys, dropna=False, sort=False).agg(
        recipients=("converted", "size"),
        conversions=("converted", "sum"),
        revenue_mean=("revenue", "mean"),
        revenue_var=("revenue", "var"),
    )


def _lookup(summary: pd.DataFrame, key: tuple) -> pd.DataFrame:
    """Rows of `summary` for one breakdown value `key` (or all, for the overall table), indexed by group."""
    if not key:
        return summary
    value = key[0]
    by = summary.index.get_level_values("by")
    mask = by.isna() if value is None else (by == value)
    return summary[mask].droplevel("by")


def _section(
    summary: pd.DataFrame, control: Hashable, variants: list, has_revenue: bool, alpha: float, *, key: tuple
) -> dict[str, Any]:
    rows = _lookup(summary, key)
    empty = pd.Series({"recipients": 0, "conversions": 0, "revenue_mean": np.nan, "revenue_var": np.nan})
    ctrl = rows.loc[control] if control in rows.index else empty
    treated = pd.DataFrame([rows.loc[v] if v in rows.index else empty for v in variants])
    n_t = treated["recipients"].to_numpy(dtype=float) if variants else np.zeros(0)
    conv_t = treated["conversions"].to_numpy(dtype=float) if variants else np.zeros(0)
    props = _proportion_arrays(conv_t, n_t, float(ctrl["conversions"]), float(ctrl["recipients"]), alpha)
    n_c, conv_c = int(ctrl["recipients"]), int(ctrl["conversions"])
    control_dict = _arm_dict(
        n_c, conv_c, conv_c / n_c if n_c else None, float(ctrl["revenue_mean"]) if has_revenue else None
    )
    out_variants = []
    if variants:
        welch = _welch_arrays(
            treated["revenue_mean"].to_numpy(dtype=float),
            treated["revenue_var"].to_numpy(dtype=float),
            n_t,
            float(ctrl["revenue_mean"]),
            float(ctrl["revenue_var"]),
            float(ctrl["recipients"]),
            alpha,
        )
        rpr_t = treated["revenue_mean"].to_numpy(dtype=float)
        for i, name in enumerate(variants):
            p = _num(props["p"][i])
            uplift = _num(props["uplift"][i])
            revenue_uplift = _num(welch["diff"][i]) if has_revenue else None
            out_variants.append(
                {
                    "name": _plain(name),
                    **_arm_dict(n_t[i], conv_t[i], props["rate_t"][i], rpr_t[i] if has_revenue else None),
                    "uplift": uplift,
                    "uplift_ci": _interval(props["lo"][i], props["hi"][i]),
                    "relative_uplift": _num(props["relative"][i]),
                    "p_value": p,
                    "test": props["test"][i] or None,
                    "significant": None if p is None else p < alpha,
                    "revenue_uplift": revenue_uplift,
                    "revenue_uplift_ci": _interval(welch["lo"][i], welch["hi"][i]) if has_revenue else None,
                    "revenue_p_value": _num(welch["p"][i]) if has_revenue else None,
                    "incremental_conversions": None if uplift is None else uplift * n_t[i],
                    "incremental_revenue": None if revenue_uplift is None else revenue_uplift * n_t[i],
                }
            )
    return {"control": control_dict, "variants": out_variants}
