"""Running segmentations against a small shop built with factories."""

import pytest
from django.core.exceptions import ValidationError

from segments import selectors, services
from segments.models import Membership, RunStatus, Segment, SegmentationDefinition, SegmentationRun
from tests.segments.factories import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return build_shop()


def _ids(customers):
    return {c.pk for c in customers}


def _members(run, key):
    return set(selectors.segment_member_ids(segment_id=run.segments.get(key=key).pk))


def test_kmeans_run_finds_the_two_kinds_of_buyers_and_switches_the_active_run(shop):
    definition = services.segmentation_definition_create(name="Behaviour", method="kmeans")
    run = services.segmentation_run(definition=definition)

    assert run.status == RunStatus.SUCCEEDED, run.error
    definition.refresh_from_db()
    assert definition.active_run_id == run.pk
    assert run.metrics["k"] == 2 and set(run.metrics["silhouette_by_k"]) == {str(k) for k in range(2, 11)}
    for key in ("silhouette", "davies_bouldin", "calinski_harabasz", "inertia"):
        assert isinstance(run.metrics[key], float)
    assert run.customers_seen == 70 and run.progress == 100
    assert {"read", "features", "model", "profiles", "write", "total"} <= set(run.timings)
    groups = [set(selectors.segment_member_ids(segment_id=s.pk)) for s in run.segments.exclude(key="no_purchases")]
    assert sorted(groups, key=len) == sorted(
        [_ids(shop["customers"]["big"]), _ids(shop["customers"]["small"])], key=len
    )
    assert _members(run, "no_purchases") == _ids(shop["customers"]["browser"])

    segments = {s.key: s for s in run.segments.all()}
    assert segments["no_purchases"].name == "No purchases yet"
    assert segments["no_purchases"].description.startswith("never bought; browsing minutes 13 (all customers: 5.2)")
    big = next(s for s in segments.values() if s.key != "no_purchases" and s.profile["features"]["monetary"]["z"] > 0)
    assert "cluster" not in big.name.lower() and big.description
    assert big.size == 30 and big.share == pytest.approx(30 / 70, abs=1e-4)
    assert big.profile["revenue_share"] > 0.9
    assert big.profile["top_categories"][0]["category"] == "Gadgets"
    assert big.profile["top_products"][0]["sku"].startswith("A")
    # postage is revenue but never a feature
    assert not any("Postage" in c for c in big.profile["features"])


def test_customers_without_purchases_can_be_left_out(shop):
    definition = services.segmentation_definition_create(
        name="B", method="kmeans", no_purchase_policy="exclude", parameters={"k": 2}
    )
    run = services.segmentation_run(definition=definition)
    assert not run.segments.filter(key="no_purchases").exists()
    assert Membership.objects.filter(segment__run=run).count() == 60


def test_rfm_run_covers_every_buyer_once(shop):
    definition = services.segmentation_definition_create(name="RFM", method="rfm", no_purchase_policy="exclude")
    run = services.segmentation_run(definition=definition)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sum(s.size for s in run.segments.all()) == 60
    champions = run.segments.get(key="champions")
    assert champions.name == "Champions" and champions.profile["rfm_rule"]["r"] == "4–5"
    assert _members(run, "champions") <= _ids(shop["customers"]["big"])


def test_dbscan_run_produces_clusters_and_names(shop):
    definition = services.segmentation_definition_create(name="D", method="dbscan", parameters={"min_samples": 5})
    run = services.segmentation_run(definition=definition)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.metrics["eps"] > 0 and 0 <= run.metrics["noise_share"] < 1
    names = [s.name for s in run.segments.all()]
    assert len(names) == len(set(names))


RULES = {
    "segments": [
        {
            "name": "UK big spenders",
            "rule": {
                "all": [{"field": "monetary", "op": ">", "value": 500}, {"field": "country", "op": "=", "value": "UK"}]
            },
        },
        {"name": "Long gone", "rule": {"field": "recency_days", "op": ">", "value": 150}},
        {"name": "Browsers", "rule": {"field": "attributes.persona", "op": "in", "value": ["browser"]}},
    ]
}


def test_rules_run_first_match_wins_in_the_database_or_on_features(shop):
    definition = services.segmentation_definition_create(name="R", method="rules", parameters=RULES)
    run = services.segmentation_run(definition=definition)
    assert run.status == RunStatus.SUCCEEDED, run.error
    uk_big = {c.pk for c in shop["customers"]["big"] if c.country == "UK"}
    assert _members(run, "rule_1") == uk_big
    assert _members(run, "rule_2") == _ids(shop["customers"]["small"])
    assert _members(run, "rule_3") == _ids(shop["customers"]["browser"])
    profiles = {s.key: s.profile for s in run.segments.all()}
    assert profiles["rule_1"]["evaluated_in"] == "database"
    assert profiles["rule_2"]["evaluated_in"] == "pandas"  # recency_days is a derived feature
    assert run.segments.get(key="rule_1").name == "UK big spenders"


