"""import_online_retail of the UCI Online Retail file into a fresh SQLite: wall seconds, peak memory, line accounting.

Each run: a fresh migrated SQLite file, then `manage.py import_online_retail FILE --json` in its own process
(measured alone: wall time and the child's peak resident memory). The median of RUNS runs is reported against
the targets (<= 30 s, <= 1.5 GB on the 2-core reference machine), with the load average, since the wall time
depends on what else the machine runs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.common import DATASETS, PYTHON, emit, fresh_sqlite, median, row, run_measured

RUNS = int(os.environ.get("BENCH_IMPORT_RUNS", "3"))
FILE = DATASETS / "online-retail" / "OnlineRetail.csv.gz"
TARGET_SECONDS = 30.0
TARGET_PEAK_MB = 1536.0
NAME = "import_online_retail"


def main() -> None:
    if not FILE.exists():
        emit([row(NAME, "skipped", 0, "", note=f"{FILE} not found (see ../shared/datasets/README.md)")])
        return
    runs = []
    for number in range(RUNS):
        env = fresh_sqlite(f"import-{number}")
        result = run_measured(
            [PYTHON, "manage.py", "import_online_retail", str(FILE), "--json", "--no-progress"], env=env
        )
        report = json.loads(result["stdout"])
        runs.append((result, report))
        print(f"run {number + 1}: {result['seconds']:.1f} s, {result['peak_mb']:.0f} MB", file=sys.stderr)

    seconds = median([result["seconds"] for result, _ in runs])
    peak = median([result["peak_mb"] for result, _ in runs])
    report = runs[-1][1]
    cpu = report["details"].get("stage_cpu_seconds", {})
    stages = ", ".join(
        f"{name} {value:.1f} ({cpu.get(name, 0):.1f} CPU)"
        for name, value in report["details"].get("stage_seconds", {}).items()
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    skipped = report["skipped_by_reason"]
    emit(
        [
            row(NAME, "wall seconds (median)", seconds, "s", f"<= {TARGET_SECONDS:.0f}", seconds <= TARGET_SECONDS,
                f"{RUNS} runs, fresh SQLite each; last run's stages, wall s (CPU s): {stages}; load average {load}"),
            row(NAME, "import CPU seconds (median)", median([r["cpu_seconds"] for _, r in runs]), "s", "", None,
                "the importer's own process time, without Django start-up; wall minus this is waiting for a core"),
            row(NAME, "peak memory (median)", peak, "MB", f"<= {TARGET_PEAK_MB:.0f}", peak <= TARGET_PEAK_MB),
            row(NAME, "lines read", report["rows_read"], "lines", "541909", report["rows_read"] == 541_909),
            row(NAME, "lines imported", report["imported"], "lines", "", None,
                f"{report['objects']['customers']['created']} customers, "
                f"{report['objects']['products']['created']} products"),
            row(NAME, "lines skipped", report["skipped"], "lines", "imported + skipped = read", report["accounted"],
                ", ".join(f"{reason} {count}" for reason, count in skipped.items())),
            row(NAME, "exact duplicate lines", report["duplicates"], "lines", "5268", report["duplicates"] == 5_268),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
