"""The rule language as text: read into the stored JSON, written back, and mistakes named by position."""

import pytest

from segments.ml.rule_text import RuleTextError, rule_from_text, rule_to_text
from segments.ml.rules import parse_rule

FIELDS = {"monetary": "number", "frequency": "number", "country": "text", "last_purchase_at": "datetime"}


def test_text_reads_into_the_stored_rule_with_and_binding_tighter_than_or():
    rule = rule_from_text(
        'monetary > 100 and (country = "United Kingdom" or frequency between 5 and 20) or '
        "last_purchase_at within the last 90 days"
    )
    assert rule == {
        "any": [
            {
                "all": [
                    {"field": "monetary", "op": ">", "value": 100},
                    {
                        "any": [
                            {"field": "country", "op": "=", "value": "United Kingdom"},
                            {"field": "frequency", "op": "between", "value": [5, 20]},
                        ]
                    },
                ]
            },
            {"field": "last_purchase_at", "op": "within_last_days", "value": 90},
        ]
    }
    parse_rule(rule, fields=FIELDS)  # what the text gives is a valid stored rule


@pytest.mark.parametrize(
    "rule",
    [
        {"field": "monetary", "op": ">", "value": 100.5},
        {
            "all": [
                {"field": "country", "op": "in", "value": ["DE", "AT"]},
                {"field": "attributes.vip", "op": "=", "value": True},
            ]
        },
        {
            "any": [
                {
                    "all": [
                        {"field": "monetary", "op": "<=", "value": 5},
                        {"field": "frequency", "op": "!=", "value": 2},
                    ]
                },
                {"field": "last_purchase_at", "op": "within_last_days", "value": 30},
            ]
        },
        {"field": "country", "op": "contains", "value": 'say "hi"'},
    ],
)
def test_a_stored_rule_written_as_text_reads_back_the_same(rule):
    text = rule_to_text(rule)
    assert "{" not in text
    assert rule_from_text(text) == rule


def test_blank_text_is_no_rule_and_no_rule_is_blank_text():
    assert rule_from_text("  ") == {}
    assert rule_to_text({}) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("monetary 100", "Character 10, at '100': expected an operator after 'monetary'"),
        ("monetary >", "At the end of the rule: expected a value"),
        ("(monetary > 1", "expected ')' to close the '('"),
        ("monetary > 1 frequency > 2", "Character 14, at 'frequency': expected 'and', 'or' or the end of the rule"),
        ("frequency between 1 or 2", "expected 'and' between the two bounds"),
        ("country in DE", "expected a list in brackets"),
    ],
)
def test_a_mistake_names_where_it_is_and_what_was_expected(text, message):
    with pytest.raises(RuleTextError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rule_from_text(text)
