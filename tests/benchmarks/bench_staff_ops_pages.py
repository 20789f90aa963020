"""Server time of the staff site's operations pages on the demo shop of 100,000 customers that bench_staff_pages
builds (about 2 million events): schedules (list and edit form), the job monitor's live partial (polled every 2 s),
the model registry and customer profiles.

Target (issue 12, item 4): every page under 300 ms of server time, measured as bench_staff_pages does: one Django
process with the test client, one request per page right after clearing the cache (cold) and the median of REPEAT
warm requests per page, with that process's CPU time beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_staff_pages import CUSTOMERS, database, measure
from tests.benchmarks.common import WORK, emit

MEASURE = r"""
import json, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from shop.models import Customer

repeat = int(sys.argv[1])
user, _ = get_user_model().objects.get_or_create(
    username="bench-staff", defaults={"is_staff": True, "is_superuser": True}
)
client = Client()
client.force_login(user)
pages = {
    "schedules": reverse("staff:schedules"),
    "schedule form": reverse(
        "staff:schedule", args=[PeriodicTask.objects.get(name="Nightly recommender retraining").pk]
    ),
    "job monitor, live partial": reverse("staff:jobs-live"),
    "model registry": reverse("staff:models"),
}
ids = list(Customer.objects.filter(is_stub=False).order_by("pk").values_list("external_id", flat=True)[:1])
ids += list(Customer.objects.filter(is_stub=False).order_by("-pk").values_list("external_id", flat=True)[:1])
for n, external_id in enumerate(ids):
    pages[f"customer profile {n + 1}"] = reverse("staff:customer", args=[external_id])

def timed(url):
    wall, cpu = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    took = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return took, len(queries), len(response.content)

out = {}
for url in pages.values():
    timed(url)  # imports, template compilation, the serving engine
for name, url in pages.items():
    cache.clear()
    (w, c), n, size = timed(url)
    out[f"{name} (cold cache)"] = {"wall_ms": [w], "cpu_ms": [c], "queries": n, "bytes": size}
for name, url in pages.items():
    timed(url)  # warm: what the page keeps in the cache
    walls, cpus = [], []
    for _ in range(repeat):
        (w, c), n, size = timed(url)
        walls.append(w); cpus.append(c)
    out[name] = {"wall_ms": walls, "cpu_ms": cpus, "queries": n, "bytes": size}
print(json.dumps(out))
"""


def main() -> None:
    name = f"staff-{CUSTOMERS}"
    if (WORK / f"{name}.sqlite3").exists() and not (WORK / f"{name}.done").exists():
        # database() would start over and delete the file another run of bench_staff_pages is still writing.
        raise SystemExit(f"{WORK / name}.sqlite3 is being built (no .done marker): run this once it is complete")
    emit(measure(database(), MEASURE))


if __name__ == "__main__":
    main()
