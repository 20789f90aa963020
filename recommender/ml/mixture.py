"""A mixture of multinomials over items (Breese, Heckerman and Kadie 1998, "Bayesian clustering"), fitted by EM.

Every user belongs to one of `components` latent groups; a group picks items from its own
distribution theta_k. EM alternates
    E: r_uk proportional to pi_k * prod_{i in u} theta_ki    (computed in logs: X @ log(theta)')
    M: theta_k proportional to alpha + sum_u r_uk x_u,   pi_k proportional to sum_u r_uk
where `alpha` is a symmetric Dirichlet prior (a pseudo-count per item and group) that keeps
rare items from getting probability zero. A history is scored by its posterior over the groups:
score_i = sum_k P(k | history) theta_ki, so a new user is scored without a refit.

Unlike a linear item-item model (EASE), the posterior sharpens as the history grows: a few items
leave the user between groups (close to popularity), many pin one group down. The two make
different mistakes, which is why a blend of them can beat either; validation decides.
Cost per EM iteration: two sparse x dense products (interactions x components).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp

from recommender.ml.base import NotFittedError, Recommender, binarize


def _posterior(history: sp.csr_matrix, log_theta: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """P(group | history) for each history row (rows x components)."""
    log_joint = np.asarray(history @ log_theta.T) + log_prior
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def fit_mixture(
    matrix: sp.csr_matrix, *, components: int, alpha: float, iterations: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(theta: components x items, each row a distribution; log prior of each component) by EM.

    The responsibilities start as seeded Dirichlet draws, so the result is the same for the same seed.
    """
    if components < 1:
        raise ValueError("a mixture needs at least one component")
    if alpha <= 0:
        raise ValueError("mixture alpha must be positive")
    x = binarize(matrix).astype(np.float64)
    n_users = x.shape[0]
    responsibilities = np.random.default_rng(seed).dirichlet(np.ones(components), size=n_users)
    theta = log_prior = None
    for _ in range(max(1, iterations)):
        counts = np.asarray((x.T @ responsibilities).T) + alpha
        theta = counts / counts.sum(axis=1, keepdims=True)
        log_prior = np.log(responsibilities.sum(axis=0) + 1e-12) - np.log(max(n_users, 1))
        responsibilities = _posterior(x, np.log(theta), log_prior)
    return theta, log_prior


class MultinomialMixture(Recommender):
    """User groups with their own item distributions; scores are the posterior mix of the groups' choices.

    Defaults: `components=32` groups, `alpha=1.0` (Dirichlet pseudo-count per item and group),
    `iterations=40` EM steps, `random_state=42`. Tune `components` on validation (more for more users).
    """

    name = "mixture"
    defaults = {"components": 32, "alpha": 1.0, "iterations": 40, "random_state": 42}

    theta: np.ndarray | None = None
    log_prior: np.ndarray | None = None

    def fit(self, matrix: sp.csr_matrix) -> MultinomialMixture:
        self.theta, self.log_prior = fit_mixture(
            matrix,
            components=int(self.components),
            alpha=float(self.alpha),
            iterations=int(self.iterations),
            seed=int(self.random_state),
        )
        self.n_items = matrix.shape[1]
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        if self.theta is None or self.log_prior is None:
            raise NotFittedError("mixture model is not fitted")
        hist = binarize(history).astype(np.float64)
        return _posterior(hist, np.log(self.theta), self.log_prior) @ self.theta

    def get_state(self) -> dict[str, Any]:
        return {"theta": self.theta, "log_prior": self.log_prior}

    def set_state(self, state: dict[str, Any]) -> None:
        self.theta = np.asarray(state["theta"], dtype=np.float64)
        self.log_prior = np.asarray(state["log_prior"], dtype=np.float64)
