"""Run tests/benchmarks/bench_*.py, each in its own process, and write results.md.

`run.py` runs them all; `run.py import events` runs the scripts whose names contain those words.
Each script's rows are kept in .work/results/<script>.json with the time and load it ran at, so
results.md always shows the latest figures of every benchmark, however they were run.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = HERE / ".work" / "results"


def run_script(script: Path) -> str | None:
    """Run one benchmark script; store its rows. Returns an error text when it failed."""
    print(f"== {script.name}", flush=True)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), "--json"], cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return f"{script.name}: exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}"
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in rows:
        print(f"   {r['metric']}: {r['value']} {r['unit']} (target {r['target'] or '-'})")
    print(f"   ({took:.0f} s)", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "script": script.name,
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_before": round(load_before, 2),
        "seconds": round(took),
        "rows": rows,
    }
    (RESULTS / f"{script.stem}.json").write_text(json.dumps(record, indent=1))
    return None


def previous_results(path: Path) -> tuple[list[str], list[str]]:
    """The table rows and run lines of an earlier results.md (empty when there is none)."""
    if not path.exists():
        return [], []
    text = path.read_text().splitlines()
    rows = [line for line in text if line.startswith("| ") and not line.startswith("| benchmark |")]
    runs = [line for line in text if line.startswith("- `bench_")]
    return rows, runs


def write_results() -> Path:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}). "
        "Each benchmark's latest run; the machine's 1-minute load average when it started is beside it, "
        "since these machines are shared.",
        "",
        "| benchmark | metric | value | unit | target | met | note |",
        "|---|---|---|---|---|---|---|",
    ]
    out = HERE / "results.md"
    kept_rows, kept_runs = previous_results(out)
    runs = []
    fresh_benchmarks = set()
    for path in sorted(RESULTS.glob("bench_*.json")):
        record = json.loads(path.read_text())
        runs.append(
            f"- `{record['script']}`: {record['finished']}, load {record['load_average_before']}, {record['seconds']} s"
        )
        for r in record["rows"]:
            fresh_benchmarks.add(str(r["benchmark"]).replace("|", "/"))
            met = {True: "yes", False: "**no**", None: ""}[r.get("passed")]
            cells = [r["benchmark"], r["metric"], r["value"], r["unit"], r.get("target", ""), met, r.get("note", "")]
            lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    scripts = {json.loads(path.read_text())["script"] for path in RESULTS.glob("bench_*.json")}
    # Rows of benchmarks not run on this machine stay as they were, so one run never drops another's figures.
    lines[6:6] = [row for row in kept_rows if row.split(" | ")[0].removeprefix("| ") not in fresh_benchmarks]
    runs = [run for run in kept_runs if run.split("`")[1] not in scripts] + runs
    lines += ["", "## Runs", "", *sorted(runs)]
    out.write_text("\n".join(lines) + "\n")
    return out


def main() -> int:
    only = sys.argv[1:]
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not only or any(o in p.stem for o in only))
    failures = [error for script in scripts if (error := run_script(script))]
    print(f"wrote {write_results()}")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
