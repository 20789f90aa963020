import numpy as np
import pytest
import scipy.sparse as sp

from recommender.ml.metrics import catalog_coverage, mae, ranking_metrics, rmse


def _relevant(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    pairs = [(u, i) for u, items in enumerate(rows) for i in items]
    users, items = zip(*pairs, strict=True) if pairs else ((), ())
    return sp.csr_matrix((np.ones(len(pairs)), (users, items)), shape=(len(rows), n_items))


def test_one_user_by_hand():
    # Recommended 1, 2, 3; relevant {2, 5}: a single hit at rank 2.
    result = ranking_metrics(np.array([[1, 2, 3]]), _relevant([[2, 5]]), k=3)
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["recall"] == pytest.approx(1 / 2)
    assert result["ndcg"] == pytest.approx((1 / np.log(3)) / (1 / np.log(2) + 1 / np.log(3)))
    assert result["map"] == pytest.approx((1 / 2) / 2)
    assert result["map_at_k"] == pytest.approx((1 / 2) / 2)
    assert result["hit_rate"] == 1.0


def test_map_divides_by_relevant_items_and_map_at_k_by_min_relevant_k():
    # Hits at ranks 1 and 3 among 5 relevant items, k = 3: AP sum = 1 + 2/3.
    result = ranking_metrics(np.array([[0, 9, 1]]), _relevant([[0, 1, 2, 3, 4]]), k=3)
    assert result["map"] == pytest.approx((1 + 2 / 3) / 5)
    assert result["map_at_k"] == pytest.approx((1 + 2 / 3) / 3)
    assert result["ndcg"] == pytest.approx(
        (1 + 1 / np.log(4) * np.log(2)) / (1 + np.log(2) / np.log(3) + np.log(2) / np.log(4))
    )


def test_mean_over_users_with_relevant_items_and_short_lists_padded():
    recommended = np.array([[4, -1, -1], [0, 1, 2], [7, 8, 9]])
    relevant = _relevant([[4], [], [5, 6]])  # user 1 has nothing held out: not counted
    result = ranking_metrics(recommended, relevant, k=3)
    assert result["precision"] == pytest.approx(np.mean([1 / 3, 0]))
    assert result["recall"] == pytest.approx(np.mean([1, 0]))
    assert result["ndcg"] == pytest.approx(np.mean([1, 0]))
    assert result["hit_rate"] == pytest.approx(0.5)


def test_coverage_and_rating_errors():
    assert catalog_coverage(np.array([[0, 1], [1, 2], [-1, -1]]), 10) == pytest.approx(0.3)
    assert rmse(np.array([1, 2, 3]), np.array([1, 2, 5])) == pytest.approx(np.sqrt(4 / 3))
    assert mae(np.array([1, 2, 3]), np.array([2, 2, 5])) == pytest.approx(1.0)