def test_database_and_pandas_evaluation_agree(shop):
    from segments.ml.rules import evaluate_rule, parse_rule
    from segments.rules import customers_matching, rule_fields

    rule = parse_rule(
        {
            "any": [
                {
                    "all": [
                        {"field": "frequency", "op": "≥", "value": 9},
                        {"field": "country", "op": "≠", "value": "FR"},
                    ]
                },
                {"field": "last_purchase_at", "op": "<", "value": "2025-05-01"},
                {"field": "views", "op": "between", "value": [25, 30]},
            ]
        },
        fields=rule_fields(),
    )
    as_of = selectors.latest_event_time()
    in_db = set(customers_matching(rule, as_of=as_of))
    from segments.ml.features import customer_features

    frame = customer_features(selectors.feature_inputs(), as_of=as_of).join(
        selectors.customer_frame(fields=["country"])
    )
    in_pandas = set(frame.index[evaluate_rule(rule, frame, today=as_of).to_numpy()])
    assert in_db == in_pandas and in_db


def test_invalid_rules_are_refused_on_save_naming_the_condition():
    bad = {
        "segments": [
            {
                "name": "X",
                "rule": {
                    "all": [{"field": "monetary", "op": ">", "value": 1}, {"field": "bogus", "op": "=", "value": 1}]
                },
            }
        ]
    }
    with pytest.raises(ValidationError) as excinfo:
        services.segmentation_definition_create(name="bad", method="rules", parameters=bad)
    assert "segments[0] (X).all[1] (bogus = 1): unknown field 'bogus'" in str(excinfo.value)


def test_static_list(shop):
    wanted = [c.external_id for c in shop["customers"]["small"][:5]] + ["nobody"]
    definition = services.segmentation_definition_create(
        name="Press list", method="static", parameters={"external_ids": wanted}
    )
    run = services.segmentation_run(definition=definition)
    segment = run.segments.get()
    assert segment.name == "Press list" and segment.size == 5
    assert run.metrics["unknown_ids"] == 1


def test_a_failing_run_keeps_the_previous_active_run(shop, monkeypatch):
    definition = services.segmentation_definition_create(name="K", method="kmeans", parameters={"k": 2})
    good = services.segmentation_run(definition=definition)

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("segments.ml.clustering.fit_kmeans", broken)
    failed = services.segmentation_run(definition=definition)

    assert failed.status == RunStatus.FAILED
    assert "RuntimeError: out of memory" in failed.error
    definition.refresh_from_db()
    assert definition.active_run_id == good.pk
    assert not failed.segments.exists()
    assert selectors.customer_segments(customer_id=shop["customers"]["big"][0].pk)[0].run_id == good.pk


def test_only_one_run_in_progress_per_definition(shop):
    definition = services.segmentation_definition_create(name="K", method="kmeans")
    services.segmentation_run_create(definition=definition)
    with pytest.raises(ValidationError, match="already has a run queued or running"):
        services.segmentation_run_create(definition=definition)


def test_renames_carry_over_and_movement_is_recorded(shop):
    definition = services.segmentation_definition_create(name="K", method="kmeans", parameters={"k": 2})
    first = services.segmentation_run(definition=definition)
    big_id = shop["customers"]["big"][0].pk
    big_segment = Segment.objects.get(run=first, memberships__customer_id=big_id)
    services.segment_rename(segment=big_segment, name="Our best friends")

    second = services.segmentation_run(definition=definition)

    successor = Segment.objects.get(run=second, memberships__customer_id=big_id)
    assert successor.name == "Our best friends" and successor.name_is_custom
    assert second.metrics["ari_previous"] == 1.0
    assert second.previous_run_id == first.pk
    moved = {(m["from"], m["to"]): m["customers"] for m in second.movement}
    assert moved[(big_segment.pk, successor.pk)] == 30
    assert sum(moved.values()) == 70


def test_run_ids_are_kept_per_definition(shop):
    definition = services.segmentation_definition_create(name="K", method="rfm")
    services.segmentation_run(definition=definition)
    services.segmentation_run(definition=definition)
    assert SegmentationRun.objects.filter(definition=definition, status=RunStatus.SUCCEEDED).count() == 2
    assert (
        SegmentationDefinition.objects.get(pk=definition.pk).active_run
        == SegmentationRun.objects.filter(definition=definition).first()
    )


