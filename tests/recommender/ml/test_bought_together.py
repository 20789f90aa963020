import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.ml.bought_together import BoughtTogether, bought_together

# Five baskets: {a,b} {a,b} {a,c} {b} {c,d}. Counts a 3, b 3, c 2, d 1.
PAIRS = pd.DataFrame(
    {
        "order": ["o1", "o1", "o2", "o2", "o3", "o3", "o4", "o5", "o5"],
        "item": ["a", "b", "a", "b", "a", "c", "b", "c", "d"],
    }
)


def test_lift_and_minimum_support_by_hand():
    frame = bought_together(PAIRS, min_support=2)
    assert frame[["item", "other"]].values.tolist() == [["a", "b"], ["b", "a"]]
    row = frame.iloc[0]
    assert row["support"] == 2
    assert row["confidence"] == pytest.approx(2 / 3)
    assert row["lift"] == pytest.approx(2 * 5 / (3 * 3))


def test_lists_are_ranked_by_lift():
    frame = bought_together(PAIRS, min_support=1)
    c_list = frame[frame["item"] == "c"]
    assert c_list["other"].tolist() == ["d", "a"]
    np.testing.assert_allclose(c_list["lift"], [1 * 5 / (2 * 1), 1 * 5 / (2 * 3)])
    assert c_list["rank"].tolist() == [1, 2]


def test_recommender_on_a_basket_matrix():
    baskets = sp.csr_matrix(
        np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 1, 1]], dtype=np.float32)
    )
    model = BoughtTogether(min_support=1).fit(baskets)
    items, lifts = model.similar_items(2, n=5)
    assert items.tolist() == [3, 0]
    np.testing.assert_allclose(lifts, [2.5, 5 / 6])
    empty_items, _ = BoughtTogether(min_support=2).fit(baskets).similar_items(2, n=5)
    assert len(empty_items) == 0
