"""GET /api/v1/customers/{external_id}/offers under gunicorn at a fixed rate (open loop).

The same method as bench_recommender_serving.py, whose load generator and server helpers it uses:
1. The trained demo database of the serving benchmark, copied; an RFM segmentation run on it if none is active,
   and a running on-site campaign (a shared-code offer, 4 recommended products, 10 % holdout) for all its segments.
2. gunicorn on 127.0.0.1 (a free port, 2 workers x 4 threads, production settings), stopped by its pid.
3. First impressions: after a warm-up (each worker loads the campaign's catalog and the recommender once), every
   one of 5,000 demo customers and a few unknown ids called once over 8 connections (a closed loop), each call
   writing the customer's recipient row, coupon and rendered content; their rate and the server's CPU per call
   are reported.
4. Open loop: requests scheduled at a fixed rate (200/s for 30 s) over the same customers, now reached (the
   steady state of a shop's pages); each latency counts from the request's scheduled time (no coordinated
   omission). Repeated 3 times; the table reports medians.

    .venv/bin/python tests/benchmarks/bench_onsite.py [--json] [--rate 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_recommender_serving import (
    Connection,
    customer_ids,
    make_api_key,
    open_loop,
    percentile,
    server_cpu_seconds,
    start_gunicorn,
    stop_gunicorn,
    trained_database,
)
from tests.benchmarks.bench_recommender_train import copy_database
from tests.benchmarks.common import PYTHON, ROOT, WORK, emit, median, row

BENCH = "on-site offers API (gunicorn)"

SETUP = """
from datetime import timedelta
from django.utils import timezone
from marketing import services
from marketing.models import Campaign, Offer
from segments.models import Segment, SegmentationDefinition

