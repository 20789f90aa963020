"""Mixture of multinomials: EM recovers user groups, and a history is scored by its posterior over them."""

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.mixture import MultinomialMixture, fit_mixture


def two_groups(seed: int = 0, users: int = 60) -> sp.csr_matrix:
    """Half the users pick 4 of items 0-7, the other half 4 of items 8-15."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for user in range(users):
        offset = 0 if user < users // 2 else 8
        for item in rng.choice(8, 4, replace=False):
            rows.append(user)
            cols.append(offset + item)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(users, 16))


def test_em_separates_the_groups_and_each_component_is_a_distribution():
    theta, log_prior = fit_mixture(two_groups(), components=2, alpha=0.1, iterations=30, seed=1)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(log_prior).sum(), 1.0)
    # One component puts almost all its mass on items 0-7, the other on items 8-15.
    mass_low = np.sort(theta[:, :8].sum(axis=1))
    assert mass_low[0] < 0.05 and mass_low[1] > 0.95
    np.testing.assert_allclose(np.exp(log_prior), [0.5, 0.5], atol=0.02)


def test_a_history_is_scored_by_its_groups_items():
    model = MultinomialMixture(components=2, alpha=0.1, iterations=30).fit(two_groups())
    history = sp.csr_matrix(([1.0, 1.0], ([0, 0], [9, 12])), shape=(1, 16))
    scores = model.score(history)[0]
    assert scores[8:].min() > scores[:8].max()
    # An empty history is scored by the groups' prior: both halves of the catalog alike.
    empty = model.score(sp.csr_matrix((1, 16)))[0]
    assert abs(empty[:8].sum() - empty[8:].sum()) < 0.05


def test_same_seed_same_model_and_weights_read_as_presence():
    matrix = two_groups()
    first = MultinomialMixture(components=3, iterations=10, random_state=5).fit(matrix)
    again = MultinomialMixture(components=3, iterations=10, random_state=5).fit(matrix * 4.0)
    np.testing.assert_array_equal(first.theta, again.theta)


@pytest.mark.parametrize(("components", "alpha", "message"), [(0, 1.0, "at least one"), (2, 0.0, "positive")])
def test_bad_settings_are_refused_by_name(components, alpha, message):
    with pytest.raises(ValueError, match=message):
        MultinomialMixture(components=components, alpha=alpha).fit(two_groups())
