import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml.popularity import PopularityRecommender, popular_by_category, trending_items

# 4 users x 4 items: item 2 seen by 3 users, item 0 by 2, item 3 by 1 (weight 9), item 1 by none.
MATRIX = sp.csr_matrix(np.array([[1, 0, 1, 0], [1, 0, 1, 0], [0, 0, 1, 9], [0, 0, 0, 0]], dtype=np.float32))


def test_global_popularity_orders_by_distinct_users_and_skips_seen():
    model = PopularityRecommender().fit(MATRIX)
    items, scores = model.recommend(MATRIX[[3]], n=3)
    assert items[0].tolist() == [2, 0, 3]
    np.testing.assert_allclose(scores[0], [3, 2, 1])
    seen, _ = model.recommend(MATRIX[[0]], n=2, exclude=MATRIX[[0]])
    assert seen[0].tolist() == [3, 1]


def test_popularity_by_weight():
    model = PopularityRecommender(by="weight").fit(MATRIX)
    items, _ = model.recommend(MATRIX[[3]], n=2)
    assert items[0].tolist() == [3, 2]


def test_popular_by_category():
    lists = popular_by_category(MATRIX, np.array(["a", "a", "b", "b"]), n=5)
    assert lists["a"].tolist() == [0]  # item 1 never seen: left out
    assert lists["b"].tolist() == [2, 3]


def test_trending_prefers_a_surge_over_a_steady_seller():
    now = pd.Timestamp("2024-03-01", tz="UTC")
    days = []
    items = []
    for week in range(5):  # item 0 sells 10 a week every week; item 1 was quiet and sold 6 last week
        days += [now - pd.Timedelta(days=7 * week + 1)] * 10
        items += [0] * 10
    days += [now - pd.Timedelta(days=2)] * 6
    items += [1] * 6
    days += [now - pd.Timedelta(days=20)]
    items += [1]
    chosen, scores = trending_items(np.array(items), pd.Series(days), n_items=3, now=now, window_days=7)
    assert chosen.tolist() == [1]  # item 0 is steady (no growth), item 2 never sold
    baseline = 1 / 4
    np.testing.assert_allclose(scores, [(6 - baseline) / np.sqrt(baseline + 1)])
