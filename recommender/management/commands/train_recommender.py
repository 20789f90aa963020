"""python manage.py train_recommender [--algorithm NAME] [--search | --no-search] [--queue] [--json]"""

from __future__ import annotations

import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recommender.ml.registry import ALGORITHMS
from recommender.models import TrainingRun
from recommender.services import train_model


def run_summary(run: TrainingRun) -> dict:
    return {
        "run": run.pk,
        "algorithm": run.algorithm,
        "status": run.status,
        "is_active": run.is_active,
        "decision": run.decision,
        "parameters": run.parameters,
        "search": run.search,
        "data": {"users": run.n_users, "items": run.n_items, "interactions": run.n_interactions},
        "metrics": run.metrics,
        "duration_seconds": round(run.duration_seconds or 0.0, 3),
        "artifact": run.artifact_path,
        "sha256": run.artifact_sha256,
        "error": run.error.splitlines()[0] if run.error else "",
    }


def settings_source(search: dict) -> str:
    """Where a run's parameters came from, in words."""
    source = search.get("source")
    if source == "search":
        return (
            f"searched on validation: nDCG@10 {search.get('validation_ndcg')}, "
            f"{search.get('search_evaluations', 0)} settings tried, {search.get('cpu_seconds')} CPU s"
        )
    if source == "run":
        return f"as searched for run #{search.get('run')}"
    if source == "given":
        return "given"
    return "defaults"


class Command(BaseCommand):
    help = (
        "Train a recommendation model now (synchronously): read interactions, evaluate on a holdout, fit, "
        "write the artifact; it becomes active if its nDCG@10 is within the promotion tolerance of the active one."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--algorithm",
            choices=sorted(ALGORITHMS),
            help="Default: chosen by size (EASE up to ~20k products, ALS above, popularity with almost no data).",
        )
        searching = parser.add_mutually_exclusive_group()
        searching.add_argument(
            "--search",
            dest="search",
            action="store_const",
            const=True,
            help="Search the algorithm's settings on validation splits of the data now (bounded by "
            "RECOMMENDER_SEARCH_SECONDS CPU seconds) and train with them.",
        )
        searching.add_argument(
            "--no-search",
            dest="search",
            action="store_const",
            const=False,
            help="Train with the settings the algorithm's latest search picked (its defaults if it never had one).",
        )
        parser.set_defaults(search=None)  # neither: search when the latest search is missing or stale
        parser.add_argument("--json", action="store_true", help="Print one JSON summary on stdout and nothing else.")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Queue the run for a Celery worker instead of training here (fails at once if the broker is down).",
        )

    def handle(self, *args, **options):
        if options["queue"]:
            return self._queue(options)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        current = {"step": "", "at": started}
        bar = tqdm(total=100, file=sys.stderr, unit="%", bar_format="{desc:<28} {bar} {n_fmt}%", leave=False)

        def progress(step: str, fraction: float) -> None:
            now = time.perf_counter()
            if current["step"]:
                timings[current["step"]] = round(now - current["at"], 3)
            current.update(step=step, at=now)
            bar.set_description_str(step)
            bar.update(max(0, round(fraction * 100) - bar.n))

        try:
            run = train_model(algorithm=options["algorithm"], search=options["search"], progress=progress)
        finally:
            bar.close()
        summary = run_summary(run)
        summary["step_seconds"] = timings
        summary["wall_seconds"] = round(time.perf_counter() - started, 3)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            metrics = ", ".join(f"{k} {v}" for k, v in run.metrics.items())
            self.stdout.write(
                f"run #{run.pk} {run.algorithm}: {run.status} in {summary['duration_seconds']} s; {metrics}\n"
                f"parameters {run.parameters} ({settings_source(run.search)})\n"
                f"{run.decision or summary['error']}"
            )
        if run.status == TrainingRun.Status.FAILED:
            raise CommandError(f"training failed: {summary['error']}")

    def _queue(self, options) -> None:
        from config.jobs import QueueUnavailable
        from recommender.services import queue_training

        try:
            run = queue_training(algorithm=options["algorithm"], search=options["search"])
        except QueueUnavailable as exc:
            raise CommandError(str(exc)) from None
        run.refresh_from_db()
        if options["json"]:
            self.stdout.write(json.dumps({"run": run.pk, "status": run.status, "queued": True}))
        else:
            self.stdout.write(f"run #{run.pk} queued ({run.status}); a worker trains it")