definition = SegmentationDefinition.objects.with_active_run().first()
segments = list(Segment.objects.filter(run_id=definition.active_run_id))
now = timezone.now()
Campaign.objects.filter(name="bench on-site").delete()
offer, _ = Offer.objects.get_or_create(
    name="bench free shipping", defaults={"kind": "free_shipping", "code": "BENCHSHIP", "code_mode": "shared"}
)
campaign = services.campaign_create(
    name="bench on-site",
    channel="onsite",
    included_segments=segments,
    starts_at=now - timedelta(hours=1),
    ends_at=now + timedelta(days=7),
    holdout_share=0.1,
    offer=offer,
    recommendations_count=4,
    variants=[{
        "name": "A",
        "subject": "{{ customer.first_name or 'Hello' }}: {{ offer.description }}",
        "html_template": "<b>{{ offer.code }}</b>"
        "{% for p in products %}<a href='{{ p.url }}'>{{ p.name }}</a>{% endfor %}",
    }],
)
services.campaign_launch(campaign=campaign, user=None)
print(campaign.pk, len(segments))
"""


def onsite_database() -> dict[str, str]:
    trained = trained_database()
    done = WORK / "onsite.done"
    if (WORK / "onsite.sqlite3").exists() and done.exists():
        env = dict(trained, DATABASE_URL=f"sqlite:///{WORK / 'onsite.sqlite3'}")
    else:
        env = copy_database(Path(trained["DATABASE_URL"].removeprefix("sqlite:///")), "onsite")
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    # The served model's artifact lives in the serving benchmark's media folder.
    env["DJANGO_MEDIA_ROOT"] = trained["DJANGO_MEDIA_ROOT"]
    has_segments = (
        subprocess.run(
            [
                PYTHON,
                "manage.py",
                "shell",
                "-c",
                "from segments.models import SegmentationDefinition as D; print(D.objects.with_active_run().exists())",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    if has_segments != "True":
        subprocess.run(
            [PYTHON, "manage.py", "run_segmentation", "--method", "rfm", "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    done.write_text("segmented\n")
    # A fresh campaign each run (the previous one and its recipients are deleted): every customer is new to it.
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    print(f"on-site campaign (id, segments): {out.stdout.strip().splitlines()[-1]}", file=sys.stderr)
    return env


async def once_each(host: str, port: int, paths: list[str], headers: bytes, *, concurrency: int) -> tuple[float, int]:
    """Every path requested exactly once over `concurrency` keep-alive connections: (requests per second, errors)."""
    loop = asyncio.get_running_loop()
    errors = 0

    async def worker(offset: int) -> None:
        nonlocal errors
        conn = Connection(host, port)
        for path in paths[offset::concurrency]:
            try:
                errors += await conn.get(path, headers) != 200
            except (OSError, asyncio.IncompleteReadError, ValueError):
                conn.close()
                errors += 1
        conn.close()

    start = loop.time()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return len(paths) / (loop.time() - start), errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    env = onsite_database()
    database = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    key = make_api_key(env)
    # The load is the shop's own traffic from one key: not throttled (its default rate would refuse part of it).
    subprocess.run(
        [
            PYTHON,
            "manage.py",
            "shell",
            "-c",
            "from shop.models import ApiClient; "
            "ApiClient.objects.filter(name='bench-serving').update(throttle_rate='1000000/minute')",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    server_env = dict(
        env,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="bench-only-secret-key-not-for-production-use-0123456789",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
    )
    known = customer_ids(database, count=5000, seed=11)
    paths = [f"/api/v1/customers/{c}/offers" for c in known]
    paths[::50] = [f"/api/v1/customers/unknown-{i}/offers" for i in range(len(paths[::50]))]
    headers = f"Authorization: Api-Key {key}\r\n".encode()
    p50s, p99s, errs = [], [], []
    proc, port = start_gunicorn(server_env, workers=args.workers, threads=args.threads)
    server_log = proc.server_log
    try:
        # First impressions (a recipient row, coupon and rendered content written per call): every customer once,
        # as fast as the server takes them. Then the steady state the shop's pages see: customers already reached.
        # The warm-up: enough calls for every worker thread to have loaded what a worker keeps (a few customers).
        asyncio.run(once_each("127.0.0.1", port, paths[:64], headers, concurrency=8))
        cpu = server_cpu_seconds(proc.pid)
        first_rps, first_errors = asyncio.run(once_each("127.0.0.1", port, paths[64:], headers, concurrency=8))
        first_cpu = (server_cpu_seconds(proc.pid) - cpu) / len(paths[64:]) * 1000
        print(
            f"first impressions {first_rps:.0f}/s, {first_cpu:.2f} ms CPU each, errors {first_errors}", file=sys.stderr
        )
        cpu = server_cpu_seconds(proc.pid)
        requests = 0
        for _ in range(args.repeats):
            try:
                lat, err = asyncio.run(
                    open_loop("127.0.0.1", port, paths, headers, rate=args.rate, seconds=args.seconds)
                )
            except TimeoutError:  # answers still outstanding a minute after the last request: the server fell behind
                lat, err = [float("inf")], int(args.rate * args.seconds)
            p50s.append(percentile(lat, 0.50) * 1000)
            p99s.append(percentile(lat, 0.99) * 1000)
            errs.append(err)
            requests += int(args.rate * args.seconds)
            print(f"p50 {p50s[-1]:.2f} ms  p99 {p99s[-1]:.2f} ms  errors {err}", file=sys.stderr)
        steady_cpu = (server_cpu_seconds(proc.pid) - cpu) / requests * 1000
    finally:
        stop_gunicorn(proc)
        if server_log:
            print("server log (last lines):", *(line.decode(errors="replace") for line in server_log), file=sys.stderr)
    out = subprocess.run(
        [
            PYTHON,
            "manage.py",
            "shell",
            "-c",
            "from marketing.models import Recipient as R; "
            "q = R.objects.filter(campaign__name='bench on-site'); "
            "print(q.filter(is_control=False).count(), q.filter(is_control=True).count())",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    treated, control = (int(n) for n in out.stdout.strip().splitlines()[-1].split())

    load = os.getloadavg()[0]
    setup = f"{args.workers} workers x {args.threads} threads, median of {args.repeats}; load average {load:.1f}"
    emit(
        [
            row(BENCH, f"p50 at {args.rate:.0f} req/s", median(p50s), "ms", "", None, setup),
            row(BENCH, f"p99 at {args.rate:.0f} req/s", median(p99s), "ms", "<= 20", median(p99s) <= 20, setup),
            row(
                BENCH,
                "errors",
                max(errs),
                "count",
                "0",
                max(errs) == 0,
                f"worst run; first impressions: {first_errors}",
            ),
            row(BENCH, "server CPU per request (customer reached)", steady_cpu, "ms", "", None, "all workers"),
            row(
                BENCH, "first impressions (row + coupon + render)", first_rps, "req/s", "", None, "8 conns, closed loop"
            ),
            row(BENCH, "server CPU per first impression", first_cpu, "ms", "", None, "all workers"),
            row(BENCH, "recipients reached (treated)", treated, "recipients", "", None, f"and {control} in control"),
        ]
    )


if __name__ == "__main__":
    main()
