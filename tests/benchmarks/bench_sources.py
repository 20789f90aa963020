"""Segment batches of 100 (the SDKs' default flush) under gunicorn, into SQLite and PostgreSQL, against our own
POST /api/v1/events in the same run; and proof that nothing is lost when clients retry.

Per database: a fresh migrated database, two API keys (one with a per-second rate low enough to draw 429s),
gunicorn (2 sync workers) on 127.0.0.1. Then ROUNDS rounds, each sending BATCHES batches of 100 events to
/api/v1/events and BATCHES batches of 100 Segment track calls (Product Viewed / Added / Order Completed with one
line: one interaction each) to /api/v1/sources/segment/v1/batch, from SENDERS threads. Afterwards:
- every Segment batch is resent (a client retrying after a lost answer): all must come back without adding rows;
- a fresh set of batches is sent with the rate-limited key: the senders retry 429s after Retry-After, as the SDKs
  do, and every message must be stored exactly once.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_events import free_port, wait_live
from tests.benchmarks.common import PYTHON, ROOT, WORK, bench_env, emit, fresh_sqlite, median, row

ROUNDS = int(os.environ.get("BENCH_SOURCES_ROUNDS", "2"))
BATCHES = int(os.environ.get("BENCH_SOURCES_BATCHES", "120"))
BATCH_SIZE = 100
SENDERS = 4
WORKERS = int(os.environ.get("BENCH_SOURCES_WORKERS", "2"))
RETRY_BATCHES = 30
CUSTOMERS = 5_000
PRODUCTS = 2_000
TARGET_RATIO = 0.8
# A database of its own, dropped and made again each run: BENCH_SOURCES_POSTGRES_URL, else the server of
# TEST_POSTGRES_URL (written by `make services`) with the database bench_sources.
POSTGRES_URL = os.environ.get("BENCH_SOURCES_POSTGRES_URL") or (
    urlparse(os.environ["TEST_POSTGRES_URL"])._replace(path="/bench_sources").geturl()
    if os.environ.get("TEST_POSTGRES_URL")
    else "postgres://root@127.0.0.1:5432/h_src"
)
SEGMENT_PATH = "/api/v1/sources/segment/v1/batch"


def _kinds(rng: random.Random) -> str:
    return rng.choice(["view"] * 6 + ["cart"] * 2 + ["purchase"] * 2)


def events_batches(tag: str, count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    batches = []
    for b in range(count):
        events = []
        for i in range(BATCH_SIZE):
            kind = _kinds(rng)
            event = {
                "event_id": f"{tag}-{b}-{i}",
                "customer_id": f"C{rng.randrange(CUSTOMERS)}",
                "sku": f"SKU{rng.randrange(PRODUCTS)}",
                "kind": kind,
                "occurred_at": "2026-06-15T12:00:00Z",
            }
            if kind == "purchase":
                event.update(quantity=2, amount="19.98", currency="EUR", order_ref=f"O-{tag}-{b}-{i}")
            events.append(event)
        batches.append(orjson.dumps(events))
    return batches


def warm_up_batches() -> list[bytes]:
    events = [
        {"event_id": f"warm-{i}", "customer_id": f"C{i % CUSTOMERS}", "sku": f"SKU{i % PRODUCTS}", "kind": "view"}
        for i in range(max(CUSTOMERS, PRODUCTS))
    ]
    return [orjson.dumps(events[i : i + BATCH_SIZE]) for i in range(0, len(events), BATCH_SIZE)]


def segment_batches(tag: str, count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    names = {"view": "Product Viewed", "cart": "Product Added", "purchase": "Order Completed"}
    batches = []
    for b in range(count):
        messages = []
        for i in range(BATCH_SIZE):
            kind = _kinds(rng)
            sku = f"SKU{rng.randrange(PRODUCTS)}"
            properties: dict = {"product_id": sku}
            if kind == "purchase":
                properties = {
                    "order_id": f"O-{tag}-{b}-{i}",
                    "currency": "EUR",
                    "products": [{"product_id": sku, "price": 9.99, "quantity": 2}],
                }
            messages.append(
                {
                    "type": "track",
                    "messageId": f"{tag}-{b}-{i}",
                    "userId": f"C{rng.randrange(CUSTOMERS)}",
                    "event": names[kind],
                    "properties": properties,
                    "timestamp": "2026-06-15T12:00:00Z",
                    "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
                }
            )
        batches.append(orjson.dumps({"batch": messages, "sentAt": "2026-06-15T12:00:01Z"}))
    return batches


def send_all(port: int, path: str, headers: dict[str, str], batches: list[bytes]) -> tuple[float, int, list[str]]:
    """Send every batch from SENDERS threads, retrying 429 and 5xx after Retry-After (as the SDKs do).

    Returns (seconds, retries, failures): a failure is a batch given up on.
    """
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in batches:
        work.put(body)
    retries = 0
    failures: list[str] = []
    lock = threading.Lock()

    def sender() -> None:
        nonlocal retries
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            for attempt in range(30):
                try:
                    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    status, payload, wait = 0, str(exc).encode(), 0.2
                else:
                    status = response.status
                    wait = float(response.getheader("Retry-After") or 0.2)
                if status == 200:
                    break
                if status != 429 and status < 500 and status != 0:
                    with lock:
                        failures.append(f"HTTP {status}: {payload[:300]!r}")
                    break
                with lock:
                    retries += 1
                time.sleep(min(wait, 2.0) * (1 + attempt / 10))
            else:
                with lock:
                    failures.append("gave up after 30 attempts")
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, retries, failures


def workers_cpu_seconds(master: int) -> float:
    """CPU seconds (user + system) used so far by gunicorn's workers, the children of `master`.

    Wall-clock throughput depends on what else the machine runs; the workers' CPU per batch does much less.
    """
    total = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a worker gone meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def _create_key(env: dict[str, str], name: str, *extra: str) -> str:
    created = subprocess.run(
        [PYTHON, "manage.py", "create_api_client", name, "--json", "--skip-checks", *extra],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(created.stdout)["key"]


def fresh_postgres() -> dict[str, str]:
    url = urlparse(POSTGRES_URL)
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = bench_env(DATABASE_URL=POSTGRES_URL, DJANGO_MEDIA_ROOT=str(WORK / "sources-pg-media"))
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    return env


def count_interactions(env: dict[str, str], prefix: str) -> int:
    url = env["DATABASE_URL"]
    sql = "SELECT COUNT(*) FROM shop_interaction WHERE event_id LIKE %s"
    if url.startswith("sqlite"):
        with sqlite3.connect(urlparse(url).path) as db:
            return db.execute(sql.replace("%s", "?"), (f"{prefix}%",)).fetchone()[0]
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql, (f"{prefix}%",)).fetchone()[0]


def one_database(label: str, env: dict[str, str]) -> dict:
    env["DJANGO_DEBUG"] = "0"
    key = _create_key(env, "bench-frontend")
    limited = _create_key(env, "bench-limited", "--throttle-rate", "2/second")
    api_headers = {"X-Api-Key": key}
    segment_headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    limited_headers = {"Authorization": "Basic " + base64.b64encode(f"{limited}:".encode()).decode()}
    port = free_port()
    gunicorn = Path(PYTHON).parent / "gunicorn"
    log = (WORK / f"sources-{label}-gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [str(gunicorn), "config.wsgi", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "--timeout", "120"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    rates: dict[str, list[float]] = {"events": [], "segment": []}
    cpu: dict[str, float] = {"events": 0.0, "segment": 0.0}  # workers' CPU seconds over all rounds
    failures: list[str] = []
    sent_segment: list[bytes] = []
    try:
        wait_live(port, proc)
        # Warm-up: stubs for every customer and product, so both sides write interactions only.
        send_all(port, "/api/v1/events", api_headers, warm_up_batches())
        for rnd in range(ROUNDS):
            own = events_batches(f"ev{rnd}", BATCHES, seed=rnd)
            before = workers_cpu_seconds(proc.pid)
            seconds, _, failed = send_all(port, "/api/v1/events", api_headers, own)
            cpu["events"] += workers_cpu_seconds(proc.pid) - before
            rates["events"].append(BATCHES * BATCH_SIZE / seconds)
            failures += failed
            segment = segment_batches(f"sg{rnd}", BATCHES, seed=rnd)
            before = workers_cpu_seconds(proc.pid)
            seconds, _, failed = send_all(port, SEGMENT_PATH, segment_headers, segment)
            cpu["segment"] += workers_cpu_seconds(proc.pid) - before
            rates["segment"].append(BATCHES * BATCH_SIZE / seconds)
            failures += failed
            sent_segment += segment
        stored = count_interactions(env, "seg:sg")
        # Every Segment batch retried (the answer was lost): nothing more stored.
        _, _, failed = send_all(port, SEGMENT_PATH, segment_headers, sent_segment)
        failures += failed
        after_resend = count_interactions(env, "seg:sg")
        # A rate-limited key: 429s answered with Retry-After, retried by the senders until stored.
        throttled = segment_batches("rt", RETRY_BATCHES, seed=1234)
        _, retries, failed = send_all(port, SEGMENT_PATH, limited_headers, throttled)
        failures += failed
        retried_stored = count_interactions(env, "seg:rt")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    expected = ROUNDS * BATCHES * BATCH_SIZE
    return {
        "database": label,
        "events_per_second": median(rates["events"]),
        "segment_per_second": median(rates["segment"]),
        "ratio": median(rates["segment"]) / median(rates["events"]),
        "events_cpu_ms_per_batch": 1000 * cpu["events"] / (ROUNDS * BATCHES),
        "segment_cpu_ms_per_batch": 1000 * cpu["segment"] / (ROUNDS * BATCHES),
        "segment_sent": expected,
        "segment_stored": stored,
        "after_resend": after_resend,
        "retry_sent": RETRY_BATCHES * BATCH_SIZE,
        "retry_stored": retried_stored,
        "retries": retries,
        "failures": failures[:5],
        "failure_count": len(failures),
        "lost": (expected - stored) + (RETRY_BATCHES * BATCH_SIZE - retried_stored) + (after_resend - stored),
    }


def main() -> None:
    load_before = os.getloadavg()[0]
    results = [one_database("SQLite", fresh_sqlite("sources")), one_database("PostgreSQL", fresh_postgres())]
    rows = []
    for r in results:
        print(json.dumps(r), file=sys.stderr, flush=True)
        name = f"Segment batches (gunicorn, {r['database']})"
        note = (
            f"median of {ROUNDS} rounds of {BATCHES} batches x {BATCH_SIZE}, {SENDERS} senders, gunicorn -w {WORKERS}; "
            f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs"
        )
        rows += [
            row(name, "Segment events/s", r["segment_per_second"], "ev/s", "", None, note),
            row(name, "own /api/v1/events events/s", r["events_per_second"], "ev/s", "", None, "same run, same mix"),
            row(
                name,
                "Segment CPU per batch of 100",
                r["segment_cpu_ms_per_batch"],
                "ms",
                "",
                None,
                f"gunicorn workers' user + system CPU; own /api/v1/events: {r['events_cpu_ms_per_batch']:.1f} ms",
            ),
            row(
                name,
                "Segment / own API",
                r["ratio"],
                "ratio",
                f">= {TARGET_RATIO}",
                r["ratio"] >= TARGET_RATIO,
                "batches of 100, one interaction per message",
            ),
            row(
                name,
                "lost under retries",
                r["lost"],
                "events",
                "0",
                r["lost"] == 0 and r["failure_count"] == 0,
                f"{r['segment_sent']} sent, all resent: {r['after_resend'] - r['segment_stored']} extra rows; "
                f"rate-limited key: {r['retries']} retried 429s, {r['retry_stored']}/{r['retry_sent']} stored; "
                f"{r['failure_count']} batches given up",
            ),
        ]
    emit(rows)


if __name__ == "__main__":
    main()
