"""Rules on imported (text) attributes give the same segments on PostgreSQL as on SQLite."""

import pytest

from segments import selectors, services
from segments.models import RunStatus
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SCORE_RULES = {
    "segments": [
        {"name": "Low", "rule": {"field": "attributes.score", "op": "<", "value": 25}},
        {"name": "High", "rule": {"field": "attributes.score", "op": ">=", "value": 25}},
        {"name": "Middling", "rule": {"field": "attributes.score", "op": "between", "value": [1, 100]}},
    ]
}


def _members(run, key):
    segment = run.segments.filter(key=key).first()
    return set(selectors.segment_member_ids(segment_id=segment.pk)) if segment else set()


def test_numeric_rules_on_text_attributes_compare_numbers_on_postgres():
    # jsonb orders every string below every number: compared in SQL, "5", "30" and "abc" were all "Low".
    low, high, _ = (CustomerFactory(attributes={"score": score}) for score in ("5", "30", "abc"))
    number = CustomerFactory(attributes={"score": 50})
    definition = services.segmentation_definition_create(name="Scores", method="rules", parameters=SCORE_RULES)

    run = services.segmentation_run(definition=definition)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert _members(run, "rule_1") == {low.pk}
    assert _members(run, "rule_2") == {high.pk, number.pk}
    assert _members(run, "rule_3") == set()  # first match wins: "abc" is in no segment
