"""No query per row: each staff page makes the same pinned number of queries for a small shop and for one with
three times the customers, segment members, models and jobs. Counted on a warm request (the first fills the
recommender's in-process catalog); session and user lookups included."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.staff.data import build_shop

pytestmark = pytest.mark.django_db

PINNED = {
    # Trends and totals from the daily counts (watermarks, newest ids, days, customers); uplifts from the campaigns'
    # stored summaries.
    "dashboard": 15,
    "segmentations": 4,
    "rfm-run": 5,  # the suggestions come from the cache on a warm request (here and on the report list)
    "customer": 14,  # its features computed by the segmentations' own code: four aggregate queries
    "models": 4,
    "jobs": 6,  # and the schedules' next runs
    "job-status": 5,
    "jobs-live": 5,
    "km-run": 5,
    "reports": 5,  # the campaigns' counts from their stored summaries
    "report": 4,  # its report, funnel, revenue per day and power inputs from its stored summary
}


@pytest.fixture
def staff(client, django_user_model, settings, tmp_path):
    from recommender.serving import engine

    settings.MEDIA_ROOT = tmp_path
    settings.RECOMMENDER_LOG_SERVED = False
    settings.RECOMMENDER_REFRESH_SECONDS = 3600
    settings.RECOMMENDER_CATALOG_REFRESH_SECONDS = 3600
    engine.reset()
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    yield client
    engine.reset()


@pytest.mark.parametrize("scale", [1, 3])
def test_query_counts_are_pinned_and_do_not_grow_with_rows(staff, scale, django_assert_num_queries):
    shop = build_shop(scale=scale)
    urls = {
        "dashboard": reverse("staff:dashboard"),
        "segmentations": reverse("staff:segmentations"),
        "rfm-run": reverse("staff:segmentation-run", args=[shop["rfm_run"].pk]),
        "customer": reverse("staff:customer", args=["s0"]),
        "models": reverse("staff:models"),
        "jobs": reverse("staff:jobs"),
        "job-status": reverse("staff:job-status"),
        "jobs-live": reverse("staff:jobs-live"),
        "km-run": reverse("staff:segmentation-run", args=[shop["km_run"].pk]),
        "reports": reverse("marketing-reports:list"),
        "report": reverse("marketing-reports:detail", args=[shop["campaign"].pk]),
    }
    measured = {}
    for name, url in urls.items():
        assert staff.get(url).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            assert staff.get(url).status_code == 200
        measured[name] = len(queries)
    assert measured == PINNED
    cache.clear()
    # Cold: the pages read the stored summaries as on a warm request; the suggestions (on the report list and the
    # explorer of an active run) are worked out again from stored figures: segments, measured campaigns, summaries.
    cold_extra = {"dashboard": 0, "report": 0, "reports": 3, "rfm-run": 3, "km-run": 3}
    for name, extra in cold_extra.items():
        with django_assert_num_queries(PINNED[name] + extra):
            staff.get(urls[name])
        cache.clear()
