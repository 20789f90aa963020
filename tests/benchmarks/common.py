"""Helpers for the benchmark scripts: wall time and peak memory of a child process, medians.

Each `bench_*.py` script in this folder prints, with `--json`, one JSON list of rows:
{"benchmark": str, "metric": str, "value": number, "unit": str, "target": str, "passed": bool | None, "note": str}
`run.py` runs every script in its own process and writes results.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT.parent / "shared" / "datasets"
WORK = ROOT / "tests" / "benchmarks" / ".work"
PYTHON = sys.executable


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    env.update(extra)
    return env


def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path = ROOT) -> dict:
    """Run `cmd` to completion; its wall and CPU seconds, peak resident memory (MB), stdout and stderr.

    Peak memory comes from wait4's rusage of that one child, so each call is measured alone.
    """
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env or bench_env(), stdout=out_file, stderr=err_file)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    return {
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "stdout": out.decode(),
        "stderr": err.decode(),
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def fresh_sqlite(name: str) -> dict[str, str]:
    """Environment pointing Django at a new, migrated SQLite file in the bench work folder."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    env = bench_env(DATABASE_URL=f"sqlite:///{path}", DJANGO_MEDIA_ROOT=str(WORK / f"{name}-media"))
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    return env


def row(
    benchmark: str, metric: str, value: float, unit: str, target: str = "", passed: bool | None = None, note: str = ""
) -> dict:
    return {
        "benchmark": benchmark,
        "metric": metric,
        "value": round(value, 4) if isinstance(value, float) else value,
        "unit": unit,
        "target": target,
        "passed": passed,
        "note": note,
    }


def emit(rows: list[dict]) -> None:
    if "--json" in sys.argv:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['benchmark']:<40} {r['metric']:<30} {r['value']!s:>12} {r['unit']:<6} {r['target']}")
