"""Rule JSON: parsing, validation messages that name the bad condition, evaluation on a frame."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from segments.ml.rules import Condition, Group, RuleError, evaluate_rule, parse_rule, parse_rule_segments

FIELDS = {
    "country": "text",
    "monetary": "number",
    "frequency": "number",
    "last_purchase_at": "datetime",
    "is_stub": "bool",
}
TODAY = datetime(2025, 12, 31, tzinfo=UTC)


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "country": ["United Kingdom", "France", "United Kingdom", None],
            "monetary": [1500.0, 200.0, 50.0, np.nan],
            "frequency": [12, 3, 1, 0],
            "last_purchase_at": pd.to_datetime(["2025-12-20", "2025-06-01", "2025-12-30", None], utc=True),
            "is_stub": [False, False, True, False],
            "attributes.tier": ["gold", "silver", None, "gold"],
        },
        index=[10, 11, 12, 13],
    )


def select(rule, frame):
    mask = evaluate_rule(parse_rule(rule, fields=FIELDS), frame, today=TODAY)
    return frame.index[mask.to_numpy()].tolist()


def test_parses_nested_groups_into_a_tree():
    rule = parse_rule(
        {
            "all": [
                {"field": "country", "op": "=", "value": "France"},
                {"any": [{"field": "monetary", "op": "≥", "value": 1}]},
            ]
        },
        fields=FIELDS,
    )
    assert isinstance(rule, Group) and rule.combinator == "all"
    inner = rule.children[1]
    assert isinstance(inner, Group) and inner.combinator == "any"
    assert inner.children[0] == Condition(path="rule.all[1].any[0]", field="monetary", op="ge", value=1, type="number")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"all": [{"field": "country", "op": "=", "value": "UK"}, {"field": "monetry", "op": ">", "value": 5}]},
            "rule.all[1] (monetry > 5): unknown field 'monetry'",
        ),
        ({"any": [{"field": "monetary", "op": "~", "value": 5}]}, "rule.any[0] (monetary ~ 5): unknown operator '~'"),
        ({"field": "monetary", "op": ">", "value": "lots"}, "value must be a number"),
        ({"field": "country", "op": "<", "value": "UK"}, "operator '<' does not apply to text field 'country'"),
        ({"field": "monetary", "op": "between", "value": [10]}, "'between' needs a list of two values"),
        ({"field": "monetary", "op": "between", "value": [10, 1]}, "needs low ≤ high"),
        ({"field": "country", "op": "in", "value": []}, "'in' needs a non-empty list"),
        ({"field": "last_purchase_at", "op": "within_last_days", "value": -3}, "positive number of days"),
        ({"field": "last_purchase_at", "op": ">", "value": "not a date"}, "is not a date"),
        ({"all": []}, "rule.all: expected a non-empty list"),
        ({"all": [], "any": []}, "exactly one key"),
        ("__import__('os')", "expected an object"),
    ],
)
def test_validation_names_the_bad_condition(rule, message):
    with pytest.raises(RuleError) as excinfo:
        parse_rule(rule, fields=FIELDS)
    assert message in str(excinfo.value)


def test_operators(frame):
    assert select({"field": "country", "op": "=", "value": "United Kingdom"}, frame) == [10, 12]
    assert select({"field": "country", "op": "≠", "value": "United Kingdom"}, frame) == [11]  # unknown country: no
    assert select({"field": "monetary", "op": "<", "value": 200}, frame) == [12]
    assert select({"field": "monetary", "op": "≤", "value": 200}, frame) == [11, 12]
    assert select({"field": "monetary", "op": ">", "value": 200}, frame) == [10]
    assert select({"field": "monetary", "op": ">=", "value": 200}, frame) == [10, 11]
    assert select({"field": "frequency", "op": "in", "value": [1, 3]}, frame) == [11, 12]
    assert select({"field": "frequency", "op": "between", "value": [1, 12]}, frame) == [10, 11, 12]
    assert select({"field": "country", "op": "contains", "value": "kingdom"}, frame) == [10, 12]
    assert select({"field": "last_purchase_at", "op": "within_last_days", "value": 30}, frame) == [10, 12]
    assert select({"field": "last_purchase_at", "op": "<", "value": "2025-07-01"}, frame) == [11]
    assert select({"field": "is_stub", "op": "=", "value": True}, frame) == [12]
    assert select({"field": "attributes.tier", "op": "=", "value": "gold"}, frame) == [10, 13]


def test_and_or_nesting(frame):
    rule = {
        "any": [
            {
                "all": [
                    {"field": "country", "op": "=", "value": "United Kingdom"},
                    {"field": "monetary", "op": ">", "value": 1000},
                ]
            },
            {"field": "country", "op": "=", "value": "France"},
        ]
    }
    assert select(rule, frame) == [10, 11]


def test_rules_segmentation_needs_distinct_names():
    rules = {"segments": [{"name": "A", "rule": {"field": "frequency", "op": ">", "value": 1}}] * 2}
    with pytest.raises(RuleError, match="used twice"):
        parse_rule_segments(rules, fields=FIELDS)
    named = parse_rule_segments({"segments": rules["segments"][:1]}, fields=FIELDS)
    assert [name for name, _ in named] == ["A"]


def test_attributes_are_ordered_as_numbers_and_values_that_are_no_number_match_neither_side():
    # CSV imports store attributes as text: "5" is 5, "abc" and lists are unknown, never "high" or "low".
    scores = pd.DataFrame({"attributes.score": ["5", "30", "abc", 7, None, [40], True, " 25 "]}, index=range(8))
    low = select({"field": "attributes.score", "op": "<", "value": 25}, scores)
    high = select({"field": "attributes.score", "op": ">=", "value": 25}, scores)
    assert (low, high) == ([0, 3], [1, 7])
    assert select({"field": "attributes.score", "op": "between", "value": [5, 7]}, scores) == [0, 3]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"field": "attributes.score", "op": "between", "value": ["a", 3]},
            "rule (attributes.score between ['a', 3]): value must be a number",
        ),
        ({"field": "attributes.score", "op": "<", "value": "25"}, "rule (attributes.score < '25'): value must be"),
        (
            {"field": "last_purchase_at", "op": "within_last_days", "value": 1e12},
            "rule (last_purchase_at within_last_days 1000000000000.0): 'within the last N days' needs a positive "
            "number of days, at most 36500",
        ),
        ({"field": "last_purchase_at", "op": "within_last_days", "value": float("inf")}, "at most 36500"),
    ],
)
def test_values_that_would_crash_a_run_are_refused_naming_the_condition(rule, message):
    with pytest.raises(RuleError) as excinfo:
        parse_rule(rule, fields=FIELDS)
    assert message in str(excinfo.value)


def test_the_longest_window_allowed_evaluates(frame):
    assert select({"field": "last_purchase_at", "op": "within_last_days", "value": 36_500}, frame) == [10, 11, 12]
