"""Before launch: which uplift a campaign with this audience and holdout can tell from chance.

The test is the two-sided comparison of two proportions on Cohen's arcsine scale, h = 2 asin(sqrt(p1)) -
2 asin(sqrt(p0)), as statsmodels' `NormalIndPower` computes it: the smallest detectable h is
(z[1 - alpha/2] + z[power]) * sqrt(1/n_treated + 1/n_control), and the minimum detectable uplift is the
rise in conversion rate from the baseline p0 that this h stands for (the negligible far-tail rejection
left out, which is what makes the inverse problems - holdout share, audience - closed-form).

The control group is round(audience * holdout_share) recipients, the treated group the rest. Rates and
uplifts are fractions (0.041 = 4.1 points).
"""

from __future__ import annotations

import math
from statistics import NormalDist

_Z = NormalDist().inv_cdf
SUGGESTED_HOLDOUTS = (0.3, 0.5)


def _check(*, baseline_rate: float, alpha: float, power: float) -> None:
    if not 0 <= baseline_rate < 1:
        raise ValueError(f"baseline_rate must be in [0, 1), got {baseline_rate!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power!r}")


def _k(alpha: float, power: float) -> float:
    return _Z(1 - alpha / 2) + _Z(power)


def _group_sizes(audience: int, holdout_share: float) -> tuple[int, int]:
    if audience < 0 or int(audience) != audience:
        raise ValueError(f"audience must be a whole number >= 0, got {audience!r}")
    if not 0 <= holdout_share <= 1:
        raise ValueError(f"holdout_share must be between 0 and 1, got {holdout_share!r}")
    control = round(audience * holdout_share)
    return int(audience) - control, control


def effect_to_uplift(effect_size: float, baseline_rate: float) -> float | None:
    """The rise in conversion rate from `baseline_rate` that Cohen's h = `effect_size` stands for."""
    angle = math.asin(math.sqrt(baseline_rate)) + effect_size / 2
    if angle > math.pi / 2:
        return None  # no rate above the baseline is that far away
    return math.sin(angle) ** 2 - baseline_rate


def uplift_to_effect(uplift: float, baseline_rate: float) -> float:
    """Cohen's h of a rise from `baseline_rate` to `baseline_rate + uplift`."""
    if not 0 < baseline_rate + uplift <= 1 or uplift <= 0:
        raise ValueError(f"uplift must be > 0 and keep the rate <= 1, got {uplift!r} on {baseline_rate!r}")
    return 2 * math.asin(math.sqrt(baseline_rate + uplift)) - 2 * math.asin(math.sqrt(baseline_rate))


def minimum_detectable_uplift(
    *, audience: int, holdout_share: float, baseline_rate: float, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """Smallest uplift (absolute, as a fraction) detected with probability `power` by a two-sided test at `alpha`.

    None when either group would be empty or no conversion rate up to 100 % would be detectable.
    """
    _check(baseline_rate=baseline_rate, alpha=alpha, power=power)
    treated, control = _group_sizes(audience, holdout_share)
    if treated == 0 or control == 0:
        return None
    return effect_to_uplift(_k(alpha, power) * math.sqrt(1 / treated + 1 / control), baseline_rate)


def holdout_share_for_uplift(
    *, audience: int, uplift: float, baseline_rate: float, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """Smallest holdout share (at most 50 %) with which `uplift` can be detected; None if even 50 % is not enough.

    Past 50 % the treated group becomes the smaller one and detection gets harder again.
    """
    _check(baseline_rate=baseline_rate, alpha=alpha, power=power)
    _group_sizes(audience, 0.5)
    h = uplift_to_effect(uplift, baseline_rate)
    # 1/(N(1-s)) + 1/(Ns) <= (h/K)^2  <=>  s(1-s) >= 1/A with A = N (h/K)^2
    a = audience * (h / _k(alpha, power)) ** 2
    if a < 4:
        return None
    return (1 - math.sqrt(1 - 4 / a)) / 2


def required_audience(
    *, uplift: float, holdout_share: float, baseline_rate: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Smallest audience with which `uplift` can be detected at the given holdout share."""
    _check(baseline_rate=baseline_rate, alpha=alpha, power=power)
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be strictly between 0 and 1, got {holdout_share!r}")
    h = uplift_to_effect(uplift, baseline_rate)
    return math.ceil((_k(alpha, power) / h) ** 2 * (1 / (1 - holdout_share) + 1 / holdout_share))


def _percent(share: float) -> str:
    value = round(share * 100, 1)
    return f"{value:g} %"


def _points(uplift: float) -> str:
    return f"{uplift * 100:.1f} points"


def power_sentence(
    *, audience: int, holdout_share: float, baseline_rate: float, alpha: float = 0.05, power: float = 0.8
) -> str:
    """The plain sentence shown in the campaign editor, for example

    "with 1,200 recipients and a 10 % holdout, only an uplift above 4.1 points can be told from chance;
    raise the holdout to 30 % to detect 2.3 points".

    The suggestion is the first of 30 % and 50 % above the current holdout that cuts the detectable
    uplift by a quarter or more; failing that (the holdout is already near 50 %), the audience that would
    halve it.
    """
    mde = minimum_detectable_uplift(
        audience=audience, holdout_share=holdout_share, baseline_rate=baseline_rate, alpha=alpha, power=power
    )
    head = f"with {audience:,} recipients and a {_percent(holdout_share)} holdout"
    if holdout_share == 0:
        return f"with {audience:,} recipients and no holdout, no uplift can be measured; keep a holdout of 10 % or more"
    if mde is None:
        needed = (
            required_audience(
                uplift=min(0.05, 1 - baseline_rate),
                holdout_share=holdout_share,
                baseline_rate=baseline_rate,
                alpha=alpha,
                power=power,
            )
            if 0 < holdout_share < 1
            else None
        )
        tail = f"; about {needed:,} recipients are needed to detect 5 points" if needed else ""
        return f"{head}, no uplift can be told from chance{tail}"
    sentence = f"{head}, only an uplift above {_points(mde)} can be told from chance"
    for share in SUGGESTED_HOLDOUTS:
        if share <= holdout_share:
            continue
        better = minimum_detectable_uplift(
            audience=audience, holdout_share=share, baseline_rate=baseline_rate, alpha=alpha, power=power
        )
        if better is not None and better <= 0.75 * mde:
            return f"{sentence}; raise the holdout to {_percent(share)} to detect {_points(better)}"
    if 0 < holdout_share < 1 and mde / 2 + baseline_rate < 1:
        needed = required_audience(
            uplift=mde / 2, holdout_share=holdout_share, baseline_rate=baseline_rate, alpha=alpha, power=power
        )
        return f"{sentence}; {needed:,} recipients would detect {_points(mde / 2)}"
    return sentence
