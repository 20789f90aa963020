"""`train_recommender --no-search --json` end to end on about a million interactions (MovieLens-1M-sized demo data).

`--no-search`: the algorithm's default settings (a fresh database has no search to reuse), so the figure is
the training itself; the nightly default adds a settings search of at most RECOMMENDER_SEARCH_SECONDS
(300 CPU seconds) when the latest one is missing or stale.

The demo database (`generate_demo_data --customers 50000 --seed 1`) is generated once into
tests/benchmarks/.work/ and reused while its size and seed stay the same; each measured run trains on a
copy of it, in its own process: database read, holdout evaluation, fit, precomputed top-N lists,
artifact. Targets: <= 90 s wall and <= 4 GB peak resident memory. The trained copy is kept for
bench_recommender_serving.py.

    .venv/bin/python tests/benchmarks/bench_recommender_train.py [--json] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import PYTHON, ROOT, WORK, bench_env, emit, fresh_sqlite, median, row, run_measured

BENCH = "train_recommender (~1M interactions)"
CUSTOMERS = 50_000
SEED = 1


def demo_database(*, customers: int = CUSTOMERS, seed: int = SEED) -> Path:
    """The generated demo database for this size and seed, built on first use."""
    name = f"demo-{customers}-s{seed}"
    path = WORK / f"{name}.sqlite3"
    if path.exists() and (WORK / f"{name}.done").exists():
        return path
    env = fresh_sqlite(name)
    subprocess.run(
        [PYTHON, "manage.py", "generate_demo_data", "--customers", str(customers), "--seed", str(seed)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (WORK / f"{name}.done").write_text("ok\n")
    return path


def copy_database(source: Path, name: str) -> dict[str, str]:
    """A private copy of `source` (so training runs never touch the cached original) and its environment."""
    target = WORK / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)
    media = WORK / f"{name}-media"
    shutil.rmtree(media, ignore_errors=True)
    return bench_env(DATABASE_URL=f"sqlite:///{target}", DJANGO_MEDIA_ROOT=str(media))


def trained_env() -> dict[str, str]:
    """Environment of a trained copy of the demo database (for the serving benchmark); trains if needed."""
    target = WORK / "serving.sqlite3"
    media = WORK / "serving-media"
    env = bench_env(DATABASE_URL=f"sqlite:///{target}", DJANGO_MEDIA_ROOT=str(media))
    if target.exists() and (WORK / "serving.done").exists():
        # Migrations added since it was trained, so the served schema matches the code.
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        return env
    env = copy_database(demo_database(), "serving")
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [PYTHON, "manage.py", "train_recommender", "--no-search", "--json"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (WORK / "serving.done").write_text("ok\n")
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    source = demo_database()
    seconds, peaks, summaries = [], [], []
    for i in range(args.repeats):
        env = copy_database(source, f"train-{i}")
        # Migrations of apps added since the database was cached, outside the measurement.
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        result = run_measured([PYTHON, "manage.py", "train_recommender", "--no-search", "--json"], env=env)
        summary = json.loads(result["stdout"])
        if summary["status"] != "succeeded":
            raise SystemExit(f"training failed: {summary['error']}")
        seconds.append(result["seconds"])
        peaks.append(result["peak_mb"])
        summaries.append(summary)
        print(
            f"run {i + 1}: {result['seconds']:.1f} s, {result['peak_mb']:.0f} MB, {summary['algorithm']}, "
            f"{summary['data']}, {summary['metrics']}",
            file=sys.stderr,
        )
        shutil.rmtree(WORK / f"train-{i}-media", ignore_errors=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{WORK / f'train-{i}.sqlite3'}{suffix}").unlink(missing_ok=True)
    last = summaries[-1]
    data = last["data"]
    note = (
        f"load average {os.getloadavg()[0]:.1f}; {last['algorithm']}, {data['users']} customers x "
        f"{data['items']} products, {data['interactions']} interactions; median of {args.repeats}"
    )
    emit(
        [
            row(BENCH, "wall time", median(seconds), "s", "<= 90", median(seconds) <= 90, note),
            row(BENCH, "peak memory", median(peaks), "MB", "<= 4096", median(peaks) <= 4096, note),
            row(BENCH, "holdout nDCG@10", last["metrics"].get("ndcg@10", 0.0), "", "", None, "per-customer 75/25"),
        ]
    )


if __name__ == "__main__":
    main()
