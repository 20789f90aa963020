"""POST /api/v1/events under gunicorn into SQLite: events per second, and proof that none were lost.

Each run: a fresh migrated SQLite file, an API client, gunicorn (2 sync workers) on 127.0.0.1, then
BATCHES batches of BATCH_SIZE events sent by SENDERS threads; afterwards the Interaction rows are counted
and a few batches are resent to check they come back as duplicates. The median of RUNS runs is reported.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import PYTHON, ROOT, WORK, emit, fresh_sqlite, median, row

RUNS = int(os.environ.get("BENCH_EVENTS_RUNS", "3"))
BATCHES = 200
BATCH_SIZE = 500
SENDERS = 4
WORKERS = int(os.environ.get("BENCH_EVENTS_WORKERS", "2"))
CUSTOMERS = 20_000
PRODUCTS = 3_000
TARGET_EVENTS_PER_SECOND = 5_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_batches(run: int, seed: int, count: int = BATCHES) -> list[bytes]:
    rng = random.Random(seed)
    kinds = ["view"] * 60 + ["cart"] * 15 + ["purchase"] * 15 + ["rating"] * 10
    batches = []
    for b in range(count):
        events = []
        for i in range(BATCH_SIZE):
            kind = rng.choice(kinds)
            event = {
                "event_id": f"bench-{run}-{b}-{i}",
                "customer_id": f"C{rng.randrange(CUSTOMERS)}",
                "sku": f"SKU{rng.randrange(PRODUCTS)}",
                "kind": kind,
                "occurred_at": f"2026-0{rng.randrange(1, 10)}-1{rng.randrange(10)}T1{rng.randrange(10)}:00:00Z",
                "source": "web",
            }
            if kind == "view":
                event["value"] = rng.randrange(1, 300)
            elif kind == "rating":
                event["value"] = rng.choice([1, 2, 3, 4, 5])
            elif kind == "purchase":
                quantity = rng.randrange(1, 4)
                event.update(quantity=quantity, amount=f"{quantity * 9.99:.2f}", order_ref=f"O-{run}-{b}-{i // 3}")
            events.append(event)
        batches.append(orjson.dumps(events))
    return batches


def wait_live(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited early with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health/live")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not become live")


def post(conn: http.client.HTTPConnection, key: str, body: bytes) -> dict:
    conn.request("POST", "/api/v1/events", body=body, headers={"Content-Type": "application/json", "X-Api-Key": key})
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {payload[:500]!r}")
    return orjson.loads(payload)


def send_all(port: int, key: str, batches: list[bytes]) -> tuple[float, dict[str, int], list[float], list[str]]:
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in batches:
        work.put(body)
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            try:
                answer = post(conn, key, body)
            except (OSError, RuntimeError, http.client.HTTPException) as exc:
                with lock:
                    failures.append(str(exc))
                conn.close()
                continue
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                for status in totals:
                    totals[status] += answer[status]
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, totals, latencies, failures


def workers_cpu_seconds(master_pid: int) -> float | None:
    """CPU seconds used so far by gunicorn's workers (Linux /proc), to separate our cost from a busy machine."""
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        ticks = 0
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def bare_sqlite_rows_per_second(db_path: str, batches: int = 40) -> float:
    """The same 500-row inserts with plain sqlite3 (no Django, no HTTP) on a copy of a run's database:
    the ceiling this machine's disk and CPU allow at this moment, to read the API's figure against."""
    copy = WORK / "events-bare.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(db_path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    db = sqlite3.connect(copy, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    columns = [r[1] for r in db.execute("PRAGMA table_info(shop_interaction)") if r[1] != "id"]
    sql = f"INSERT INTO shop_interaction ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    customers = db.execute("SELECT MAX(id) FROM shop_customer").fetchone()[0]
    products = db.execute("SELECT MAX(id) FROM shop_product").fetchone()[0]
    rng = random.Random(0)
    started = time.perf_counter()
    for b in range(batches):
        rows = []
        for i in range(BATCH_SIZE):
            values = {
                "customer_id": rng.randint(1, customers),
                "product_id": rng.randint(1, products),
                "kind": rng.choice(["view", "cart", "purchase"]),
                "value": None,
                "quantity": 1,
                "amount": None,
                "order_ref": "",
                "source": "web",
                "occurred_at": f"2026-0{rng.randrange(1, 10)}-1{rng.randrange(10)} 1{rng.randrange(10)}:00:00",
                "event_id": f"bare-{b}-{i}",
                "recommendation_id": "",
                "created_at": "2026-11-26 00:00:00",
            }
            rows.append(tuple(values[c] for c in columns))
        db.execute("BEGIN IMMEDIATE")
        db.executemany(sql, rows)
        db.execute("COMMIT")
    rate = batches * BATCH_SIZE / (time.perf_counter() - started)
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return rate


def count_rows(db_path: str) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT COUNT(*) FROM shop_interaction").fetchone()[0]


