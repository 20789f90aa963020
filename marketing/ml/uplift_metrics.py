"""Uplift model evaluation: Qini and uplift curves, their normalised areas, uplift at the top k.

The definitions follow scikit-uplift 0.5 (`qini_curve`, `uplift_curve`, `qini_auc_score`,
`uplift_auc_score`, `uplift_at_k(strategy="overall")`), written here because that package is no longer
maintained (its last release, 2022, relies on a scikit-learn helper removed in 1.10); on random data with
ties these functions give its numbers to 1e-10:

- Customers are ranked by predicted uplift, highest first; ties form one step of the curve.
- Qini curve at the top n: Y_T(n) - Y_C(n) * N_T(n) / N_C(n) (incremental outcomes in the treated scale).
- Uplift curve at the top n: (Y_T(n) / N_T(n) - Y_C(n) / N_C(n)) * n.
- A normalised area is (area(model) - area(random)) / (area(perfect) - area(random)), the random line
  joining (0, 0) to the curve's end: 1 is the perfect ranking, 0 random targeting, below 0 worse.
- The perfect Qini ranking scores y * t - y * (1 - t) (treated buyers first, control buyers last, negative
  effects included); the perfect uplift ranking is scikit-uplift's 2 * (y == t) + (y or t).

For a continuous outcome (revenue) the curves and the Qini ranking are the same formulas; the perfect
uplift ranking, defined only for 0/1 outcomes, is then replaced by the perfect Qini ranking.
"""

from __future__ import annotations

import numpy as np


def _arrays(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    u = np.asarray(uplift, dtype=float).ravel()
    t = np.asarray(treatment).ravel()
    if not (len(y) == len(u) == len(t)):
        raise ValueError(f"y_true, uplift and treatment differ in length: {len(y)}, {len(u)}, {len(t)}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("treatment must hold only 0 (control) and 1 (treated)")
    if not (np.isfinite(y).all() and np.isfinite(u).all()):
        raise ValueError("y_true and uplift must be finite")
    return y, u, t.astype(float)


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all())


def _cumulative(y: np.ndarray, u: np.ndarray, t: np.ndarray):
    order = np.argsort(u, kind="mergesort")[::-1]
    y, u, t = y[order], u[order], t[order]
    thresholds = np.r_[np.flatnonzero(np.diff(u)), u.size - 1]
    n_t = np.cumsum(t)[thresholds]
    y_t = np.cumsum(y * t)[thresholds]
    y_c = np.cumsum(y * (1 - t))[thresholds]
    n = thresholds + 1.0
    return n, n_t, n - n_t, y_t, y_c


def _from_origin(x: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.size == 0 or values[0] != 0 or x[0] != 0:
        return np.r_[0.0, x], np.r_[0.0, values]
    return x, values


def qini_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Points (number targeted, incremental outcomes) of the Qini curve, starting at (0, 0)."""
    y, u, t = _arrays(y_true, uplift, treatment)
    n, n_t, n_c, y_t, y_c = _cumulative(y, u, t)
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return _from_origin(n, y_t - y_c * ratio)


def uplift_curve(y_true, uplift, treatment) -> tuple[np.ndarray, np.ndarray]:
    """Points (number targeted, (rate_T - rate_C) * number targeted) of the uplift curve."""
    y, u, t = _arrays(y_true, uplift, treatment)
    n, n_t, n_c, y_t, y_c = _cumulative(y, u, t)
    rate_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    rate_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    return _from_origin(n, (rate_t - rate_c) * n)


def _perfect_qini_score(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    return y * t - y * (1 - t)


def _perfect_uplift_score(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    if not _is_binary(y):
        return _perfect_qini_score(y, t)
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t
    return 2 * (y == t) + summand


def _normalised_area(curve, y: np.ndarray, u: np.ndarray, t: np.ndarray, perfect: np.ndarray) -> float | None:
    x_model, y_model = curve(y, u, t)
    x_best, y_best = curve(y, perfect, t)
    random = np.trapezoid([0.0, y_best[-1]], [0.0, x_best[-1]])
    best = np.trapezoid(y_best, x_best) - random
    if best == 0:
        return None
    return float((np.trapezoid(y_model, x_model) - random) / best)


def qini_auc_score(y_true, uplift, treatment) -> float | None:
    """Qini coefficient normalised as scikit-uplift's `qini_auc_score` (negative effects in the optimum).

    None when the perfect ranking does no better than random (for example nobody converted).
    """
    y, u, t = _arrays(y_true, uplift, treatment)
    return _normalised_area(qini_curve, y, u, t, _perfect_qini_score(y, t))


def uplift_auc_score(y_true, uplift, treatment) -> float | None:
    """Area under the uplift curve, normalised as scikit-uplift's `uplift_auc_score` (AUUC)."""
    y, u, t = _arrays(y_true, uplift, treatment)
    return _normalised_area(uplift_curve, y, u, t, _perfect_uplift_score(y, t))


def uplift_at_k(y_true, uplift, treatment, *, k: float) -> float | None:
    """Treated minus control mean outcome among the top `k` share of all customers by predicted uplift.

    scikit-uplift's `uplift_at_k(strategy="overall")`: the first int(n * k) customers of the ranking, both
    groups together. None when those hold no treated or no control customer.
    """
    if not 0 < k < 1:
        raise ValueError(f"k must be a share between 0 and 1, got {k!r}")
    y, u, t = _arrays(y_true, uplift, treatment)
    top = np.argsort(u, kind="mergesort")[::-1][: int(len(y) * k)]
    treated, control = top[t[top] == 1], top[t[top] == 0]
    if treated.size == 0 or control.size == 0:
        return None
    return float(y[treated].mean() - y[control].mean())


def random_uplift(y_true, treatment) -> float | None:
    """Treated minus control mean outcome over everyone: what targeting at random achieves per customer."""
    y, _, t = _arrays(y_true, np.zeros(len(np.asarray(y_true))), treatment)
    if not (t == 1).any() or not (t == 0).any():
        return None
    return float(y[t == 1].mean() - y[t == 0].mean())


def qini_interval(
    y_true, uplift, treatment, *, rng: np.random.Generator | int | None, resamples: int = 400, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the Qini coefficient, the ranking held fixed and the recipients resampled
    within each group: how much of a Qini measured on a few hundred recipients is the luck of the split.

    None when fewer than half the resamples have a Qini (nobody converted in most of them).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    y, u, t = _arrays(y_true, uplift, treatment)
    generator = np.random.default_rng(rng)
    groups = [np.flatnonzero(t == 1), np.flatnonzero(t == 0)]
    if any(g.size == 0 for g in groups):
        return None
    scores = []
    for _ in range(resamples):
        rows = np.concatenate([generator.choice(g, size=g.size, replace=True) for g in groups])
        score = qini_auc_score(y[rows], u[rows], t[rows])
        if score is not None:
            scores.append(score)
    if len(scores) < resamples / 2:
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return float(low), float(high)


def uplift_metrics(y_true, uplift, treatment) -> dict[str, float | int | None]:
    """The evaluation reported for an uplift model on its held-out split."""
    y, u, t = _arrays(y_true, uplift, treatment)
    return {
        "qini": qini_auc_score(y, u, t),
        "auuc": uplift_auc_score(y, u, t),
        "uplift_at_10": uplift_at_k(y, u, t, k=0.1),
        "uplift_at_30": uplift_at_k(y, u, t, k=0.3),
        "random_uplift": random_uplift(y, t),
        "holdout_recipients": len(y),
    }
