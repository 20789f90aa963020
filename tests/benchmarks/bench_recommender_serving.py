"""GET /api/v1/recommendations/{external_id} under gunicorn: fixed-rate latency and saturation throughput.

1. The trained database of bench_recommender_train.py (built here if missing).
2. gunicorn on 127.0.0.1 (a free port, 2 workers, production settings, DEBUG off), stopped by its pid.
3. Open loop: requests scheduled at a fixed rate (200/s for 30 s); each latency counts from the request's
   SCHEDULED time, so a stalled server cannot hide its queue (no coordinated omission).
4. Closed loop: C connections each sending the next request when the last answered, 10 s each for the
   recommendations endpoint and for /health/live (a plain Django view, no database), in alternating
   one-second slices of the same run so the machine's other load weighs on both alike.
Each measurement is repeated 3 times; the table reports medians.

    .venv/bin/python tests/benchmarks/bench_recommender_serving.py [--json] [--rate 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import PYTHON, ROOT, emit, median, row

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


def trained_database() -> dict[str, str]:
    """The environment of the trained benchmark database (trains it via the training benchmark if needed)."""
    from tests.benchmarks import bench_recommender_train as train_bench

    env = train_bench.trained_env()
    return env


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
    args = parser.parse_args()

    env = trained_database()
    database = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
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
        # Warm both workers (model load, connections) before measuring.
        asyncio.run(closed_loop("127.0.0.1", port, rec_paths, headers, concurrency=4, seconds=3))
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
    finally:
        stop_gunicorn(proc)

    load = os.getloadavg()[0]
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
