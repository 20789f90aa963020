"""Schemathesis against /api/schema/: every operation, generated requests with a valid key (all scopes, no
throttle), no 5xx, and every answer as the schema says (status codes, content types, bodies).

One test walks every operation, so the count of requests holds however the suite is split across workers.
Run on SQLite and on PostgreSQL (DATABASE_URL); marked slow.
"""

import math
from collections import Counter

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shop.services import create_api_client

MIN_REQUESTS = 1000
# Spread over the operations the schema has (at least this many each), with some margin above MIN_REQUESTS.
MIN_EXAMPLES_PER_OPERATION = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def keep_test_connection():
    """The app is called as a WSGI app, not through Django's test client: like the test client, keep it from
    closing the test's database connection (inside the test's transaction) at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def fuzz(operation, *, examples: int, key: str, statuses: Counter) -> None:
    """`examples` generated requests to one operation, each answer checked against the schema."""

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    def answers_as_documented(case):
        response = case.call(headers={"X-Api-Key": key})
        statuses[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)

    answers_as_documented()


@pytest.mark.slow
@pytest.mark.django_db
def test_api_answers_as_its_schema_says(settings, keep_test_connection):
    settings.RECOMMENDER_LOG_SERVED = False  # its background flush is not under test here
    # Read through the app itself (no server); the key has every scope and no practical rate limit.
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    _, key = create_api_client(name="fuzzer", throttle_rate="100000000/minute")
    statuses: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    examples = max(MIN_EXAMPLES_PER_OPERATION, math.ceil(MIN_REQUESTS * 1.1 / len(operations)))
    for operation in operations:
        fuzz(operation, examples=examples, key=key, statuses=statuses)

    total = sum(statuses.values())
    server_errors = {k: n for k, n in statuses.items() if k[1] >= 500}
    print(f"schema fuzz: {total} requests over {len(operations)} operations, {len(server_errors)} kinds of 5xx")
    assert total >= MIN_REQUESTS
    assert server_errors == {}
