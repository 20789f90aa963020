"""Segmentation end to end: `run_segmentation --method kmeans --json` (auto k) on 100,000 demo customers
(about 2 million interactions), and `run_segmentation --method rfm` on the imported Online Retail file.

The databases are built once into tests/benchmarks/.work/ (keyed by size and seed, or by the file) and
reused; every measured run works on a fresh copy, in its own process, so the time covers everything a
user waits for: Django start-up, the database reads, features, the model, memberships, profiles and names
written, the atomic switch. Beside it, the clustering alone (the feature pipeline and K-means on the
in-memory matrix, from the run's own timings) shows what the database costs.

Targets: K-means <= 60 s and <= 2 GB peak resident memory; RFM on Online Retail <= 10 s. Medians of
--repeats runs (default 3); the first K-means run on a copy has no previous run, later ones also compare
with the previous run (ARI, movement, renames), as a scheduled re-run does.

    .venv/bin/python tests/benchmarks/bench_segments.py [--json] [--repeats 3] [--customers 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import (
    DATASETS,
    PYTHON,
    ROOT,
    WORK,
    bench_env,
    emit,
    fresh_sqlite,
    median,
    row,
    run_measured,
)

CUSTOMERS = 100_000
SEED = 1
ONLINE_RETAIL = DATASETS / "online-retail" / "OnlineRetail.csv.gz"
KMEANS_TARGET_SECONDS, KMEANS_TARGET_MB, RFM_TARGET_SECONDS = 60.0, 2048.0, 10.0


def _checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def cached_database(name: str, build: list[list[str]]) -> Path:
    """WORK/<name>.sqlite3, built by running the `build` commands on a fresh migrated database the first time."""
    path, done = WORK / f"{name}.sqlite3", WORK / f"{name}.done"
    if path.exists() and done.exists():
        return path
    env = fresh_sqlite(name)
    for command in build:
        print(f"building {name}: {' '.join(command)}", file=sys.stderr, flush=True)
        subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    _checkpoint(path)
    done.write_text("ok\n")
    return path


def working_copy(source: Path, name: str) -> dict[str, str]:
    target = WORK / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)
    env = bench_env(DATABASE_URL=f"sqlite:///{target}", DJANGO_MEDIA_ROOT=str(WORK / f"{name}-media"))
    # Migrations added since the database was cached, outside the measurement.
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    return env


def run_timings(env: dict[str, str], run_id: int) -> dict:
    code = (
        "import json; from segments.models import SegmentationRun as R; "
        f"print(json.dumps(R.objects.get(pk={run_id}).timings))"
    )
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_kmeans(*, customers: int, seed: int, repeats: int) -> list[dict]:
    source = cached_database(
        f"segments-demo-{customers}-s{seed}",
        [
            [
                PYTHON,
                "manage.py",
                "generate_demo_data",
                "--customers",
                str(customers),
                "--seed",
                str(seed),
                "--no-progress",
            ]
        ],
    )
    env = working_copy(source, "segments-kmeans")
    seconds, peaks, clustering, ks = [], [], [], []
    for i in range(repeats):
        result = run_measured(
            [PYTHON, "manage.py", "run_segmentation", "--method", "kmeans", "--json", "-v", "0"], env=env
        )
        summary = json.loads(result["stdout"])
        timings = run_timings(env, summary["run"])
        seconds.append(result["seconds"])
        peaks.append(result["peak_mb"])
        clustering.append(timings.get("matrix", 0.0) + timings.get("model", 0.0))
        ks.append(summary["metrics"]["k"])
        print(
            f"kmeans run {i + 1}: {result['seconds']:.1f} s, {result['peak_mb']:.0f} MB, k={summary['metrics']['k']}, "
            f"silhouette {summary['metrics']['silhouette']:.3f}, timings {timings}",
            file=sys.stderr,
            flush=True,
        )
    bench = f"run_segmentation kmeans, {customers:,} demo customers"
    wall, peak = median(seconds), median(peaks)
    note = f"auto k (chose {', '.join(map(str, ks))}); median of {repeats}"
    return [
        row(bench, "end to end", wall, "s", f"<= {KMEANS_TARGET_SECONDS:.0f} s", wall <= KMEANS_TARGET_SECONDS, note),
        row(bench, "peak memory", peak, "MB", f"<= {KMEANS_TARGET_MB:.0f} MB", peak <= KMEANS_TARGET_MB, note),
        row(
            bench,
            "clustering alone (in memory)",
            median(clustering),
            "s",
            "",
            None,
            "feature pipeline + choose k + fit",
        ),
    ]


def bench_rfm(*, repeats: int) -> list[dict]:
    bench = "run_segmentation rfm, Online Retail"
    if not ONLINE_RETAIL.exists():
        return [
            row(
                bench,
                "end to end",
                0.0,
                "s",
                f"<= {RFM_TARGET_SECONDS:.0f} s",
                None,
                f"skipped: {ONLINE_RETAIL} absent",
            )
        ]
    source = cached_database(
        "segments-online-retail", [[PYTHON, "manage.py", "import_online_retail", str(ONLINE_RETAIL)]]
    )
    env = working_copy(source, "segments-rfm")
    seconds, sizes = [], []
    for i in range(repeats):
        result = run_measured(
            [PYTHON, "manage.py", "run_segmentation", "--method", "rfm", "--json", "-v", "0"], env=env
        )
        summary = json.loads(result["stdout"])
        timings = run_timings(env, summary["run"])
        seconds.append(result["seconds"])
        sizes.append(sum(s["size"] for s in summary["segments"]))
        print(
            f"rfm run {i + 1}: {result['seconds']:.1f} s, {result['peak_mb']:.0f} MB, timings {timings}",
            file=sys.stderr,
            flush=True,
        )
    wall = median(seconds)
    note = f"{sizes[-1]:,} customers in segments; median of {repeats}"
    return [row(bench, "end to end", wall, "s", f"<= {RFM_TARGET_SECONDS:.0f} s", wall <= RFM_TARGET_SECONDS, note)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--only", choices=["kmeans", "rfm"])
    args = parser.parse_args()
    rows: list[dict] = []
    if args.only in (None, "kmeans"):
        rows += bench_kmeans(customers=args.customers, seed=args.seed, repeats=args.repeats)
    if args.only in (None, "rfm"):
        rows += bench_rfm(repeats=args.repeats)
    emit(rows)


if __name__ == "__main__":
    main()
