"""python manage.py import_campaign_results FILE --name NAME --group-col C --control VALUE --conversion-col C
[--revenue-col C] [--customer-col C] [--attribute-cols C,C] [--replace] [--json]

Imports a finished experiment run elsewhere (one row per recipient, .csv or .csv.gz) as a completed campaign,
so `campaign_report` and `train_uplift` work on it as on a campaign sent here. Long files show progress bars
on stderr (reading, then writing); with --json nothing but the JSON document is printed.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketing.results_import import import_campaign_results

SHOWN = 20


class Command(BaseCommand):
    help = "Import an experiment run elsewhere (one row per recipient) as a completed campaign."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The .csv or .csv.gz file, one row per recipient.")
        parser.add_argument("--name", required=True, help="Name of the campaign to create.")
        parser.add_argument("--group-col", required=True, help="Column with the variant name or the control value.")
        parser.add_argument("--control", required=True, help="The value of --group-col that marks the control group.")
        parser.add_argument(
            "--conversion-col", required=True, help="Column saying whether the recipient converted (0/1 or a count)."
        )
        parser.add_argument("--revenue-col", help="Column with the recipient's revenue after the send.")
        parser.add_argument("--customer-col", help="Column with the customer's id (linked to shop customers).")
        parser.add_argument("--attribute-cols", default="", help="Comma-separated columns kept as attributes.")
        parser.add_argument("--replace", action="store_true", help="Replace an earlier import of the same name.")
        parser.add_argument("--json", action="store_true", help="Print only a JSON summary on stdout.")

    def handle(self, *args, **options):
        try:
            result = import_campaign_results(
                path=options["file"],
                name=options["name"],
                group_col=options["group_col"],
                control=options["control"],
                conversion_col=options["conversion_col"],
                revenue_col=options["revenue_col"],
                customer_col=options["customer_col"],
                attribute_cols=[c.strip() for c in options["attribute_cols"].split(",") if c.strip()],
                replace=options["replace"],
                # Bars on stderr for long files; --json (or -v 0) keeps the command silent but for its document.
                progress=not options["json"] and options["verbosity"] > 0,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        summary = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        variants = ", ".join(f"{name} {count}" for name, count in summary["variants"].items())
        self.stdout.write(
            f"Imported {summary['imported']} of {summary['rows']} rows as campaign {summary['campaign']!r} "
            f"(id {summary['campaign_id']}): control {summary['control']}, {variants}; "
            f"{summary['customers_matched']} matched to shop customers."
        )
        for problem in summary["malformed"][:SHOWN]:
            self.stderr.write(f"line {problem['line']}: {problem['error']}")
        if len(summary["malformed"]) > SHOWN:
            self.stderr.write(f"... and {len(summary['malformed']) - SHOWN} more malformed rows (see --json)")
