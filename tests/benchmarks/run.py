"""Run every tests/benchmarks/bench_*.py in its own process and write results.md."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main() -> int:
    only = sys.argv[1:]
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not only or any(o in p.stem for o in only))
    rows: list[dict] = []
    failures: list[str] = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), "--json"], cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - start
        if proc.returncode != 0:
            failures.append(f"{script.name}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
            print(proc.stderr[-2000:], file=sys.stderr)
            continue
        script_rows = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.extend(script_rows)
        for r in script_rows:
            print(f"   {r['metric']}: {r['value']} {r['unit']} (target {r['target'] or '-'})")
        print(f"   ({took:.0f} s)")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"Python {platform.python_version()}, {platform.machine()}.",
        "",
        "| benchmark | metric | value | unit | target | met | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = {True: "yes", False: "**no**", None: ""}[r.get("passed")]
        cells = [r["benchmark"], r["metric"], r["value"], r["unit"], r.get("target", ""), met, r.get("note", "")]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if failures:
        lines += ["", "## Failed to run", ""] + [f"- {f.splitlines()[0]}" for f in failures]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'results.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
