"""Campaigns at 100,000 customers: estimate, audience build with 10 personalised products each, and delivery.

The demo database (100,000 customers, about 2 million events, an RFM segmentation and an EASE model) is built
once into CAMPAIGN_BENCH_DB (default /tmp/campaign-bench/demo100k.sqlite3) and reused; each run works on a
fresh copy. Every measurement runs in its own process, so wall time includes Django start-up and peak memory
is that process's alone:

- estimate: `estimate_audience` over every RFM segment (counts by exclusion reason in one query), median of 3;
  target <= 2 s.
- build: the audience built and rendered end to end — exclusions, hashed holdout and variants, unique coupons,
  10 recommended products and cross-sell per recipient from the active model, subject / HTML / text rendered in
  the sandbox (in worker processes, one per CPU), rows written in bulk; target <= 60 s and <= 2 GB peak. CPU time
  counts the workers; the peak is bounded from above by the build process's plus each worker's.
- locmem: every treated e-mail recipient sent through Django's locmem backend (MIME built for each);
  target >= 1,000 messages/s.
- smtp: SMTP_MESSAGES messages to an aiosmtpd server on loopback in its own process; the rate it sustains.

    .venv/bin/python tests/benchmarks/bench_campaigns.py [--json] [--smtp-messages 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import PYTHON, ROOT, bench_env, emit, row, run_measured

CUSTOMERS, SEED = 100_000, 1
CACHE = Path(os.environ.get("CAMPAIGN_BENCH_DB", "/tmp/campaign-bench/demo100k.sqlite3"))
WORKDIR = CACHE.parent
ESTIMATE_TARGET, BUILD_TARGET, BUILD_MB, LOCMEM_TARGET = 2.0, 60.0, 2048.0, 1000.0
CAMPAIGN = "Benchmark campaign"


def cached_database() -> Path:
    done = CACHE.with_suffix(".done")
    if CACHE.exists() and done.exists():
        return CACHE
    WORKDIR.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{CACHE}{suffix}").unlink(missing_ok=True)
    env = bench_env(DATABASE_URL=f"sqlite:///{CACHE}", DJANGO_MEDIA_ROOT=str(WORKDIR / "media"))
    for command in (
        ["migrate", "--noinput", "-v", "0"],
        ["generate_demo_data", "--customers", str(CUSTOMERS), "--seed", str(SEED)],
        ["run_segmentation", "--method", "rfm", "--json"],
        ["train_recommender", "--no-search", "--json"],
    ):
        print(f"building {CACHE.name}: {' '.join(command)}", file=sys.stderr, flush=True)
        subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    with sqlite3.connect(CACHE) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    done.write_text("ok\n")
    return CACHE


def working_copy() -> dict[str, str]:
    target = WORKDIR / "campaign-bench-copy.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(cached_database(), target)
    env = bench_env(
        DATABASE_URL=f"sqlite:///{target}",
        DJANGO_MEDIA_ROOT=str(WORKDIR / "media"),
        MARKETING_QUIET_HOURS="",
        DJANGO_DEBUG="0",  # as a worker runs: no query log growing with every bulk insert
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    return env


def child(step: str, env: dict[str, str], *extra: str) -> dict:
    load = os.getloadavg()[0]
    result = run_measured([PYTHON, str(Path(__file__).resolve()), "--child", step, *extra], env=env)
    out = json.loads(result["stdout"].strip().splitlines()[-1])
    out = {**out, "wall": result["seconds"], "peak_mb": result["peak_mb"], "load": load}
    # Each step's figures as soon as it ends: a long run stopped midway still tells what it measured.
    print(f"{step}: {json.dumps(out, default=str)}", file=sys.stderr, flush=True)
    return out


# --- the child processes ---------------------------------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of its finished children (the build's rendering
    workers): unlike wall time, not stretched by other load on the machine."""
    return _own_cpu() + _workers_cpu()


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _workers_cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    import django

    django.setup()


