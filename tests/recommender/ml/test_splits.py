import numpy as np
import pandas as pd
import pytest

from recommender.ml.splits import stratified_split, temporal_split

USERS = np.array([0] * 4 + [1] * 8 + [2] * 1 + [3] * 3)


def test_stratified_keeps_each_users_share_in_train():
    mask = stratified_split(USERS, ratio=0.75, seed=42)
    train_counts = np.bincount(USERS[mask], minlength=4)
    assert train_counts.tolist() == [3, 6, 1, 2]  # round(0.75 n), at least one


def test_stratified_is_seeded():
    users = np.repeat(np.arange(50), 20)
    first = stratified_split(users, ratio=0.75, seed=7)
    assert np.array_equal(first, stratified_split(users, ratio=0.75, seed=7))
    assert not np.array_equal(first, stratified_split(users, ratio=0.75, seed=8))


def test_stratified_rejects_a_ratio_outside_0_1():
    with pytest.raises(ValueError):
        stratified_split(USERS, ratio=1.0)


def test_temporal_holds_out_each_users_last_n_by_time():
    users = np.array([0, 0, 0, 1, 1, 2])
    times = pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-05", "2024-01-04", "2024-01-01"])
    mask = temporal_split(users, times, n_last=1)
    assert mask.tolist() == [False, True, True, False, True, True]  # user 2 keeps its only row
    by_ratio = temporal_split(users, np.array([3, 1, 2, 5, 4, 1]), test_ratio=0.5)
    assert by_ratio.tolist() == [False, True, False, False, True, True]


def test_temporal_needs_exactly_one_of_n_last_or_ratio():
    with pytest.raises(ValueError):
        temporal_split(USERS, np.arange(len(USERS)))


def test_stratified_picks_the_rows_of_recommenders_python_stratified_split():
    # microsoft/recommenders 1.2.1: python_stratified_split(frame of USERS, ratio=0.75, seed=42), rows kept in train.
    expected = [1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1]
    assert stratified_split(USERS, ratio=0.75, seed=42).astype(int).tolist() == expected


def test_stratified_orders_each_users_rows_by_one_seeded_draw_per_row():
    users = np.array([5, 3, 5, 3, 5, 3, 3, 5])
    draws = np.random.RandomState(11).random_sample(len(users))
    mask = stratified_split(users, ratio=0.5, seed=11)
    for user in (3, 5):
        rows = np.flatnonzero(users == user)
        kept = rows[np.argsort(draws[rows])][:2]
        assert sorted(np.flatnonzero(mask & (users == user))) == sorted(kept)