def test_feature_inputs_count_purchases_without_an_order_reference_as_orders_of_their_own():
    from datetime import UTC, datetime
    from decimal import Decimal

    from segments.ml.features import customer_features
    from tests.factories import CustomerFactory, PurchaseFactory

    customer = CustomerFactory()
    for day, amount in ((1, "10.00"), (5, "15.00")):
        PurchaseFactory(
            customer=customer, order_ref="", amount=Decimal(amount), occurred_at=datetime(2025, 6, day, tzinfo=UTC)
        )
    PurchaseFactory(
        customer=customer, order_ref="X1", amount=Decimal("5.00"), occurred_at=datetime(2025, 6, 9, tzinfo=UTC)
    )
    PurchaseFactory(
        customer=customer, order_ref="X1", amount=Decimal("5.00"), occurred_at=datetime(2025, 6, 9, tzinfo=UTC)
    )

    features = customer_features(selectors.feature_inputs(), as_of=datetime(2025, 6, 10, tzinfo=UTC))

    row = features.loc[customer.pk]
    assert row["frequency"] == 3 and row["monetary"] == pytest.approx(35.0)
    assert row["recency_days"] == pytest.approx(1.0) and row["days_between_orders"] == pytest.approx(4.0)


def test_top_products_are_estimated_from_a_sample_of_members(shop):
    big = [c.pk for c in shop["customers"]["big"]]
    full = selectors.top_products_by_segment(members={"big": big}, limit=3)
    sampled = selectors.top_products_by_segment(members={"big": big}, limit=3, sample=10)
    assert [p["sku"][0] for p in full["big"]] == ["A", "A", "A"]
    assert all(p["buyers"] <= 10 for p in sampled["big"])
    assert all(0 < p["share_of_members"] <= 1 for p in sampled["big"] + full["big"])


SCORE_RULES = {
    "segments": [
        {"name": "Low", "rule": {"field": "attributes.score", "op": "<", "value": 25}},
        {"name": "High", "rule": {"field": "attributes.score", "op": ">=", "value": 25}},
    ]
}


def test_numeric_rules_on_imported_text_attributes_compare_numbers():
    from tests.factories import CustomerFactory

    low, high, _ = (CustomerFactory(attributes={"score": score}) for score in ("5", "30", "abc"))
    definition = services.segmentation_definition_create(name="Scores", method="rules", parameters=SCORE_RULES)

    run = services.segmentation_run(definition=definition)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert _members(run, "rule_1") == {low.pk} and _members(run, "rule_2") == {high.pk}  # "abc": neither
    assert run.segments.get(key="rule_1").profile["evaluated_in"] == "pandas"


def test_category_shares_outside_the_top_and_unknown_categories_are_evaluated_not_crashed(shop):
    from segments.ml.features import customer_features

    rules = {
        "top_categories": 1,  # only Gadgets is a feature column: Books is computed for the rule
        "segments": [
            {"name": "Ghost", "rule": {"field": "share_NoSuchCategory", "op": ">", "value": 0}},
            {"name": "Readers", "rule": {"field": "share_Books", "op": ">", "value": 0.005}},
        ],
    }
    definition = services.segmentation_definition_create(name="Shares", method="rules", parameters=rules)

    run = services.segmentation_run(definition=definition)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert not run.segments.filter(key="rule_1").exists()  # nobody has a share of a category that does not exist
    features = customer_features(selectors.feature_inputs(), as_of=selectors.latest_event_time())
    expected = set(features.index[features["share_Books"] > 0.005])
    assert expected and _members(run, "rule_2") == expected


def test_kmeans_with_more_segments_than_buyers_fails_saying_so():
    build_shop(big=2, small=2, browsers=3)
    definition = services.segmentation_definition_create(name="Too many", method="kmeans", parameters={"k": 5})

    run = services.segmentation_run(definition=definition)

    assert run.status == RunStatus.FAILED
    assert run.error.startswith("ValueError: k=5 segments asked for, but there are only 4 customers")
    assert not run.segments.exists()


def test_long_view_durations_count_an_hour_each_in_features_and_descriptions(shop):
    from tests.factories import InteractionFactory

    browser = shop["customers"]["browser"][0]
    views = browser.interactions.filter(kind="view").count()
    # A tab left open all day: the longest view the shop stores (the database refuses more than a day).
    InteractionFactory(customer=browser, product=shop["products"][0], kind="view", value=86_400)
    InteractionFactory(customer=browser, product=shop["products"][0], kind="view", value=86_400)
    definition = services.segmentation_definition_create(name="K", method="kmeans", parameters={"k": 2})

    run = services.segmentation_run(definition=definition)

    assert run.status == RunStatus.SUCCEEDED, run.error
    features = selectors.feature_inputs().activity.set_index("customer_id")
    assert features.loc[browser.pk, "view_seconds"] == pytest.approx(views * 30 + 2 * 3600)
    no_purchases = run.segments.get(key="no_purchases")
    assert no_purchases.profile["features"]["browsing_minutes"]["mean"] < 60
    assert max(len(word) for word in no_purchases.description.split()) < 12
