"""GET /api/v1/customers/{external_id}/offers under gunicorn at a fixed rate (open loop).

The same method as bench_recommender_serving.py, whose load generator and server helpers it uses:
1. The trained demo database of the serving benchmark, copied; an RFM segmentation run on it if none is active,
   and a running on-site campaign (a shared-code offer, 4 recommended products, 10 % holdout) for all its segments.
2. gunicorn on 127.0.0.1 (a free port, 2 workers x 4 threads, production settings), stopped by its pid.
3. First impressions: a closed loop (8 connections) over 5,000 demo customers and a few unknown ids, each call
   writing the customer's recipient row, coupon and rendered content; their rate is reported.
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
    closed_loop,
    customer_ids,
    make_api_key,
    open_loop,
    percentile,
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--first-seconds", type=float, default=30, help="closed loop of first impressions")
    args = parser.parse_args()

    env = onsite_database()
    database = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    key = make_api_key(env)
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
    try:
        # First impressions (a recipient row, coupon and rendered content written per call): every customer once,
        # as fast as the server takes them. Then the steady state the shop's pages see: customers already reached.
        first_rps, first_errors = asyncio.run(
            closed_loop("127.0.0.1", port, paths, headers, concurrency=8, seconds=args.first_seconds)
        )
        print(f"first impressions {first_rps:.0f}/s, errors {first_errors}", file=sys.stderr)
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
            print(f"p50 {p50s[-1]:.2f} ms  p99 {p99s[-1]:.2f} ms  errors {err}", file=sys.stderr)
    finally:
        stop_gunicorn(proc)
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
    offered = out.stdout.strip().splitlines()[-1]

    load = os.getloadavg()[0]
    setup = f"{args.workers} workers x {args.threads} threads, median of {args.repeats}; load average {load:.1f}"
    emit(
        [
            row(BENCH, f"p50 at {args.rate:.0f} req/s", median(p50s), "ms", "", None, setup),
            row(BENCH, f"p99 at {args.rate:.0f} req/s", median(p99s), "ms", "<= 20", median(p99s) <= 20, setup),
            row(BENCH, "errors", max(errs), "count", "0", max(errs) == 0, "worst run"),
            row(
                BENCH, "first impressions (row + coupon + render)", first_rps, "req/s", "", None, "8 conns, closed loop"
            ),
            row(BENCH, "recipients reached (treated, control)", 0, "", "", None, offered),
        ]
    )


if __name__ == "__main__":
    main()
