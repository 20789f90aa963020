"""The artifact's lists, computed without Django from small arrays."""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.ml import toplists


def test_kinds_at_reads_each_slot_and_gives_zero_for_missing_or_empty():
    kinds = sp.csr_matrix(np.array([[0, 4, 1], [2, 0, 0]], dtype=np.int8))
    items = np.array([[1, 2, 0, -1], [0, 1, 2, -1]])
    np.testing.assert_array_equal(toplists.kinds_at(kinds, items), [[4, 1, 0, 0], [2, 0, 0, 0]])


def test_because_dense_picks_the_history_item_with_the_largest_positive_weight():
    weights = np.array([[0.0, 0.5, -1.0], [0.2, 0.0, -0.5], [0.9, 0.1, 0.0]])
    history = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 0], [0, 1, 0]], dtype=np.float32))
    targets = np.array([[2, 1, -1], [0, 1, 2], [0, 2, -1]], dtype=np.int32)
    # row 0 has items 0 and 1: for target 2 both weights are negative; for target 1 item 0 (0.5) wins
    np.testing.assert_array_equal(
        toplists.because_dense(weights, history, targets), [[-1, 0, -1], [-1, -1, -1], [1, -1, -1]]
    )


def test_ranked_orders_by_count_then_item_and_drops_zeros():
    np.testing.assert_array_equal(toplists.ranked(np.array([3, 0, 5, 3, 1]), limit=3), [2, 0, 3])


def test_order_baskets_and_exclusions_follow_the_frame():
    frame = pd.DataFrame(
        {
            "customer": [10, 10, 11, 11],
            "product": [7, 8, 7, 9],
            "kind": ["purchase", "purchase", "view", "purchase"],
            "order_ref": ["A", "A", "", "B"],
        }
    )
    baskets = toplists.order_baskets(frame, [7, 8, 9])
    np.testing.assert_array_equal(baskets.toarray(), [[1, 1, 0], [0, 0, 1]])
    excluded = toplists.excluded_cells(frame, [10, 11], [7, 8, 9], kinds=("purchase",))
    np.testing.assert_array_equal(excluded.toarray(), [[1, 1, 0], [0, 0, 1]])
    codes = toplists.kind_code_matrix(frame, [10, 11], [7, 8, 9], codes={"view": 1, "purchase": 4})
    np.testing.assert_array_equal(codes.toarray(), [[4, 4, 0], [1, 0, 4]])
