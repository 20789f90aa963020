"""Customer features from small hand-made frames, and the preprocessing pipeline (no database)."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from segments.ml import features
from segments.ml.features import FeatureInputs, category_shares, customer_features, feature_matrix, resolve_features

AS_OF = datetime(2025, 12, 31, tzinfo=UTC)


def _inputs():
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "gender": ["f", "", "m"],
            "birth_year": [1990, None, 1960],
            "signed_up_at": pd.to_datetime(["2025-01-01", "2025-06-01", None], utc=True),
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 2],
            "order_key": ["a", "b", "c", "c", "d"],
            "occurred_at": pd.to_datetime(
                ["2025-12-01", "2025-12-11", "2025-12-21", "2025-12-21", "2025-07-04"], utc=True
            ),
            "amount": [100.0, 50.0, 150.0, 150.0, 40.0],
        }
    )
    activity = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "views": [30, 4, 12],
            "carts": [5, 1, 2],
            "purchases": [6, 1, 0],
            "returned_amount": [30.0, 0.0, 0.0],
            "view_seconds": [1800.0, 120.0, 600.0],
            "rating_mean": [4.5, None, None],
            "first_seen": pd.to_datetime(["2024-12-01", "2025-06-02", "2025-11-01"], utc=True),
        }
    )
    spend = pd.DataFrame(
        {"customer_id": [1, 1, 2], "category": ["Shoes", "Bags", "Shoes"], "amount": [200.0, 100.0, 40.0]}
    )
    return FeatureInputs(customers=customers, orders=orders, activity=activity, category_spend=spend)


def test_features_by_hand(monkeypatch):
    monkeypatch.setattr(features, "SHARE_PRIOR", 0.0)  # raw shares, no shrinkage
    f = customer_features(_inputs(), as_of=AS_OF)
    one = f.loc[1]
    assert one["frequency"] == 3  # the duplicated order row counted once
    assert one["recency_days"] == pytest.approx(10)
    assert one["monetary"] == pytest.approx(300 - 30)
    assert one["avg_order_value"] == pytest.approx(100)
    assert one["days_between_orders"] == pytest.approx(10)
    assert one["return_rate"] == pytest.approx(0.1)
    assert one["conversion"] == pytest.approx(6 / 30)
    assert one["browsing_minutes"] == pytest.approx(30)
    assert one["tenure_days"] == pytest.approx(395)  # first seen 2024-12-01, before sign-up
    assert one["age"] == 35
    assert one["share_Shoes"] == pytest.approx(2 / 3) and one["share_Bags"] == pytest.approx(1 / 3)
    # one order only: days between orders is censored at the time since it
    assert f.loc[2, "days_between_orders"] == pytest.approx(180)
    assert f.loc[2, "gender"] == "unknown"


def test_customers_without_purchases_are_kept_and_marked():
    f = customer_features(_inputs(), as_of=AS_OF)
    assert f["has_purchase"].tolist() == [True, True, False]
    assert np.isnan(f.loc[3, "recency_days"]) and f.loc[3, "monetary"] == 0


def test_pipeline_imputes_logs_and_scales_without_nans():
    f = customer_features(_inputs(), as_of=AS_OF)
    columns = resolve_features(f, None)
    assert "share_Shoes" in columns and "age" not in columns
    X = feature_matrix(f, columns)
    assert X.shape == (3, len(columns))
    assert np.isfinite(X).all()
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-9)


def test_pipeline_one_hot_encodes_gender_and_rejects_unknown_features():
    f = customer_features(_inputs(), as_of=AS_OF)
    assert feature_matrix(f, ["monetary", "gender"]).shape == (3, 1 + 3)
    with pytest.raises(ValueError, match="unknown feature 'spend'"):
        resolve_features(f, ["spend"])


def test_empty_shop_gives_an_empty_frame():
    empty = FeatureInputs(
        customers=pd.DataFrame(columns=["customer_id", "gender", "birth_year", "signed_up_at"]),
        orders=pd.DataFrame(columns=["customer_id", "order_key", "occurred_at", "amount"]),
        activity=pd.DataFrame(
            columns=[
                "customer_id",
                "views",
                "carts",
                "purchases",
                "returned_amount",
                "view_seconds",
                "rating_mean",
                "first_seen",
            ]
        ),
    )
    assert customer_features(empty, as_of=AS_OF).empty


def test_category_shares_of_short_histories_shrink_toward_the_shop_mix():
    spend = pd.DataFrame(
        {
            "customer_id": [1, 2, 2, 3],
            "category": ["Shoes", "Shoes", "Bags", "Bags"],
            "amount": [50.0, 500.0, 500.0, 50.0],
        }
    )
    raw = category_shares(spend, prior=0.0)
    shrunk = category_shares(spend, prior=1.0)
    assert raw.loc[1, "share_Shoes"] == 1.0
    assert 0.5 < shrunk.loc[1, "share_Shoes"] < 1.0  # one small basket: pulled toward the 50/50 mix
    assert shrunk.loc[2, "share_Shoes"] == pytest.approx(0.5)
    np.testing.assert_allclose(shrunk.sum(axis=1), 1.0)


def test_browsing_time_counts_each_view_for_at_most_an_hour():
    inputs = _inputs()
    inputs.activity.loc[inputs.activity["customer_id"] == 3, "view_seconds"] = 1e308 * 12  # overflowed: inf
    inputs.activity.loc[inputs.activity["customer_id"] == 2, "view_seconds"] = 1e308
    f = customer_features(inputs, as_of=AS_OF)
    assert f.loc[2, "browsing_minutes"] == pytest.approx(4 * 60)  # 4 views
    assert f.loc[3, "browsing_minutes"] == pytest.approx(12 * 60)
    assert f.loc[1, "browsing_minutes"] == pytest.approx(30)  # ordinary views untouched
    assert np.isfinite(feature_matrix(f, ["browsing_minutes", "views"])).all()


def test_category_shares_include_named_categories_outside_the_top():
    spend = _inputs().category_spend
    shares = category_shares(spend, top=1, prior=0.0, include=["Bags", "Hats"])
    assert list(shares.columns) == ["share_Shoes", "share_Bags", "share_Hats"]
    assert shares.loc[1, "share_Bags"] == pytest.approx(1 / 3)
    assert (shares["share_Hats"] == 0).all()


def test_a_customer_with_no_sign_up_date_and_no_events_has_zero_tenure():
    alone = FeatureInputs(
        customers=pd.DataFrame({"customer_id": [7], "gender": [""], "birth_year": [None], "signed_up_at": [None]}),
        orders=pd.DataFrame(columns=["customer_id", "order_key", "occurred_at", "amount"]),
        activity=pd.DataFrame(
            columns=[
                "customer_id",
                "views",
                "carts",
                "purchases",
                "returned_amount",
                "view_seconds",
                "rating_mean",
                "first_seen",
            ]
        ),
    )
    row = customer_features(alone, as_of=AS_OF).loc[7]
    assert row["tenure_days"] == 0.0 and row["frequency"] == 0.0
    assert np.isnan(row["recency_days"])