def child_setup() -> dict:
    from marketing.models import Campaign, Offer, Variant
    from segments.models import Segment

    offer = Offer.objects.create(name="Bench 10 %", kind="percent", value=10, code_mode="unique", code="BENCH")
    campaign = Campaign.objects.create(name=CAMPAIGN, holdout_share=0.1, recommendations_count=10, offer=offer)
    segments = list(Segment.objects.active().values_list("pk", flat=True))
    campaign.included_segments.set(segments)
    Variant.objects.create(campaign=campaign, name="A", split_share=0.5)
    subject = "{{ customer.first_name }}, 10 for you"
    Variant.objects.create(campaign=campaign, name="B", split_share=0.5, subject=subject)
    return {"campaign": campaign.pk, "segments": len(segments)}


def child_estimate() -> dict:
    from marketing.audience import estimate_audience
    from marketing.models import Campaign

    campaign = Campaign.objects.get(name=CAMPAIGN)
    times, estimate = [], None
    for _ in range(3):
        start = time.perf_counter()
        estimate = estimate_audience(campaign=campaign)
        times.append(time.perf_counter() - start)
    return {"seconds": sorted(times)[1], "estimate": estimate}


def child_build() -> dict:
    from django.utils import timezone

    from marketing.audience import build_processes
    from marketing.models import Campaign
    from marketing.services import campaign_build_audience

    campaign = Campaign.objects.select_related("offer").get(name=CAMPAIGN)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING, launched_at=timezone.now())
    start, cpu, own = time.perf_counter(), _cpu(), _own_cpu()
    counts = campaign_build_audience(campaign=campaign)
    seconds, cpu, own = time.perf_counter() - start, _cpu() - cpu, _own_cpu() - own
    sample = campaign.recipients.filter(status="pending").values_list("recommended_skus", "body_html", "body_text")[:1][
        0
    ]
    # Peak resident memory of this process and of the largest rendering worker (KB on Linux). Workers share the
    # pages they were forked with, so this process's peak plus every worker at the largest one's peak bounds
    # the build's combined peak from above.
    own_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    worker_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    workers = build_processes(counts["treated"])
    return {
        "seconds": seconds,
        "cpu": cpu,
        # The build process alone (it reads, asks the recommender and writes; the workers render): the part of the
        # build that cannot spread over more cores.
        "build_process_cpu": own,
        "process_cpu": _cpu(),
        "counts": counts,
        "products_each": len(sample[0]),
        "html_bytes": len(sample[1]),
        "text_bytes": len(sample[2]),
        "workers": workers,
        "own_peak_mb": own_kb / 1024,
        "worker_peak_mb": worker_kb / 1024 if workers else 0.0,
        "combined_peak_mb": (own_kb + workers * worker_kb) / 1024,
    }


def child_send(limit: int) -> dict:
    from django.core import mail

    from marketing.delivery import send_campaign_messages
    from marketing.models import Campaign, Recipient

    campaign = Campaign.objects.get(name=CAMPAIGN)
    if limit:
        # Only `limit` rows pending for this run (the rest stay as the previous run left them).
        keep = list(campaign.recipients.filter(status="sent").order_by("pk").values_list("pk", flat=True)[:limit])
        Recipient.objects.filter(pk__in=keep).update(status="pending", sent_at=None)

    def drop_outbox(done: int, sent: int) -> None:
        if hasattr(mail, "outbox"):
            mail.outbox.clear()  # locmem keeps every message; the benchmark measures sending, not holding them

    start, cpu = time.perf_counter(), _cpu()
    summary = send_campaign_messages(campaign=campaign, batch_size=500, rate=0, progress=drop_outbox)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    return {"seconds": seconds, "cpu": cpu, "sent": summary.sent, "failed": summary.failed}


def run_child(step: str, extra: list[str]) -> None:
    if step == "smtpd":
        smtp_server(int(extra[0]))  # no Django: the mail server stands in for another machine
        return
    _django()
    if step == "setup":
        out = child_setup()
    elif step == "estimate":
        out = child_estimate()
    elif step == "build":
        out = child_build()
    elif step == "send":
        out = child_send(int(extra[0]) if extra else 0)
    else:
        raise SystemExit(f"unknown step {step}")
    print(json.dumps(out, default=str))


