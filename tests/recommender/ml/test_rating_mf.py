import numpy as np
import scipy.sparse as sp

from recommender.ml.metrics import rmse
from recommender.ml.rating_mf import BiasedMF


def test_beats_the_global_mean_on_held_out_ratings():
    rng = np.random.default_rng(0)
    n_users, n_items = 200, 80
    taste = rng.normal(0, 1, (n_users, 2)) @ rng.normal(0, 1, (2, n_items))
    truth = np.clip(3 + rng.normal(0, 0.5, (n_users, 1)) + rng.normal(0, 0.5, (1, n_items)) + 0.6 * taste, 1, 5)
    mask = rng.random((n_users, n_items)) < 0.3
    users, items = np.nonzero(mask)
    ratings = np.clip(np.round(truth[users, items] + rng.normal(0, 0.3, len(users))), 1, 5)
    held_out = rng.random(len(users)) < 0.2
    train = sp.csr_matrix((ratings[~held_out], (users[~held_out], items[~held_out])), shape=(n_users, n_items))
    model = BiasedMF(factors=4, regularization=5.0, iterations=15).fit(train)
    predicted = model.predict(users[held_out], items[held_out])
    baseline = rmse(ratings[held_out], np.full(held_out.sum(), ratings[~held_out].mean()))
    ours = rmse(ratings[held_out], predicted)
    assert ours < 0.8 * baseline
    assert predicted.min() >= 1 and predicted.max() <= 5


def test_fold_in_scores_a_new_users_ratings():
    rng = np.random.default_rng(1)
    dense = np.where(rng.random((50, 20)) < 0.5, rng.integers(1, 6, (50, 20)), 0).astype(np.float32)
    dense[:, 0] = np.where(dense[:, 0] > 0, 5, 0)  # item 0 is loved by everyone who rated it
    model = BiasedMF(factors=2, regularization=1.0).fit(sp.csr_matrix(dense))
    newcomer = sp.csr_matrix(([4.0], ([0], [3])), shape=(1, 20))
    scores = model.score(newcomer)
    assert scores.shape == (1, 20)
    assert np.argmax(scores[0]) == 0
