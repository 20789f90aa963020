"""RFM scores and groups, checked against a worked example (no database)."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from segments.ml.rfm import RFM_GROUPS, orders_from_invoice_lines, quintile_scores, rfm_group, rfm_scores

TODAY = datetime(2025, 1, 31, tzinfo=UTC)


def _orders(rows):
    return pd.DataFrame(rows, columns=["customer_id", "occurred_at", "amount"]).assign(
        occurred_at=lambda f: pd.to_datetime(f["occurred_at"], utc=True)
    )


def test_worked_example():
    # recency (days): 1, 6, 47, 122, 244 -> R 5, 4, 3, 2, 1
    # frequency: 3, 1, 2, 1, 1 -> the three 1s share the average rank 2 of 5 -> F 5, 2, 4, 2, 2
    # monetary: 300, 50, 1000, 20, 10 -> M 4, 3, 5, 2, 1
    # FM = round half up of (F + M) / 2: 5, 3, 5, 2, 2
    orders = _orders(
        [
            (1, "2025-01-30", 100.0),
            (1, "2025-01-20", 100.0),
            (1, "2025-01-10", 100.0),
            (2, "2025-01-25", 50.0),
            (3, "2024-12-15", 500.0),
            (3, "2024-12-01", 500.0),
            (4, "2024-10-01", 20.0),
            (5, "2024-06-01", 10.0),
        ]
    )
    scores = rfm_scores(orders, today=TODAY)

    np.testing.assert_allclose(scores["recency_days"], [1, 6, 47, 122, 244])
    assert scores["frequency"].tolist() == [3, 1, 2, 1, 1]
    np.testing.assert_allclose(scores["monetary"], [300, 50, 1000, 20, 10])
    assert scores["score"].tolist() == ["554", "423", "345", "222", "121"]
    assert scores["fm"].tolist() == [5, 3, 5, 2, 2]
    assert scores["group_name"].tolist() == [
        "Champions",
        "Potential Loyalists",
        "Loyal Customers",
        "Hibernating",
        "Lost",
    ]


def test_returns_reduce_monetary_and_can_change_the_score():
    orders = _orders([(1, "2025-01-30", 100.0), (2, "2025-01-30", 90.0)])
    scores = rfm_scores(orders, today=TODAY, returns=pd.Series({1: 60.0}))
    assert scores.loc[1, "monetary"] == 40.0
    assert scores.loc[1, "m"] < scores.loc[2, "m"]


def test_quintiles_cut_ten_distinct_values_into_pairs_and_ties_share_a_score():
    assert quintile_scores(pd.Series(range(10))).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores(pd.Series(range(10)), reverse=True).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert quintile_scores(pd.Series([7, 7, 7, 7])).nunique() == 1


def test_every_score_cell_has_a_group_and_all_eleven_groups_are_reachable():
    reached = {rfm_group(r, fm).name for r in range(1, 6) for fm in range(1, 6)}
    assert reached == {g.name for g in RFM_GROUPS}
    assert len(reached) == 11
    assert rfm_group(5, 1).name == "New Customers"
    assert rfm_group(1, 5).name == "Can't Lose Them"


def test_invoice_lines_drop_duplicates_and_count_cancellations_as_returns():
    lines = pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "536365", "C536379", "536380"],
            "StockCode": ["A", "A", "B", "A", "C"],
            "Quantity": [2, 2, 1, -1, 3],
            "InvoiceDate": ["12/1/2010 8:26"] * 3 + ["12/1/2010 9:41", "12/2/2010 9:00"],
            "UnitPrice": [10.0, 10.0, 5.0, 10.0, 1.0],
            "CustomerID": [17850.0, 17850.0, 17850.0, 17850.0, np.nan],
        }
    )
    orders, returns = orders_from_invoice_lines(lines)
    assert orders["customer_id"].tolist() == [17850]
    assert orders["amount"].tolist() == [25.0]  # the duplicate line counted once
    assert returns.to_dict() == {17850: 10.0}


@pytest.mark.dataset
def test_rfm_on_the_real_online_retail_file_covers_every_customer_with_purchases(online_retail_file):
    lines = pd.read_csv(online_retail_file, dtype={"InvoiceNo": str, "StockCode": str}, encoding="latin-1")
    orders, returns = orders_from_invoice_lines(lines)
    today = orders["occurred_at"].max() + pd.Timedelta(days=1)

    scores = rfm_scores(orders, today=today.to_pydatetime(), returns=returns)

    sizes = scores["group"].value_counts()
    buyers = orders["customer_id"].nunique()
    assert sizes.sum() == buyers == len(scores)
    assert 4300 <= buyers <= 4372  # 4,372 customers, a few of whom only ever cancelled
    assert set(scores[["r", "f", "m"]].stack().unique()) == {1, 2, 3, 4, 5}
    assert len(sizes) >= 9  # the standard groups are actually used on real data
