"""Hyperparameter search spaces that scale with the data, and a successive-halving search bounded in time.

Defaults fitted to one data set do not carry over to another (an l2 that suits 100,000 ratings
over-smooths a million), so every algorithm's settings are searched on validation splits of the
data at hand:

- `DataShape` sums up the matrix a model is fitted on (users, items, interactions);
- `candidates(name, shape)` lists settings for that shape: EASE's l2 and item-kNN's shrinkage in
  units of the mean interactions per item, ALS's regularisation in units that grow with the
  catalog and the user base, iALS's already scaled by activity (Rendle et al. 2022); the
  factor-model points after the first come from a seeded Sobol sequence over log ranges, so the
  list is the same for the same data;
- `successive_halving` scores every candidate cheaply (few ALS iterations), keeps the best third,
  scores those with more iterations, and so on up to the full fit; past its deadline it stops
  and keeps the best setting scored at the highest level reached (and says so).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.stats import qmc


@dataclass(frozen=True)
class DataShape:
    """What a search space is scaled by: the matrix a model will be fitted on."""

    n_users: int
    n_items: int
    nnz: int

    @classmethod
    def of(cls, matrix: sp.spmatrix) -> DataShape:
        return cls(n_users=int(matrix.shape[0]), n_items=int(matrix.shape[1]), nnz=int(matrix.nnz))

    @property
    def per_item(self) -> float:
        """Mean interactions per item: the scale of the diagonal of X'X that EASE's l2 is added to."""
        return self.nnz / max(self.n_items, 1)


# EASE: l2 starts at c * interactions per item (the best c was ~0.3 on the million-scale sets of Steck 2019,
# ~10 on MovieLens 100K) and walks along a log scale from there.
EASE_L2_START = 2.0
# ALS (implicit): regularisation = r * sqrt(users * items) / 1,000 (r ~ 25 on MovieLens 100K), alpha around 4.
ALS_REG_RANGE = (2.0, 200.0)
ALS_ALPHA_RANGE = (0.5, 32.0)
# iALS: its regularisation is multiplied by each row's (count + alpha0 * other side) already.
IALS_REG_RANGE = (0.002, 0.1)
IALS_ALPHA0_RANGE = (0.02, 2.0)
FACTOR_CHOICES = (32, 64, 128)
# Mixture of multinomials: numbers of user groups to try (capped by the users there are to form them).
MIXTURE_COMPONENTS = (8, 16, 32, 64, 128)
SOBOL_POINTS = 8


def _log_points(ranges: Sequence[tuple[float, float]], *, n: int, seed: int) -> np.ndarray:
    """n points of a seeded scrambled Sobol sequence, mapped to log-uniform values in each range."""
    sampler = qmc.Sobol(d=len(ranges), scramble=True, seed=seed)
    unit = sampler.random(n)
    low = np.log([r[0] for r in ranges])
    high = np.log([r[1] for r in ranges])
    return np.exp(low + unit * (high - low))


def _factor_choices(shape: DataShape) -> list[int]:
    # More factors than a quarter of the catalog (or of the users) only adds noise and time.
    cap = max(8, min(shape.n_items, shape.n_users) // 4)
    return sorted({min(f, cap) for f in FACTOR_CHOICES})


def ease_l2_start(shape: DataShape) -> float:
    return round(EASE_L2_START * max(shape.per_item, 1.0), 3)


def candidates(name: str, shape: DataShape, *, seed: int = 0, with_values: bool = False) -> list[dict[str, Any]]:
    """Settings to try for `name` on data of this shape, the documented default's scaled analogue first.

    `with_values`: the matrix carries weights (ratings, event weights), so EASE is also tried on them.
    """
    if name == "ease":  # the starting points of line searches over l2
        start = ease_l2_start(shape)
        return [{"l2": start}] + ([{"binary": False, "value_power": 0.5, "l2": start}] if with_values else [])
    if name == "item_knn":
        ks = sorted({min(k, max(shape.n_items - 1, 1)) for k in (20, 50, 100, 200, 400)})
        shrinks = (0.0, round(0.05 * shape.per_item, 3), round(0.5 * shape.per_item, 3))
        return [{"k": k, "shrink": s} for k in ks for s in shrinks]
    if name == "als":
        scale = math.sqrt(shape.n_users * shape.n_items) / 1000.0
        factors = _factor_choices(shape)
        points = _log_points([ALS_REG_RANGE, ALS_ALPHA_RANGE, (1.0, len(factors) + 0.999)], n=SOBOL_POINTS, seed=seed)
        out = [{"factors": min(64, factors[-1]), "regularization": round(25.0 * scale, 4), "alpha": 4.0}]
        for reg, alpha, f in points:
            out.append(
                {
                    "factors": factors[int(f) - 1],
                    "regularization": round(float(reg) * scale, 4),
                    "alpha": round(float(alpha), 4),
                }
            )
        return out
    if name == "ials":
        factors = _factor_choices(shape)
        points = _log_points(
            [IALS_REG_RANGE, IALS_ALPHA0_RANGE, (1.0, len(factors) + 0.999)], n=SOBOL_POINTS, seed=seed + 1
        )
        out = [{"factors": min(64, factors[-1]), "regularization": 0.017, "alpha0": 0.3}]
        for reg, alpha0, f in points:
            out.append(
                {
                    "factors": factors[int(f) - 1],
                    "regularization": round(float(reg), 5),
                    "alpha0": round(float(alpha0), 4),
                }
            )
        return out
    if name == "mixture":
        # About 25 users per group at least, or each group's distribution is mostly its prior.
        cap = max(2, shape.n_users // 25)
        return [{"components": c, "alpha": 1.0} for c in sorted({min(c, cap) for c in MIXTURE_COMPONENTS})]
    if name == "biased_mf":
        return [{"factors": 8, "regularization": r} for r in (5.0, 10.0, 20.0)] + [
            {"factors": 16, "regularization": 10.0}
        ]
    return [{}]


# Factor models are scored after a few iterations first: (iterations at each level), the last the full fit.
ITERATION_LEVELS = {"als": (3, 7, 15), "ials": (3, 7, 15), "mixture": (10, 40)}


def levels_for(name: str) -> tuple[int | None, ...]:
    return ITERATION_LEVELS.get(name, (None,))


def at_level(params: dict[str, Any], level: int | None) -> dict[str, Any]:
    return dict(params) if level is None else dict(params, iterations=int(level))


@dataclass
class SearchResult:
    params: dict[str, Any]
    value: float  # mean validation score of `params` at the highest level it reached
    tried: list[tuple[dict[str, Any], int | None, float]] = field(default_factory=list)
    cut_short: bool = False  # the deadline stopped the search before every planned evaluation
    seconds: float = 0.0
    cost: float = 0.0  # estimated CPU seconds of one evaluation of `params` (a fit and its validation scoring)


def relative_cost(params: dict[str, Any]) -> float:
    """What one fit of these settings costs against others of its family at the same iterations: factor models
    and mixtures grow about linearly with their width (factors, groups); other settings cost alike."""
    return float(params.get("factors") or params.get("components") or 1)


def _estimated_cost(
    costs: dict[tuple[int, int], float], widths: Sequence[float], number: int, index: int, levels: Sequence[int | None]
) -> float:
    """CPU seconds candidate `number` will take at level `index`: its cost at the level below scaled by the
    iterations (they dominate a factor model's fit), else this level's mean cost per unit of width so far."""
    below = costs.get((number, index - 1))
    if below is not None:
        level, previous = levels[index], levels[index - 1]
        return below * level / previous if level is not None and previous else below
    here = [cost / widths[other] for (other, at), cost in costs.items() if at == index]
    return float(np.mean(here)) * widths[number] if here else 0.0


def successive_halving(
    candidates: Sequence[dict[str, Any]],
    evaluate: Callable[[dict[str, Any]], float],
    *,
    levels: Sequence[int | None] = (None,),
    eta: int = 3,
    deadline: float | None = None,
    clock: Callable[[], float] = time.process_time,
    log: Callable[[str], None] = lambda _msg: None,
    label: str = "",
    floor: float | None = None,
) -> SearchResult:
    """Score every candidate at the first level, keep the best 1/eta, score those at the next level, ...

    `evaluate(params)` gets the candidate with the level applied (`iterations` for factor models)
    and returns a validation score, higher better. The first level goes from the cheapest candidates
    (`relative_cost`) to the dearest, each group in the given order. `deadline` (a `clock()` value; default clock: this
    process's CPU seconds, which other load on the machine does not stretch as it does wall time) is
    a hard bound: an evaluation starts only when its estimated cost still fits before it (the same
    candidate's cost at the level below scaled by the iterations, else this level's mean cost so far
    per unit of `relative_cost`), and level j may use only the first (j + 1) / len(levels) of the time, so a
    wide first level cannot leave nothing to refine with. A first-level candidate that does not fit
    is skipped (a cheaper one after it may fit); at later levels, where candidates come best first,
    the level stops. `floor`: when no candidate reaches it at the first level, the search stops there
    (a family far behind another can neither win nor earn a blend weight).
    The winner is the best setting at the highest level reached, returned at the last level (a full
    fit): picking fewer iterations because they won on one validation split cost test nDCG on
    MovieLens 100K. Ties keep the earlier candidate, so the result depends only on the scores.
    """
    if not candidates:
        raise ValueError("successive halving needs at least one candidate")
    started = clock()
    widths = [relative_cost(c) for c in candidates]
    # (candidate number, its settings), the cheapest first: within a budget the first level tries as many as fit.
    alive = sorted(enumerate(dict(c) for c in candidates), key=lambda item: widths[item[0]])
    tried: list[tuple[dict[str, Any], int | None, float]] = []
    numbers: list[int] = []  # the candidate number of each tried entry
    costs: dict[tuple[int, int], float] = {}  # (candidate number, level index) -> CPU seconds of its evaluation
    cut_short = False
    for index, level in enumerate(levels):
        level_deadline = None if deadline is None else started + (deadline - started) * (index + 1) / len(levels)
        scored: list[tuple[float, int, int, dict[str, Any]]] = []
        for order, (number, params) in enumerate(alive):
            trial = at_level(params, level)
            if level_deadline is not None and tried:
                estimate = _estimated_cost(costs, widths, number, index, levels)
                if clock() + estimate > level_deadline:
                    cut_short = True
                    log(f"  {label} {trial}: not started, its ~{estimate:.0f} CPU s would overrun the budget")
                    if index == 0:
                        continue
                    break
            before = clock()
            value = float(evaluate(trial))
            costs[(number, index)] = clock() - before
            tried.append((trial, level, value))
            numbers.append(number)
            log(f"  {label} {trial}: validation {value:.4f}")
            scored.append((value, order, number, params))
        scored.sort(key=lambda item: (-item[0], item[1]))
        if not scored or index == len(levels) - 1:
            break
        if index == 0 and floor is not None and scored[0][0] < floor:
            log(f"  {label}: best {scored[0][0]:.4f} below {floor:.4f} at the first level; not refined further")
            break
        keep = max(1, math.ceil(len(scored) / eta))
        alive = [(number, params) for _value, _order, number, params in scored[:keep]]
    top = max(levels.index(level) for _trial, level, _value in tried)
    at_top = [(value, i) for i, (_trial, level, value) in enumerate(tried) if levels.index(level) == top]
    value, position = min(at_top, key=lambda item: (-item[0], item[1]))
    params = at_level(tried[position][0], levels[-1])
    # What the full fit of the winner costs: its cost at the top level reached, scaled to the last level's iterations.
    cost = costs[(numbers[position], top)]
    if levels[-1] is not None and levels[top]:
        cost *= levels[-1] / levels[top]
    return SearchResult(
        params=params, value=value, tried=tried, cut_short=cut_short, seconds=clock() - started, cost=cost
    )


def _rounded(value: float) -> float:
    return float(f"{value:.4g}")  # four significant digits: finer steps than the search takes, readable


def line_search_log(
    base: dict[str, Any],
    key: str,
    start: float,
    evaluate: Callable[[dict[str, Any]], float],
    *,
    steps: Sequence[float] = (4.0, 2.0, math.sqrt(2.0)),
    low: float = 1e-6,
    high: float = 1e9,
    deadline: float | None = None,
    clock: Callable[[], float] = time.process_time,
    log: Callable[[str], None] = lambda _msg: None,
    label: str = "",
) -> SearchResult:
    """Best `key` on a log scale, assuming one peak: from `start`, step by each factor in turn (coarse to
    fine), moving while the score improves. About eight evaluations from start to a factor-of-1.4 bracket.
    `deadline` as in `successive_halving`: a point starts only when a fit like the last one still fits before it.
    """
    started = clock()
    cache: dict[float, float] = {}
    tried: list[tuple[dict[str, Any], int | None, float]] = []
    cut_short = False
    last_cost = 0.0  # every point costs about the same fit: the last one's CPU seconds are the estimate

    def score(value: float) -> float:
        nonlocal cut_short, last_cost
        value = _rounded(min(max(value, low), high))
        if value not in cache:
            if cache and deadline is not None and clock() + last_cost > deadline:
                cut_short = True
                return -math.inf
            trial = dict(base, **{key: value})
            before = clock()
            cache[value] = float(evaluate(trial))
            last_cost = clock() - before
            tried.append((trial, None, cache[value]))
            log(f"  {label} {trial}: validation {cache[value]:.4f}")
        return cache[value]

    best = _rounded(start)
    score(best)
    for factor in steps:
        for direction in (factor, 1.0 / factor):
            moved = False
            while not cut_short:
                candidate = _rounded(min(max(best * direction, low), high))
                if candidate == best or score(candidate) <= cache[best]:
                    break
                best, moved = candidate, True
            if moved:
                break  # improving one way: no need to look the other way at this step
    params = dict(base, **{key: best})
    return SearchResult(
        params=params, value=cache[best], tried=tried, cut_short=cut_short, seconds=clock() - started, cost=last_cost
    )
