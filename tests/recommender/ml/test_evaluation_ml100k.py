"""The offline protocol end to end on MovieLens 100K (skipped where the data set is absent)."""

import numpy as np
import pytest

from recommender.ml.datasets import load_movielens
from recommender.ml.evaluation import dataset_from_frame, run_evaluation, split_dataset
from tests.conftest import ML100K_DIR, require_dataset

pytestmark = [pytest.mark.dataset, pytest.mark.slow]


@pytest.fixture(scope="module")
def ml100k():
    # Module-scoped (read once), so it calls the same skip helper as the `ml100k_dir` fixture.
    directory = require_dataset(ML100K_DIR)
    return dataset_from_frame(load_movielens(directory), rating_col="rating", time_col="timestamp")


def test_loader_reads_all_ratings(ml100k):
    assert (ml100k.n_users, ml100k.n_items, len(ml100k)) == (943, 1682, 100_000)


def test_collaborative_models_beat_popularity_by_a_wide_margin(ml100k):
    report = run_evaluation(ml100k, seed=42, algorithms=["popularity", "ease", "als"], tune=False)
    results = report["results"]
    popular = results["popularity"]["ndcg"]
    best = max(results["ease"]["ndcg"], results["als"]["ndcg"])
    assert best >= 1.4 * popular
    assert results["ease"]["precision"] >= 1.4 * results["popularity"]["precision"]
    # Never recommends what a user already rated in training, so coverage goes beyond the head.
    assert results["ease"]["coverage"] > 3 * results["popularity"]["coverage"]
    assert report["n_train"] == 74_992


def test_temporal_protocol_holds_out_the_latest_ratings(ml100k):
    train, test = split_dataset(ml100k, protocol="temporal", test_ratio=0.25, seed=0)
    last_train = np.zeros(ml100k.n_users)
    first_test = np.full(ml100k.n_users, np.inf)
    np.maximum.at(last_train, train.users, train.times)
    np.minimum.at(first_test, test.users, test.times)
    assert np.all(last_train <= first_test)
