"""generate_demo_data into a fresh SQLite file: wall time, CPU time and peak memory for 5,000 and 100,000 customers.

Target (issue 2, item 4): 100,000 customers (about 2 million interactions) "in minutes, not hours"; our own bar is
under 3 minutes on this 2-core machine. CPU seconds are reported beside the wall time because the wall time
stretches when other processes share the cores. Sizes: BENCH_DEMO_CUSTOMERS (default "5000,100000").
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import PYTHON, emit, fresh_sqlite, row, run_measured

SIZES = [int(n) for n in os.environ.get("BENCH_DEMO_CUSTOMERS", "5000,100000").split(",")]
TARGET_SECONDS = {100_000: 180}


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(customers: int) -> list[dict]:
    env = fresh_sqlite(f"demo-{customers}")
    cmd = [PYTHON, "manage.py", "generate_demo_data", "--customers", str(customers), "--seed", "1", "--json"]
    cpu_before = children_cpu_seconds()
    result = run_measured(cmd, env=env)
    cpu = children_cpu_seconds() - cpu_before
    summary = json.loads(result["stdout"].strip().splitlines()[-1])
    name = f"generate_demo_data {customers:,} customers"
    target = TARGET_SECONDS.get(customers)
    wall = result["seconds"]
    return [
        row(
            name,
            "wall time",
            wall,
            "s",
            f"<= {target} s" if target else "",
            (wall <= target) if target else None,
            f"{summary['interactions']:,} interactions, {summary['orders']:,} orders",
        ),
        row(name, "CPU time (user + sys)", cpu, "s"),
        row(name, "generate (numpy / pandas)", float(summary["generate_seconds"]), "s"),
        row(name, "write (SQLite)", float(summary["write_seconds"]), "s"),
        row(name, "peak memory", result["peak_mb"], "MB"),
        row(name, "interactions written per second", summary["interactions"] / summary["write_seconds"], "rows/s"),
    ]


def main() -> None:
    rows: list[dict] = []
    for customers in SIZES:
        rows.extend(measure(customers))
    emit(rows)


if __name__ == "__main__":
    main()
