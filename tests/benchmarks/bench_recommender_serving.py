"""GET /api/v1/recommendations/{external_id} under gunicorn: fixed-rate latency and saturation throughput.

1. The trained database of bench_recommender_train.py (built here if missing).
2. gunicorn on 127.0.0.1 (a free port, 2 workers, production settings, DEBUG off), stopped by its pid.
3. Open loop: requests scheduled at a fixed rate (200/s for 30 s); each latency counts from the request's
   SCHEDULED time, so a stalled server cannot hide its queue (no coordinated omission).
4. Closed loop: C connections each sending the next request when the last answered, 10 s each for the
   recommendations endpoint and for /health/live (a plain Django view, no database), in alternating
   one-second slices of the same run so the machine's other load weighs on both alike.
5. Memory: each worker's resident set (VmRSS) once started, and after the load (model, catalog, the sampled
   customers served). Customers' lists are read per request from the database, so it should not depend on
   the number of customers: `--customers N` (e.g. 100000, 1000000) adds synthetic customers to a copy of the
   trained database, each given a precomputed list copied from a trained customer's (no training at that
   size: the lists are synthesised; the model, catalog and trained customers stay as trained).
Each measurement is repeated 3 times; the table reports medians.

    .venv/bin/python tests/benchmarks/bench_recommender_serving.py [--json] [--rate 200] [--seconds 30]
        [--customers N]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import PYTHON, ROOT, WORK, emit, median, row

BENCH = "recommendations API (gunicorn)"


# --- the load generator -------------------------------------------------------------------------------


class Connection:
    """One HTTP/1.1 keep-alive connection speaking just enough of the protocol for GET requests."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def open_loop(
    host: str, port: int, paths: list[str], headers: bytes, *, rate: float, seconds: float
) -> tuple[list[float], int]:
    """Send rate*seconds requests at fixed intervals; latencies (s) from each scheduled time, error count."""
    total = int(rate * seconds)
    idle: list[Connection] = []
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()

    async def one(path: str, scheduled: float) -> None:
        nonlocal errors
        conn = idle.pop() if idle else Connection(host, port)
        try:
            status = await conn.get(path, headers)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            conn.close()
            errors += 1
            return
        latencies.append(loop.time() - scheduled)
        if status != 200:
            errors += 1
        idle.append(conn)

    start = loop.time() + 0.05
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(paths[i % len(paths)], scheduled)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    for conn in idle:
        conn.close()
    return latencies, errors


