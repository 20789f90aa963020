"""The demo shop generator (pure, no database): determinism, valid events, personas that behave as described."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from shop.demo_data import HISTORY_DAYS, KINDS, PERSONA_SLUGS, generate_shop

# Tests pin the end of the history; the generator's default is the moment it runs.
HISTORY_END = pd.Timestamp("2026-01-01", tz="UTC")


@pytest.fixture(scope="module")
def shop():
    return generate_shop(customers=2000, seed=7, end=HISTORY_END)


@pytest.fixture(scope="module")
def lines(shop):
    return shop.interactions_with_keys()


def test_same_seed_gives_the_same_shop():
    first, second = (
        generate_shop(customers=300, seed=3, end=HISTORY_END),
        generate_shop(customers=300, seed=3, end=HISTORY_END),
    )
    for name in ("categories", "products", "customers", "interactions"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_the_history_ends_now_by_default_and_another_end_shifts_every_time():
    before = pd.Timestamp.now(tz="UTC").floor("s")
    live = generate_shop(customers=300, seed=3)
    after = pd.Timestamp.now(tz="UTC")
    assert before <= live.end <= after
    assert live.interactions["occurred_at"].max() < live.end
    assert live.interactions["occurred_at"].max() > live.end - timedelta(days=2)  # the shop is alive today
    pinned = generate_shop(customers=300, seed=3, end=HISTORY_END)
    shift = live.end - HISTORY_END
    pd.testing.assert_series_equal(live.interactions["occurred_at"] - shift, pinned.interactions["occurred_at"])
    pd.testing.assert_series_equal(live.customers["signed_up_at"] - shift, pinned.customers["signed_up_at"])
    pd.testing.assert_frame_equal(
        live.interactions.drop(columns="occurred_at"), pinned.interactions.drop(columns="occurred_at")
    )


def test_another_seed_gives_another_shop():
    first, second = (
        generate_shop(customers=300, seed=3, end=HISTORY_END),
        generate_shop(customers=300, seed=4, end=HISTORY_END),
    )
    assert not first.customers["persona"].equals(second.customers["persona"])
    assert not first.products["price"].equals(second.products["price"])
    assert len(first.interactions) != len(second.interactions) or not first.interactions.equals(second.interactions)
    # Keys carry the seed, so two seeds can live in one database.
    assert set(first.customers["external_id"]).isdisjoint(second.customers["external_id"])
    assert set(first.products["sku"]).isdisjoint(second.products["sku"])


@pytest.mark.parametrize("customers", [5, 40, 2000])
def test_every_persona_is_present(customers):
    personas = generate_shop(customers=customers, seed=1, end=HISTORY_END).customers["persona"]
    assert set(personas) == set(PERSONA_SLUGS)


def test_keys_are_unique_and_well_formed(shop, lines):
    assert shop.customers["external_id"].is_unique
    assert shop.products["sku"].is_unique
    assert shop.categories["code"].is_unique
    assert lines["event_id"].is_unique
    assert lines["event_id"].iloc[0] == "demo-7-00000001"
    assert lines["event_id"].is_monotonic_increasing


@pytest.mark.parametrize("customers", [2000, 100_000])
def test_every_product_has_its_own_name(customers):
    # Brand, adjective and noun drawn at random repeat (four "Various Value Keyring" in the 5,000-customer demo);
    # a storefront or an e-mail listing two products under one name reads as a mistake.
    names = generate_shop(customers=customers, seed=42, end=HISTORY_END).products["name"]
    assert names.is_unique
    assert names.str.endswith(", Charcoal").any()  # the second of a repeated name, told apart by a finish


def test_catalog_has_a_hierarchy_fees_and_unavailable_products(shop):
    categories = shop.categories
    assert 8 <= len(categories) <= 16
    assert set(categories["parent"].dropna()) <= set(categories["code"])
    assert categories["parent"].notna().sum() >= 5
    products = shop.products
    assert 300 <= len(products) <= 400  # 300 + customers / 100, plus the fees
    fees = products[~products["is_merchandise"]]
    assert {"Postage & packing", "Gift wrapping"} <= set(fees["name"])
    assert fees["category"].isna().all()
    merchandise = products[products["is_merchandise"]]
    assert (merchandise["stock"] == 0).sum() > 0
    assert (~merchandise["is_active"]).sum() > 0
    assert (products["price"] > 0).all()
    # Outlet products are cheaper than computing ones.
    medians = merchandise.groupby("category")["price"].median()
    assert medians["outlet"] < medians["books"] < medians["computing"]


def test_product_catalog_grows_gently_with_customers():
    assert len(generate_shop(customers=20_000, seed=1, end=HISTORY_END).products) == 300 + 200 + 3


def test_customers_look_real(shop):
    customers = shop.customers
    assert customers["email"].str.match(r"^[a-z.\-]+\d+@example\.(com|org|net)$").all()
    assert set(customers["gender"]) <= {"f", "m", "o", ""}
    years = customers["birth_year"].dropna()
    assert years.between(1935, 2007).all()
    assert 0.6 < customers["email_consent"].mean() < 0.95
    assert customers["sms_consent"].mean() < customers["email_consent"].mean()
    assert (customers["signed_up_at"] < HISTORY_END).all()


def test_interactions_satisfy_the_model_constraints(shop):
    events = shop.interactions
    assert set(events["kind"].cat.categories) == set(KINDS)
    ratings = events[events["kind"] == "rating"]
    assert ratings["value"].notna().all() and ratings["value"].between(0.5, 5).all()
    baskets = events[events["kind"].isin(["purchase", "return", "cart"])]
    assert (baskets["quantity"] > 0).all()
    assert (events["amount"].dropna() >= 0).all()
    views = events[events["kind"] == "view"]
    assert (views["value"].dropna() >= 0).all()
    purchases_and_returns = events[events["kind"].isin(["purchase", "return"])]
    assert purchases_and_returns["amount"].notna().all()
    assert (purchases_and_returns["order"] >= 0).all()
    assert (events.loc[~events["kind"].isin(["purchase", "return"]), "order"] == -1).all()


def test_events_fall_within_the_year_and_after_signup(shop):
    events = shop.interactions
    assert events["occurred_at"].max() < HISTORY_END
    assert events["occurred_at"].min() >= HISTORY_END - timedelta(days=HISTORY_DAYS + 1)
    signed_up = shop.customers["signed_up_at"].to_numpy()[events["customer"].to_numpy()]
    assert (events["occurred_at"].to_numpy() >= signed_up).all()


def test_returns_and_ratings_follow_a_purchase_of_the_same_product(lines):
    purchases = lines[lines["kind"] == "purchase"].set_index(["order_ref", "sku"])["occurred_at"]
    returns = lines[lines["kind"] == "return"]
    bought_at = purchases.reindex(pd.MultiIndex.from_frame(returns[["order_ref", "sku"]]))
    assert bought_at.notna().all()
    assert (returns["occurred_at"].to_numpy() > bought_at.to_numpy()).all()
    first_purchase = lines[lines["kind"] == "purchase"].groupby(["external_id", "sku"])["occurred_at"].min()
    ratings = lines[lines["kind"] == "rating"]
    rated_after = first_purchase.reindex(pd.MultiIndex.from_frame(ratings[["external_id", "sku"]]))
    assert (ratings["occurred_at"].to_numpy() > rated_after.to_numpy()).all()


def test_fees_are_only_ever_purchased(lines, shop):
    fee_skus = set(shop.products.loc[~shop.products["is_merchandise"], "sku"])
    fee_lines = lines[lines["sku"].isin(fee_skus)]
    assert len(fee_lines) > 0
    assert set(fee_lines["kind"]) == {"purchase"}
    # Postage is charged on small orders only.
    postage = fee_lines[fee_lines["sku"].str.endswith("POSTAGE")]["order_ref"]
    merchandise = lines[(lines["kind"] == "purchase") & ~lines["sku"].isin(fee_skus)]
    order_totals = merchandise.groupby("order_ref")["amount"].sum()
    assert (order_totals.reindex(postage) < 30).all()


def test_bundles_are_bought_together(shop, lines):
    """Baskets have real co-purchase structure: the most frequent pairs occur far more than chance predicts."""
    baskets = lines[(lines["kind"] == "purchase") & lines["category"].notna()][["order_ref", "sku"]]
    pairs = baskets.merge(baskets, on="order_ref")
    pairs = pairs[pairs["sku_x"] < pairs["sku_y"]]
    pair_counts = pairs.groupby(["sku_x", "sku_y"]).size().sort_values(ascending=False)
    orders = baskets["order_ref"].nunique()
    item_orders = baskets.groupby("sku")["order_ref"].nunique()
    top = pair_counts.head(20)
    expected = np.array([item_orders[a] * item_orders[b] / orders for a, b in top.index])
    assert np.median(top.to_numpy() / expected) > 5
    # ...and they are the bundles the generator planted.
    products = shop.products
    sku = products["sku"].to_numpy()
    partners = {
        (sku[i], sku[j])
        for i, row in products.iterrows()
        for j in row[["bundle_partner_a", "bundle_partner_b"]]
        if j >= 0
    }
    planted = sum((a, b) in partners or (b, a) in partners for a, b in top.index)
    assert planted >= 15


def persona_table(shop) -> pd.DataFrame:
    """A few plain behaviour figures per customer, to check the personas are what their names say."""
    events = shop.interactions
    n = len(shop.customers)
    idx = pd.RangeIndex(n)
    by_kind = events.groupby(["customer", "kind"], observed=False).size().unstack(fill_value=0).reindex(idx)
    purchases = events[events["kind"] == "purchase"]
    days_since = (HISTORY_END - purchases["occurred_at"]).dt.days
    table = pd.DataFrame(
        {
            "persona": shop.customers["persona"].astype(str),
            "orders": purchases.groupby("customer")["order"].nunique().reindex(idx, fill_value=0),
            "spend": purchases.groupby("customer")["amount"].sum().reindex(idx, fill_value=0),
            "recency": days_since.groupby(purchases["customer"]).min().reindex(idx),
            "tenure": (HISTORY_END - shop.customers["signed_up_at"]).dt.days,
            "views": by_kind["view"].fillna(0),
            "purchases": by_kind["purchase"].fillna(0),
        }
    )
    table["aov"] = table["spend"] / table["orders"].replace(0, np.nan)
    return table


def test_personas_behave_as_named(shop):
    table = persona_table(shop)
    means = table.groupby("persona").mean(numeric_only=True)
    lapsed = table[table["persona"] == "lapsed"]
    assert lapsed["orders"].min() >= 2 and lapsed["recency"].min() >= 180  # bought, then nothing for 6+ months
    new = table[table["persona"] == "new_customer"]
    assert new["tenure"].max() <= 60 and new["orders"].between(1, 2).all()
    assert means.loc["loyal_big_spender", "aov"] > 3 * means.loc["bargain_hunter", "aov"]
    assert means.loc["loyal_big_spender", "spend"] == means["spend"].max()
    assert means.loc["bargain_hunter", "orders"] > 2 * means.loc["lapsed", "orders"] / 1.5
    assert means.loc["bargain_hunter", "aov"] == means["aov"].min()
    browsers = table[table["persona"] == "browser"]
    assert browsers["views"].mean() > 2 * table.loc[table["persona"] != "browser", "views"].median()
    assert (browsers["orders"] <= 1).all() and browsers["orders"].mean() < 0.35
    # About 20 interactions per customer, so 100,000 customers make about 2 million.
    assert 17 <= len(shop.interactions) / len(shop.customers) <= 27


def rfm_features(shop) -> pd.DataFrame:
    """Ordinary RFM-style features, as a segmentation would compute them from the shop's events."""
    events = shop.interactions
    products = shop.products
    idx = pd.RangeIndex(len(shop.customers))
    kind = events["kind"]
    purchases = events[kind == "purchase"]
    gross = purchases.groupby("customer")["amount"].sum().reindex(idx, fill_value=0)
    returned = events[kind == "return"].groupby("customer")["amount"].sum().reindex(idx, fill_value=0)
    orders = purchases.groupby("customer")["order"].nunique().reindex(idx, fill_value=0)
    counts = events.groupby(["customer", "kind"], observed=False).size().unstack(fill_value=0).reindex(idx).fillna(0)
    last_purchase = (HISTORY_END - purchases["occurred_at"]).dt.days.groupby(purchases["customer"]).min()
    features = pd.DataFrame(
        {
            "recency": last_purchase.reindex(idx).fillna(HISTORY_DAYS + 30),
            "frequency": orders,
            "monetary": (gross - returned).clip(lower=0),
            "aov": (gross / orders.replace(0, np.nan)).fillna(0),
            "tenure": (HISTORY_END - shop.customers["signed_up_at"]).dt.days,
            "return_rate": (returned / gross.replace(0, np.nan)).fillna(0),
            "views": counts["view"],
            "carts": counts["cart"],
            "purchases": counts["purchase"],
            "conversion": counts["purchase"] / (counts["view"] + 1),
        }
    )
    features = np.log1p(features)
    category = products["category"].to_numpy()[purchases["product"].to_numpy()]
    spend = purchases.assign(category=category).dropna(subset=["category"])
    shares = spend.pivot_table(index="customer", columns="category", values="amount", aggfunc="sum", observed=True)
    shares = shares.reindex(idx).fillna(0)
    shares = shares.div(shares.sum(axis=1).replace(0, 1), axis=0)
    return pd.concat([features, shares.add_prefix("share_")], axis=1)


@pytest.mark.parametrize("seed", [1, 2])
def test_kmeans_on_rfm_features_recovers_the_personas(seed):
    """The segments issue's bar: K-means on 5,000 demo customers finds the personas with ARI >= 0.8."""
    shop = generate_shop(customers=5000, seed=seed, end=HISTORY_END)
    scaled = StandardScaler().fit_transform(rfm_features(shop))
    labels = KMeans(n_clusters=len(PERSONA_SLUGS), n_init=10, random_state=0).fit_predict(scaled)
    assert adjusted_rand_score(shop.customers["persona"].cat.codes, labels) >= 0.8