def one_run(run: int) -> dict:
    env = fresh_sqlite(f"events-{run}")
    env["DJANGO_DEBUG"] = "0"  # DEBUG keeps every query in memory
    db_path = urlparse(env["DATABASE_URL"]).path
    created = subprocess.run(
        [PYTHON, "manage.py", "create_api_client", "bench", "--json", "--skip-checks"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    key = json.loads(created.stdout)["key"]
    batches = make_batches(run, seed=run)
    port = free_port()
    gunicorn = Path(PYTHON).parent / "gunicorn"
    log = (WORK / f"events-{run}-gunicorn.log").open("wb")
    proc = subprocess.Popen(
        [str(gunicorn), "config.wsgi", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "--timeout", "120"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_live(port, proc)
        cpu_before = workers_cpu_seconds(proc.pid)
        seconds, totals, latencies, failures = send_all(port, key, batches)
        cpu_after = workers_cpu_seconds(proc.pid)
        stored = count_rows(db_path)
        # Idempotency: resending batches must store nothing new...
        _, resent, _, resend_failures = send_all(port, key, batches[:5])
        # ...even when every sender sends the same new batch at the same moment (two workers racing).
        race = make_batches(run + 1000, seed=run + 1000, count=5)
        _, raced, _, race_failures = send_all(port, key, [body for body in race for _ in range(SENDERS)])
        raced_stored = count_rows(db_path) - stored
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    sent = BATCHES * BATCH_SIZE
    return {
        "seconds": seconds,
        "events_per_second": totals["accepted"] / seconds,
        "bare_sqlite_rows_per_second": bare_sqlite_rows_per_second(db_path),
        "worker_cpu_ms_per_batch": (cpu_after - cpu_before) / BATCHES * 1000
        if cpu_before is not None and cpu_after is not None
        else None,
        "sent": sent,
        "accepted": totals["accepted"],
        "stored": stored,
        "lost": sent - stored,
        "failures": len(failures) + len(resend_failures) + len(race_failures),
        "resent_duplicates": resent["duplicate"],
        "resent_total": 5 * BATCH_SIZE,
        "raced_accepted": raced["accepted"],
        "raced_stored": raced_stored,
        "raced_exact": raced["accepted"] == raced_stored == 5 * BATCH_SIZE
        and raced["duplicate"] == (SENDERS - 1) * 5 * BATCH_SIZE,
        "p50_batch_ms": median(latencies) * 1000 if latencies else float("nan"),
        "p95_batch_ms": sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000 if latencies else float("nan"),
    }


def main() -> None:
    load_before = os.getloadavg()[0]
    runs = []
    for run in range(RUNS):
        result = one_run(run)
        runs.append(result)
        print(json.dumps(result), file=sys.stderr, flush=True)
    rate = median([r["events_per_second"] for r in runs])
    lost = max(r["lost"] for r in runs)
    failures = sum(r["failures"] for r in runs)
    duplicates_ok = all(r["resent_duplicates"] == r["resent_total"] for r in runs)
    race_ok = all(r["raced_exact"] for r in runs)
    note = (
        f"median of {RUNS} runs; {BATCHES} batches x {BATCH_SIZE}, {SENDERS} senders, gunicorn -w {WORKERS}; "
        f"machine load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs"
    )
    emit(
        [
            row(
                "events API (gunicorn, SQLite)",
                "events/s",
                rate,
                "ev/s",
                f">= {TARGET_EVENTS_PER_SECOND}",
                rate >= TARGET_EVENTS_PER_SECOND,
                note,
            ),
            row(
                "events API (gunicorn, SQLite)",
                "lost events (sent - stored)",
                lost,
                "events",
                "0",
                lost == 0 and failures == 0,
                f"worst of {RUNS} runs; {failures} failed requests",
            ),
            row(
                "events API (gunicorn, SQLite)",
                "bare sqlite3 inserts, same machine",
                median([r["bare_sqlite_rows_per_second"] for r in runs]),
                "rows/s",
                "",
                None,
                f"plain executemany of {BATCH_SIZE}-row batches, one process, no Django/HTTP: this machine's "
                "ceiling at the time of the runs",
            ),
            row(
                "events API (gunicorn, SQLite)",
                "server CPU per batch",
                median([r["worker_cpu_ms_per_batch"] or 0.0 for r in runs]),
                "ms",
                "",
                None,
                f"gunicorn workers' CPU time per {BATCH_SIZE}-event request (Python + SQLite), independent of "
                "other load on the machine",
            ),
            row(
                "events API (gunicorn, SQLite)",
                "batch latency p50",
                median([r["p50_batch_ms"] for r in runs]),
                "ms",
                "",
                None,
                f"per {BATCH_SIZE}-event request; p95 {median([r['p95_batch_ms'] for r in runs]):.0f} ms",
            ),
            row(
                "events API (gunicorn, SQLite)",
                "resent batches answered duplicate",
                int(duplicates_ok),
                "bool",
                "1",
                duplicates_ok,
                "5 batches resent after each run",
            ),
            row(
                "events API (gunicorn, SQLite)",
                "same batch sent concurrently: accepted once",
                int(race_ok),
                "bool",
                "1",
                race_ok,
                f"5 new batches each sent by {SENDERS} senders at once: one accepted, the others duplicate",
            ),
        ]
    )


if __name__ == "__main__":
    main()