async def closed_loop(
    host: str, port: int, paths: list[str], headers: bytes, *, concurrency: int, seconds: float
) -> tuple[float, int]:
    """Requests per second with `concurrency` connections kept busy for `seconds`; and the error count."""
    loop = asyncio.get_running_loop()
    done = 0
    errors = 0
    deadline = loop.time() + seconds

    async def worker(offset: int) -> None:
        nonlocal done, errors
        conn = Connection(host, port)
        i = offset
        while loop.time() < deadline:
            try:
                status = await conn.get(paths[i % len(paths)], headers)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                conn.close()
                errors += 1
                continue
            done += 1
            errors += status != 200
            i += concurrency
        conn.close()

    start = loop.time()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return done / (loop.time() - start), errors


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of the gunicorn master and its workers so far."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for p in [pid, *map(int, children)]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def saturation_pair(
    server_pid: int,
    port: int,
    rec_paths: list[str],
    headers: bytes,
    *,
    concurrency: int,
    seconds: float,
    slice_seconds: float = 1.0,
) -> dict[str, dict[str, float]]:
    """Saturation throughput of /health/live and of the recommendations, in alternating one-second slices
    (`seconds` each in total), so a change in the machine's other load hits both alike; with the server's
    CPU time per request, which the machine's other load barely affects."""
    counts = {name: {"requests": 0.0, "errors": 0, "cpu": 0.0} for name in ("live", "rec")}
    slices = max(1, round(seconds / slice_seconds))
    for _ in range(slices):
        for name, paths, hdrs in (("live", ["/health/live"], b""), ("rec", rec_paths, headers)):
            cpu_before = server_cpu_seconds(server_pid)
            rps, err = asyncio.run(
                closed_loop("127.0.0.1", port, paths, hdrs, concurrency=concurrency, seconds=slice_seconds)
            )
            counts[name]["cpu"] += server_cpu_seconds(server_pid) - cpu_before
            counts[name]["requests"] += rps * slice_seconds
            counts[name]["errors"] += err
    for c in counts.values():
        c["rps"] = c["requests"] / (slices * slice_seconds)
        c["cpu_us"] = c["cpu"] / max(c["requests"], 1) * 1e6
    return counts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the server ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict[str, str], *, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    """A gunicorn on a free loopback port. Its log is read as it comes (the last lines kept in `proc.server_log`):
    a full, unread pipe would block the worker thread writing a line, and every thread waiting for the logging lock.
    """
    port = free_port()
    cmd = [
        str(Path(PYTHON).parent / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                proc.server_log = collections.deque(maxlen=20)
                threading.Thread(target=proc.server_log.extend, args=(proc.stderr,), daemon=True).start()
                return proc, port
        except OSError:
            time.sleep(0.1)
    stop_gunicorn(proc)
    raise RuntimeError("gunicorn did not start listening within 30 s")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


# --- data ---------------------------------------------------------------------------------------------


def trained_database(customers: int = 0) -> dict[str, str]:
    """The environment of the trained benchmark database (trains it via the training benchmark if needed), its
    active run's lists published; with `customers` above its own count, a copy grown to that many."""
    from tests.benchmarks import bench_recommender_train as train_bench

    env = train_bench.trained_env()
    manage_shell(env, PUBLISH_LISTS)
    if not customers:
        return env
    source = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    target = WORK / f"serving-{customers}.sqlite3"
    done = WORK / f"serving-{customers}.done"
    grown = dict(env, DATABASE_URL=f"sqlite:///{target}")  # the same artifact folder: read only
    if target.exists() and done.exists():
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=grown, check=True)
        return grown
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(source, target)
    manage_shell(grown, GROW_CUSTOMERS.replace("TARGET", str(customers)))
    done.write_text("ok\n")
    return grown


# Lists of a run trained before they were kept in the database: written from its artifact.
PUBLISH_LISTS = """
from recommender.models import TrainingRun
from recommender.services import load_run_artifact
from recommender.serving.lists import publish_lists
run = TrainingRun.objects.get(is_active=True)
if run.lists_published_at is None:
    a = load_run_artifact(run=run)
    publish_lists(run=run, customer_ids=a.user_customer_ids, top_items=a.top_items, top_scores=a.top_scores,
                  top_because=a.top_because, top_because_kind=a.top_because_kind)
"""
# Synthetic customers up to TARGET, each with a copy of a trained customer's list in the active run.
GROW_CUSTOMERS = """
from django.db import transaction
from django.db.models import Max
from recommender.models import PrecomputedList, TrainingRun
from shop.bulk import insert_columns
from shop.models import Customer
run = TrainingRun.objects.get(is_active=True)
lists = [bytes(p) for p in PrecomputedList.objects.filter(run=run).values_list("payload", flat=True)[:20000]]
have = Customer.objects.count()
while have < TARGET:
    k = min(50000, TARGET - have)
    with transaction.atomic():
        last = Customer.objects.aggregate(m=Max("id"))["m"] or 0
        insert_columns(Customer, {"external_id": [f"synth-{have + i}" for i in range(k)]})
        pks = list(Customer.objects.filter(id__gt=last).order_by("id").values_list("id", flat=True))
        insert_columns(PrecomputedList, {"run_id": [run.pk] * len(pks), "customer_id": pks,
                                         "payload": [lists[i % len(lists)] for i in range(len(pks))]})
    have += k
"""


def manage_shell(env: dict[str, str], code: str) -> None:
    subprocess.run([PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)


def worker_rss_mb(master_pid: int) -> list[float]:
    """Each gunicorn worker's resident set size, MB."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def booted_worker_rss_mb(master_pid: int, workers: int, *, timeout: float = 120) -> list[float]:
    """Each worker's RSS once every worker has imported the application (unchanged over 1.5 s): the master
    listens before its workers are ready, which takes a while on a loaded machine."""
    deadline = time.monotonic() + timeout
    samples: list[list[float]] = []
    while time.monotonic() < deadline:
        samples.append(worker_rss_mb(master_pid))
        recent = samples[-4:]
        if len(recent) == 4 and len(recent[0]) == workers and all(s == recent[0] for s in recent):
            return recent[0]
        time.sleep(0.5)
    raise RuntimeError(f"gunicorn workers still starting after {timeout:.0f} s: {samples[-4:]}")


def database_figures(database: Path) -> tuple[int, int]:
    """(customers, bytes of precomputed-list payloads) in the served database."""
    with sqlite3.connect(database) as conn:
        customers = conn.execute("SELECT COUNT(*) FROM shop_customer").fetchone()[0]
        payload = conn.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM recommender_precomputedlist").fetchone()
    return customers, payload[0]


def make_api_key(env: dict[str, str]) -> str:
    code = (
        "from shop.models import ApiClient, hash_api_key\n"
        "raw = ApiClient.generate_key()\n"
        "ApiClient.objects.update_or_create(name='bench-serving', defaults={'key_prefix': raw[:8], "
        "'key_hash': hash_api_key(raw), 'is_active': True})\n"
        "print(raw)\n"
    )
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def customer_ids(database: Path, *, count: int, seed: int) -> list[str]:
    with sqlite3.connect(database) as conn:
        ids = [r[0] for r in conn.execute("SELECT external_id FROM shop_customer ORDER BY id")]
    rng = random.Random(seed)
    return rng.sample(ids, min(count, len(ids)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--saturation-seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="gthread workers keep connections alive")
    parser.add_argument("--customers", type=int, default=0, help="grow the served database to this many customers")
    parser.add_argument(
        "--memory-only",
        action="store_true",
        help="only the workers' memory: boot, first request, then --seconds of closed-loop requests (no latency runs)",
    )
    args = parser.parse_args()

    env = trained_database(args.customers)
    database = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    n_customers, list_bytes = database_figures(database)
    key = make_api_key(env)
    server_env = dict(
        env,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="bench-only-secret-key-not-for-production-use-0123456789",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_COOKIES="0",
        # Plain HTTP on 127.0.0.1, and one key sending far more than a client's default rate: measured as such.
        DJANGO_SECURE_SSL_REDIRECT="0",
        API_THROTTLE_RATE="100000000/minute",
        LOG_LEVEL="WARNING",
    )
    # A known customer mix: mostly customers the model knows, a few unknown ids (the cold-start path).
    known = customer_ids(database, count=5000, seed=7)
    rec_paths = [f"/api/v1/recommendations/{c}?n=10" for c in known]
    rec_paths[::50] = [f"/api/v1/recommendations/unknown-{i}?n=10" for i in range(len(rec_paths[::50]))]
    headers = f"Authorization: Api-Key {key}\r\n".encode()

    p50s, p99s, errs, rec_rps, live_rps, ratios, live_cpu, rec_cpu = [], [], [], [], [], [], [], []
    proc, port = start_gunicorn(server_env, workers=args.workers, threads=args.threads)
    try:
        rss_started = booted_worker_rss_mb(proc.pid, args.workers)
        first_started = time.perf_counter()
        first = asyncio.run(open_loop("127.0.0.1", port, rec_paths[:1], headers, rate=1, seconds=1))
        first_ms = (time.perf_counter() - first_started) * 1000
        if first[1]:
            print(f"the first request failed; server log: {list(proc.server_log)}", file=sys.stderr)
        # Warm both workers (model load, connections) before measuring.
        asyncio.run(closed_loop("127.0.0.1", port, rec_paths, headers, concurrency=4, seconds=3))
        if args.memory_only:
            rps, errors = asyncio.run(
                closed_loop("127.0.0.1", port, rec_paths, headers, concurrency=4, seconds=args.seconds)
            )
            rss_loaded = worker_rss_mb(proc.pid)
            size = f"{n_customers:,} customers ({list_bytes / 1e6:.0f} MB of lists in the database)"
            served = f"{rps * args.seconds:,.0f} requests over {len(rec_paths):,} sampled customers, {errors} errors"
            emit(
                [
                    row(BENCH, "worker RSS once started", max(rss_started), "MB", "", None, size),
                    row(BENCH, "worker RSS after the load", max(rss_loaded), "MB", "", None, f"{size}; {served}"),
                    row(BENCH, "first request (loads the model)", first_ms, "ms", "", None, size),
                ]
            )
            return
        for _ in range(args.repeats):
            lat, err = asyncio.run(
                open_loop("127.0.0.1", port, rec_paths, headers, rate=args.rate, seconds=args.seconds)
            )
            p50s.append(percentile(lat, 0.50) * 1000)
            p99s.append(percentile(lat, 0.99) * 1000)
            errs.append(err)
            sat = saturation_pair(
                proc.pid, port, rec_paths, headers, concurrency=args.concurrency, seconds=args.saturation_seconds
            )
            live, rec = sat["live"]["rps"], sat["rec"]["rps"]
            errs[-1] += sat["live"]["errors"] + sat["rec"]["errors"]
            live_rps.append(live)
            rec_rps.append(rec)
            ratios.append(rec / live)
            live_cpu.append(sat["live"]["cpu_us"])
            rec_cpu.append(sat["rec"]["cpu_us"])
            print(
                f"p50 {p50s[-1]:.2f} ms  p99 {p99s[-1]:.2f} ms  errors {errs[-1]}  "
                f"rec {rec:.0f}/s  live {live:.0f}/s  ratio {rec / live:.2f}  "
                f"server CPU/request live {live_cpu[-1]:.0f} us rec {rec_cpu[-1]:.0f} us",
                file=sys.stderr,
            )
        rss_loaded = worker_rss_mb(proc.pid)
    finally:
        stop_gunicorn(proc)

    load = os.getloadavg()[0]
    size = f"{n_customers:,} customers ({list_bytes / 1e6:.0f} MB of lists in the database)"
    print(f"worker RSS started {rss_started} MB, after the load {rss_loaded} MB; {size}", file=sys.stderr)
    setup = f"{args.workers} workers x {args.threads} threads, median of {args.repeats}; load average {load:.1f}"
    emit(
        [
            row(BENCH, f"p50 at {args.rate:.0f} req/s", median(p50s), "ms", "<= 5", median(p50s) <= 5, setup),
            row(BENCH, f"p99 at {args.rate:.0f} req/s", median(p99s), "ms", "<= 20", median(p99s) <= 20, setup),
            row(BENCH, "errors", max(errs), "count", "0", max(errs) == 0, "worst run"),
            row(BENCH, "saturation recommendations", median(rec_rps), "req/s", "", None, f"{args.concurrency} conns"),
            row(BENCH, "saturation /health/live", median(live_rps), "req/s", "", None, f"{args.concurrency} conns"),
            row(BENCH, "recommendations / live", median(ratios), "ratio", ">= 0.70", median(ratios) >= 0.70),
            row(BENCH, "server CPU per request /health/live", median(live_cpu), "us", "", None, "gunicorn processes"),
            row(BENCH, "server CPU per request recommendations", median(rec_cpu), "us", "", None, "gunicorn processes"),
            row(BENCH, "worker RSS once started", max(rss_started), "MB", "", None, size),
            row(
                BENCH,
                "worker RSS after the load",
                max(rss_loaded),
                "MB",
                "",
                None,
                f"largest of {args.workers}; {size}",
            ),
            row(BENCH, "first request (loads the model)", first_ms, "ms", "", None, size),
            row(
                BENCH,
                "live / recommendations CPU per request",
                median(live_cpu) / median(rec_cpu),
                "ratio",
                "",
                None,
                "the throughput ratio a server-bound machine would show",
            ),
        ]
    )


if __name__ == "__main__":
    main()