def smtp_server(port: int) -> None:
    """A loopback SMTP server that accepts and drops every message (run as its own process)."""
    import logging

    from aiosmtpd.controller import Controller

    # aiosmtpd logs every connection and command: a real relay would not spend its time writing that here.
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the benchmark ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--smtp-messages", type=int, default=5000)
    parser.add_argument("--child")
    args, extra = parser.parse_known_args()
    if args.child:
        run_child(args.child, extra)
        return

    env = working_copy()
    child("setup", env)
    estimate = child("estimate", env)
    build = child("build", env)
    counts = build["counts"]
    locmem = child("send", env)
    rows = [
        row(
            "campaign estimate (100k customers)",
            "estimate",
            estimate["seconds"],
            "s",
            f"<= {ESTIMATE_TARGET:g} s",
            estimate["seconds"] <= ESTIMATE_TARGET,
            f"audience {estimate['estimate']['audience']:,}, "
            f"reachable {estimate['estimate']['eligible']:,}; median of 3",
        ),
        row(
            "campaign audience build + render",
            "end to end (process)",
            build["wall"],
            "s",
            f"<= {BUILD_TARGET:g} s",
            build["wall"] <= BUILD_TARGET,
            f"{counts['treated']:,} rendered with {build['products_each']} products each, "
            f"{counts['control']:,} control, "
            f"{sum(counts['excluded'].values()):,} left out; build alone {build['seconds']:.1f} s, rendering in "
            f"{build['workers'] or 'no'} worker processes; "
            f"load average {build['load']:.1f} on {os.cpu_count()} CPUs when it started",
        ),
        row(
            "campaign audience build + render",
            "CPU time (user + system)",
            build["process_cpu"],
            "s",
            "",
            None,
            f"this process and its rendering workers together; the build alone {build['cpu']:.1f} s CPU (the build "
            f"process {build['build_process_cpu']:.1f} s, the workers {build['cpu'] - build['build_process_cpu']:.1f}"
            " s), "
            "the rest Django start-up and the checks after it: wall time above CPU time / cores is waiting for a core",
        ),
        row(
            "campaign audience build + render",
            "peak memory",
            build["combined_peak_mb"],
            "MB",
            f"<= {BUILD_MB:g} MB",
            build["combined_peak_mb"] <= BUILD_MB,
            f"upper bound: the build process's peak {build['own_peak_mb']:.0f} MB plus {build['workers']} workers at "
            f"the largest one's {build['worker_peak_mb']:.0f} MB (forked pages they share counted in each); "
            f"HTML {build['html_bytes']:,} and text {build['text_bytes']:,} bytes per message",
        ),
        row(
            "campaign email delivery (locmem)",
            "messages per second",
            locmem["sent"] / locmem["seconds"],
            "msg/s",
            f">= {LOCMEM_TARGET:g}",
            locmem["sent"] / locmem["seconds"] >= LOCMEM_TARGET,
            f"{locmem['sent']:,} sent in {locmem['seconds']:.1f} s, batches of 500 (claim, send, mark); "
            f"{locmem['cpu']:.1f} s CPU, {locmem['sent'] / max(locmem['cpu'], 1e-9):,.0f} messages per CPU second; "
            f"load average {locmem['load']:.1f}",
        ),
    ]
    if args.smtp_messages:
        port = _free_port()
        server = subprocess.Popen(
            [PYTHON, str(Path(__file__).resolve()), "--child", "smtpd", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            server.stdout.readline()  # "ready"
            smtp_env = dict(env, EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1")
            smtp_env["EMAIL_PORT"] = str(port)
            smtp = child("send", smtp_env, str(args.smtp_messages))
        finally:
            server.terminate()
            server.wait(timeout=10)
        rows.append(
            row(
                "campaign email delivery (SMTP, loopback)",
                "messages per second",
                smtp["sent"] / smtp["seconds"],
                "msg/s",
                "",
                None,
                f"{smtp['sent']:,} messages to an aiosmtpd server on 127.0.0.1 (its own process), one connection "
                f"per 500; sender {smtp['cpu']:.1f} s CPU; {smtp['failed']:,} failed; load average {smtp['load']:.1f}",
            )
        )
    emit(rows)


if __name__ == "__main__":
    main()
