"""Server time of the staff pages on a demo shop of 100,000 customers (about 2 million events): dashboard, segment
explorer (RFM and K-means runs), campaign reports (list and each demo campaign) and job monitor.

Target (issue 12, item 4): every page under 300 ms of server time, warm and cold. The heavy aggregates are the
jobs' work, stored with what they produce (a campaign's report figures by attribution and completion, timed here
too; a segmentation run's profiles, projection, movement and members reachable by email by the run), and the pages
read them. Server time is measured in one Django process with the test client (URL routing, middleware, views,
queries and template rendering; no network): cold, one request per page right after clearing the cache (after one
request to every page for imports and template compilation), and warm, the median of REPEAT requests per page; CPU
seconds of that process are reported beside it, since wall time stretches when other processes share the cores.
The dashboard's trends come from the daily counts the periodic job keeps (its full rebuild is timed first); a
request tops them up with the rows added since.

The database (`setup_demo` + `setup_demo_campaigns` on SQLite) is built once and kept in .work/ (a marker file
says it is complete). Sizes: BENCH_STAFF_CUSTOMERS (default 100000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import PYTHON, ROOT, WORK, bench_env, emit, fresh_sqlite, median, row, run_measured

CUSTOMERS = int(os.environ.get("BENCH_STAFF_CUSTOMERS", "100000"))
REPEAT = int(os.environ.get("BENCH_STAFF_REPEAT", "7"))
TARGET_MS = 300


def database() -> dict[str, str]:
    name = f"staff-{CUSTOMERS}"
    done = WORK / f"{name}.done"
    path = WORK / f"{name}.sqlite3"
    env = bench_env(DATABASE_URL=f"sqlite:///{path}", DJANGO_MEDIA_ROOT=str(WORK / f"{name}-media"))
    if done.exists() and path.exists():
        # A database kept from an earlier run gets the tables added since (the daily counts, say).
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        return env
    done.unlink(missing_ok=True)
    env = fresh_sqlite(name)
    for cmd in (
        ["setup_demo", "--customers", str(CUSTOMERS), "--seed", "1"],
        ["setup_demo_campaigns"],
    ):
        result = run_measured([PYTHON, "manage.py", *cmd], env=env)
        print(f"{' '.join(cmd)}: {result['seconds']:.0f} s", file=sys.stderr)
    done.write_text("ok")
    return env


# Runs in a child process against the benchmark database: one JSON document of timings on stdout.
MEASURE = r"""
import json, os, statistics, sys, time
import django
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from marketing.models import Campaign
from marketing.report_views import REPORTED
from segments.models import SegmentationDefinition

repeat = int(sys.argv[1])
User = get_user_model()
user, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True, "is_superuser": True})
client = Client()
client.force_login(user)
pages = {"dashboard": reverse("staff:dashboard"), "segment list": reverse("staff:segmentations")}
for d in SegmentationDefinition.objects.exclude(active_run=None).select_related("active_run").order_by("name"):
    url = reverse("staff:segmentation-run", args=[d.active_run_id])
    pages[f"segment explorer: {d.name} ({d.active_run.method})"] = url
pages["campaign reports"] = reverse("marketing-reports:list")
for c in Campaign.objects.filter(status__in=REPORTED).order_by("pk"):
    pages[f"campaign report: {c.name}"] = reverse("marketing-reports:detail", args=[c.pk])
pages["job monitor"] = reverse("staff:jobs")

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
    timed(url)  # imports and template compilation, so the cold requests below time the pages' own work
for name, url in pages.items():
    cache.clear()  # nothing any page kept: every trend, report and suggestion is worked out again
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


def measure(env: dict[str, str], script: str = MEASURE) -> list[dict]:
    """Rows of the pages `script` times (it prints {page: {wall_ms, cpu_ms, queries, bytes}} as its last line)."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "config.settings.dev", "DJANGO_DEBUG": "0"}
    proc = subprocess.run(
        [PYTHON, "-c", script, str(REPEAT)], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"measuring failed:\n{proc.stderr[-3000:]}")
    timings = json.loads(proc.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    rows = []
    for name, t in timings.items():
        wall, cpu = median(t["wall_ms"]), median(t["cpu_ms"])
        bench = f"staff page, {CUSTOMERS:,} customers: {name}"
        note = f"{t['queries']} queries, {t['bytes'] / 1024:.0f} KiB; load average {load[0]:.2f}"
        n = len(t["wall_ms"])
        metric = "server time (one request, cache cleared)" if n == 1 else f"server time (median of {n})"
        rows.append(row(bench, metric, wall, "ms", f"<= {TARGET_MS} ms", wall <= TARGET_MS, note))
        rows.append(row(bench, "CPU time of the server process", cpu, "ms"))
    return rows


def daily_counts(env: dict[str, str]) -> list[dict]:
    """The periodic job that keeps the dashboard's counts per day: a full rebuild (what a nightly run or the first
    run on an imported shop does), timed as its own process (Django's start included)."""
    result = run_measured([PYTHON, "manage.py", "refresh_daily_counts", "--rebuild", "--json"], env=env)
    bench = f"daily counts of interactions and sign-ups, {CUSTOMERS:,} customers: rebuild (the periodic job)"
    note = f"{json.loads(result['stdout'])['days']} days; load average {os.getloadavg()[0]:.2f}"
    return [
        row(bench, "wall time", result["seconds"], "s", "", None, note),
        row(bench, "CPU time", result["cpu_seconds"], "s"),
    ]


# The jobs' side of the pages' stored figures: each reported campaign's summary worked out again as the
# attribution job does after storing conversions (and completion does once more), one JSON document on stdout.
SUMMARIES = r"""
import json, time
import django
django.setup()
from marketing.models import Campaign, Recipient
from marketing.report_summaries import campaign_summary_refresh
from marketing.report_views import REPORTED

out = {}
for campaign in Campaign.objects.filter(status__in=REPORTED).order_by("pk"):
    wall, cpu = time.perf_counter(), time.process_time()
    campaign_summary_refresh(campaign=campaign)
    out[campaign.name] = {
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "recipients": Recipient.objects.filter(campaign=campaign).count(),
    }
print(json.dumps(out))
"""


def campaign_summaries(env: dict[str, str]) -> list[dict]:
    """The work the pages no longer do per request: each campaign's report figures, worked out by the jobs (timed
    here in one process after Django's start; a database kept from before summaries gets them here)."""
    proc = subprocess.run([PYTHON, "-c", SUMMARIES], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"campaign summaries failed:\n{proc.stderr[-3000:]}")
    load = os.getloadavg()[0]
    rows = []
    for name, t in json.loads(proc.stdout.strip().splitlines()[-1]).items():
        bench = f"campaign summary, {CUSTOMERS:,} customers: {name} (the attribution job's part)"
        note = f"{t['recipients']:,} recipients; load average {load:.2f}"
        rows.append(row(bench, "wall time", t["seconds"], "s", "", None, note))
        rows.append(row(bench, "CPU time", t["cpu_seconds"], "s"))
    return rows


def main() -> None:
    env = database()
    rows = daily_counts(env) + campaign_summaries(env)
    emit(rows + measure(env))


if __name__ == "__main__":
    main()
