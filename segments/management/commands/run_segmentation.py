"""python manage.py run_segmentation --method {kmeans|dbscan|rfm|rules|static} [--k K] [--name NAME] [--seed S] [--json]

Runs a segmentation now, in this process, and prints its segments. The definition is found (or created)
by name and its parameters updated from the options (without --name: the method's only definition, if it has
just one); or named by --definition ID and run as saved.
Rules come from a JSON file (--rules FILE.json): {"segments": [{"name": ..., "rule": {...}}]} or one bare rule.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from segments import services
from segments.models import NoPurchasePolicy, RunStatus, SegmentationDefinition, SegmentationMethod
from segments.static_lists import external_ids_from_csv

DEFAULT_NAMES = {
    SegmentationMethod.KMEANS: "K-means (auto k)",
    SegmentationMethod.DBSCAN: "DBSCAN",
    SegmentationMethod.RFM: "RFM",
    SegmentationMethod.RULES: "Rules",
    SegmentationMethod.STATIC: "Static list",
}


class Command(BaseCommand):
    help = "Run a segmentation now and print its segments (--json: one JSON document on stdout)."

    def add_arguments(self, parser):
        parser.add_argument("--method", choices=[m.value for m in SegmentationMethod], help="Segmentation method.")
        parser.add_argument("--k", type=int, help="K-means: number of segments (default: chosen by silhouette, 2..10).")
        parser.add_argument(
            "--name",
            help="Definition name (created if new; default: the method's only definition, else the method's name).",
        )
        parser.add_argument("--definition", type=int, help="Run this saved definition as it is.")
        parser.add_argument("--rules", type=Path, help="Rules: JSON file with the rules (see the README).")
        parser.add_argument("--csv", type=Path, help="Static: CSV file of customer ids (external ids).")
        parser.add_argument(
            "--eps", type=float, help="DBSCAN: neighbourhood radius (default: from the k-distance knee)."
        )
        parser.add_argument("--min-samples", type=int, help="DBSCAN: points needed for a dense region.")
        parser.add_argument("--features", help="Comma-separated feature names for K-means / DBSCAN.")
        parser.add_argument(
            "--seed",
            type=int,
            help="K-means / DBSCAN: random seed (default 42); kept with the definition. Runs with other seeds "
            "choose the same k and nearly the same segments.",
        )
        parser.add_argument(
            "--as-of",
            help="Measure recency and tenure from this date or date-time (a date: the end of that day). Default: "
            "now; for historical data (no event in the last 30 days) the last event.",
        )
        parser.add_argument(
            "--no-purchases",
            choices=[p.value for p in NoPurchasePolicy],
            help="Customers without purchases: own_group (default) or exclude.",
        )
        parser.add_argument("--json", action="store_true", help="Print only the JSON summary on stdout.")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Queue the run for a Celery worker instead of running it here (fails at once if the broker is down).",
        )

    def handle(self, *args, **options):
        definition = self._definition(options)
        if options["queue"]:
            return self._queue(definition, as_json=options["json"])
        bar = tqdm(
            total=100,
            file=getattr(self.stderr, "_out", sys.stderr),
            desc=definition.name,
            unit="%",
            disable=options["verbosity"] == 0,
        )

        def progress(percent: int, stage: str) -> None:
            bar.set_postfix_str(stage)
            bar.update(max(0, percent - bar.n))

        try:
            run = services.segmentation_run(definition=definition, progress=progress)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        finally:
            bar.close()
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"run {run.pk} failed: {run.error.splitlines()[0] if run.error else 'unknown error'}")
        summary = run_summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in summary["metrics"].items() if isinstance(v, float))
        self.stdout.write(
            f"{definition.name} (definition {definition.pk}), run {run.pk}: {run.customers_seen} customers"
        )
        if summary["metrics"].get("as_of"):
            self.stdout.write(f"as of {summary['metrics']['as_of']} ({summary['metrics'].get('as_of_source', '')})")
        if summary["metrics"].get("k_choice"):
            self.stdout.write(f"k = {summary['metrics']['k']}: {summary['metrics']['k_choice']}")
        if metrics:
            self.stdout.write(metrics)
        for segment in summary["segments"]:
            self.stdout.write(
                f"  {segment['size']:>8}  {segment['share']:6.1%}  {segment['name']} — {segment['description']}"
            )

    def _queue(self, definition: SegmentationDefinition, *, as_json: bool) -> None:
        from config.jobs import QueueUnavailable

        try:
            run = services.segmentation_run_enqueue(definition=definition)
        except (ValidationError, QueueUnavailable) as exc:
            raise CommandError(exc.messages[0] if isinstance(exc, ValidationError) else str(exc)) from None
        run.refresh_from_db()
        if as_json:
            self.stdout.write(
                json.dumps({"definition": definition.pk, "run": run.pk, "status": run.status, "queued": True})
            )
        else:
            self.stdout.write(f"{definition.name}: run {run.pk} queued ({run.status}); a worker runs it")

    def _definition(self, options) -> SegmentationDefinition:
        if options["definition"]:
            definition = SegmentationDefinition.objects.filter(pk=options["definition"]).first()
            if definition is None:
                raise CommandError(f"no segmentation definition with id {options['definition']}")
            if options["method"] and options["method"] != definition.method:
                raise CommandError(f"definition {definition.pk} uses {definition.method}, not {options['method']}")
            return definition
        method = options["method"]
        if not method:
            raise CommandError("give --method or --definition")
        name = options["name"] or self._default_name(method)
        definition = SegmentationDefinition.objects.filter(name=name).first()
        if definition is not None and definition.method != method:
            raise CommandError(f"the definition {name!r} uses {definition.method}; choose another --name")
        parameters = dict(definition.parameters) if definition else {}
        parameters.update(self._parameters(method, options, parameters))
        changes = {"method": method, "parameters": parameters}
        if options["features"]:
            changes["features"] = [f.strip() for f in options["features"].split(",") if f.strip()]
        if options["no_purchases"]:
            changes["no_purchase_policy"] = options["no_purchases"]
        try:
            if definition is None:
                return services.segmentation_definition_create(name=name, **changes)
            return services.segmentation_definition_update(definition=definition, **changes)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc

    @staticmethod
    def _default_name(method: str) -> str:
        """Without --name: the method's one definition when there is exactly one (the demo's, say), so a rerun
        does not start a second segmentation beside it; else the one named after the method."""
        names = list(
            SegmentationDefinition.objects.filter(method=method).order_by("name").values_list("name", flat=True)
        )
        if len(names) == 1:
            return names[0]
        if not names or DEFAULT_NAMES[method] in names:
            return DEFAULT_NAMES[method]
        raise CommandError(
            f"there are several {method} definitions ({', '.join(map(repr, names))}): "
            "choose one with --name or --definition"
        )

    def _parameters(self, method: str, options, current: dict) -> dict:
        parameters: dict = {}
        if options["seed"] is not None:
            parameters["seed"] = options["seed"]
        if options["as_of"]:
            parameters["as_of"] = options["as_of"]
        if method == SegmentationMethod.KMEANS:
            parameters["k"] = options["k"]  # no --k: choose k again
        elif options["k"] is not None:
            raise CommandError("--k applies to --method kmeans only")
        if method == SegmentationMethod.DBSCAN:
            parameters["eps"] = options["eps"]
            if options["min_samples"] is not None:
                parameters["min_samples"] = options["min_samples"]
        if method == SegmentationMethod.RULES:
            if options["rules"]:
                try:
                    data = json.loads(options["rules"].read_text())
                except (OSError, ValueError) as exc:
                    raise CommandError(f"cannot read rules from {options['rules']}: {exc}") from exc
                parameters["segments"] = (
                    data["segments"]
                    if isinstance(data, dict) and "segments" in data
                    else [{"name": "Matching customers", "rule": data}]
                )
            elif not current.get("segments"):
                raise CommandError("rules need --rules FILE.json (or --definition ID of a saved rules segmentation)")
        if method == SegmentationMethod.STATIC:
            if options["csv"]:
                try:
                    with options["csv"].open(newline="") as handle:
                        parameters["external_ids"] = external_ids_from_csv(handle)
                except (OSError, ValueError) as exc:
                    raise CommandError(f"cannot read customer ids from {options['csv']}: {exc}") from exc
            elif not current.get("external_ids"):
                raise CommandError("a static list needs --csv FILE (or --definition ID)")
        return parameters


def run_summary(run) -> dict:
    """The fixed JSON shape of DESIGN.md: definition and run ids, method, metrics, segments."""
    return {
        "definition": run.definition_id,
        "run": run.pk,
        "method": run.method,
        "metrics": run.metrics,
        "segments": [
            {
                "name": s.name,
                "size": s.size,
                "share": s.share,
                "description": s.description,
                "top_categories": [
                    {"category": c["category"], "spend_share": c["spend_share"]}
                    for c in (s.profile or {}).get("top_categories", [])
                ],
            }
            for s in run.segments.order_by("-size", "key")
        ],
    }
