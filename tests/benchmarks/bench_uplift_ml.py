"""Campaign measurement science, without the database: the uplift table and the uplift model.

- `campaign_uplift_table` on a 100,000-recipient campaign (control and two variants) broken down by 10
  segments plus unknown: target <= 1 s (the report command's budget is 2 s, database included).
- `fit_uplift` end to end (splits, every candidate learner tried and tuned, refit, held-out evaluation) on
  100,000 simulated recipients with a known effect: target <= 60 s; its held-out Qini and uplift at 30 %
  beside the Qini the true effect itself reaches on the same split.
- `fit_uplift` on the Artea coupon experiment (5,000 customers), held-out Qini and uplift at 10 / 30 %
  against random targeting, when ../shared/datasets/artea is present.

Each measurement runs in this process after a warm-up import; wall times are medians of --repeats runs,
with the CPU seconds beside them (on a busy shared machine the wall time is several times the CPU time).

    .venv/bin/python tests/benchmarks/bench_uplift_ml.py [--json] [--repeats 3] [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from marketing.ml.stats import campaign_uplift_table
from marketing.ml.synthetic import synthetic_campaign
from marketing.ml.uplift import fit_uplift
from marketing.ml.uplift_metrics import qini_auc_score, uplift_at_k
from tests.benchmarks.common import DATASETS, emit, median, row

ARTEA = DATASETS / "artea" / "artea-ab-experiment.csv"
ARTEA_FEATURES = [
    "channel_acq",
    "num_past_purch",
    "spent_last_purchase",
    "weeks_since_visit",
    "browsing_minutes",
    "shopping_cart",
]


def table_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["control", "10% off", "free shipping"], rows, p=[0.2, 0.4, 0.4])
    segment = pd.Series(rng.choice([f"segment {i}" for i in range(10)], rows), dtype=object)
    converted = rng.random(rows) < np.where(group == "control", 0.05, 0.06)
    return pd.DataFrame(
        {
            "group": group,
            "segment": segment.where(rng.random(rows) > 0.02, None),
            "converted": converted.astype(int),
            "revenue": np.where(converted, rng.lognormal(3.5, 1.0, rows), 0.0),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    rows = []

    frame = table_frame(args.rows)
    kwargs = {"group_col": "group", "control": "control", "conversion_col": "converted", "revenue_col": "revenue"}
    campaign_uplift_table(frame.head(1000), **kwargs, by="segment")  # warm-up: imports, first calls
    seconds, cpu = [], []
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        campaign_uplift_table(frame, **kwargs, by="segment")
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    took = median(seconds)
    note = f"{args.rows:,} recipients, 2 variants, 11 segments; {median(cpu):.2f} s CPU; load {os.getloadavg()[0]:.1f}"
    rows.append(row("campaign_uplift_table", "wall time", took, "s", "<= 1", took <= 1, note))

    campaign = synthetic_campaign(args.rows, seed=1)
    seconds, cpu, result = [], [], None
    for _ in range(args.repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fit_uplift(campaign.features, campaign.treatment, campaign.converted, seed=0)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        print(
            f"fit_uplift: {seconds[-1]:.1f} s ({cpu[-1]:.1f} s CPU), {result.learner}, {result.metrics}",
            file=sys.stderr,
        )
    took = median(seconds)
    held_out = result.holdout_rows
    truth = (campaign.converted[held_out], campaign.true_uplift[held_out], campaign.treatment[held_out])
    oracle_qini, oracle_at_30 = qini_auc_score(*truth), uplift_at_k(*truth, k=0.3)
    m = result.metrics
    note = (
        f"{args.rows:,} simulated recipients, {median(cpu):.1f} s CPU, chosen {result.learner}; "
        f"load {os.getloadavg()[0]:.1f}"
    )
    rows += [
        row("fit_uplift (simulated)", "wall time", took, "s", "<= 60", took <= 60, note),
        row("fit_uplift (simulated)", "held-out Qini", m["qini"], "", "> 0", m["qini"] > 0, "0 = random targeting"),
        row(
            "fit_uplift (simulated)",
            "held-out uplift at 30 %",
            m["uplift_at_30"],
            "",
            "",
            None,
            f"random {m['random_uplift']:.4f}; at 10 % {m['uplift_at_10']:.4f}",
        ),
        row(
            "fit_uplift (simulated)",
            "true effect's held-out Qini",
            oracle_qini,
            "",
            "",
            None,
            f"the best any model can expect; true effect's uplift at 30 % {oracle_at_30:.4f}",
        ),
    ]

    if ARTEA.exists():
        artea = pd.read_csv(ARTEA)
        X = artea[ARTEA_FEATURES].astype({"channel_acq": str})
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fit_uplift(X, artea["test_coupon"].to_numpy(), artea["trans_after"].to_numpy(), seed=0)
        took, took_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        m = result.metrics
        note = (
            f"5,000 customers, held-out {m['holdout_recipients']}; chosen {result.learner}; "
            f"uplift at 10 % {m['uplift_at_10']:.4f}, at 30 % {m['uplift_at_30']:.4f}, random {m['random_uplift']:.4f}"
        )
        rows += [
            row(
                "fit_uplift (Artea)",
                "wall time",
                took,
                "s",
                "",
                None,
                f"{took_cpu:.1f} s CPU; load {os.getloadavg()[0]:.1f}",
            ),
            row("fit_uplift (Artea)", "held-out Qini", m["qini"], "", "", None, note),
        ]
    emit(rows)


if __name__ == "__main__":
    main()
