"""Adaptive variants: share the next wave of a campaign among its variants by Thompson sampling.

Each variant's conversion rate has a Beta posterior, Beta(1 + conversions, 1 + recipients - conversions)
under a uniform prior. The probability that a variant is the best is estimated from `draws` joint samples
of the posteriors (seeded), and the treated part of the wave is shared in proportion to those probabilities
(each at least `min_share` of it, so no variant stops learning), rounded by largest remainders so the counts
add up exactly. Sending the treated recipients one by one to the arg-max of a fresh posterior draw gives the
same shares in expectation; this way the allocation is reproducible and explainable.

The control group is not part of the bandit: every wave holds out the same `control_share`, so each wave
is a randomised experiment of its own and the uplift of a variant against control stays unbiased when
compared wave by wave (pooling the waves weights them differently for each variant).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WaveAllocation:
    control: int  # recipients held out in this wave
    variants: dict[Hashable, int]  # recipients per variant in this wave
    probability_best: dict[Hashable, float]  # posterior probability that each variant converts best


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    short = total - counts.sum()
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


def probability_best(
    results: Mapping[Hashable, tuple[int, int]], *, rng: np.random.Generator | int | None, draws: int = 20_000
) -> dict[Hashable, float]:
    """P(each variant has the highest conversion rate) from `results` = {variant: (conversions, recipients)}."""
    if not results:
        raise ValueError("no variants to compare")
    alpha, beta = [], []
    for name, (conversions, recipients) in results.items():
        if not (0 <= conversions <= recipients) or int(conversions) != conversions or int(recipients) != recipients:
            raise ValueError(f"variant {name!r}: conversions must be whole numbers between 0 and recipients")
        alpha.append(1 + conversions)
        beta.append(1 + recipients - conversions)
    generator = np.random.default_rng(rng)
    samples = generator.beta(np.array(alpha, dtype=float), np.array(beta, dtype=float), size=(draws, len(alpha)))
    wins = np.bincount(samples.argmax(axis=1), minlength=len(alpha)) / draws
    return {name: float(share) for name, share in zip(results, wins, strict=True)}


def thompson_allocation(
    results: Mapping[Hashable, tuple[int, int]],
    *,
    wave_size: int,
    control_share: float,
    rng: np.random.Generator | int | None,
    min_share: float = 0.05,
    draws: int = 20_000,
) -> WaveAllocation:
    """How many recipients of the next wave go to control and to each variant.

    results: {variant: (conversions, recipients)} observed so far (control not included).
    control_share: the campaign's holdout, the same in every wave. min_share: the least share of the
    treated part each variant keeps (0 lets a variant starve; must leave room: min_share * variants <= 1).
    """
    if wave_size < 0 or int(wave_size) != wave_size:
        raise ValueError(f"wave_size must be a whole number >= 0, got {wave_size!r}")
    if not 0 <= control_share < 1:
        raise ValueError(f"control_share must be in [0, 1), got {control_share!r}")
    if not 0 <= min_share * len(results) <= 1:
        raise ValueError(f"min_share {min_share!r} x {len(results)} variants leaves no room to adapt")
    best = probability_best(results, rng=rng, draws=draws)
    control = round(wave_size * control_share)
    weights = np.array(list(best.values()))
    weights = min_share + (1 - min_share * len(weights)) * weights
    counts = _largest_remainder(wave_size - control, weights)
    return WaveAllocation(
        control=control,
        variants={name: int(count) for name, count in zip(best, counts, strict=True)},
        probability_best=best,
    )
