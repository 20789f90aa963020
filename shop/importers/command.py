"""What the import_* management commands share: --json, --no-progress, errors as CommandError, the summary."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from shop.importers.common import ImportReport


class ImportCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", help="Print the report as one JSON document on stdout (progress: stderr)."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on stderr.")

    def run_import(self, options: dict, run: Callable[[bool], ImportReport]) -> None:
        progress = not options["no_progress"] and options["verbosity"] > 0
        try:
            report = run(progress)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            self.stdout.write(report.summary())
        if not report.accounted:  # a bug, not bad data: every row must be imported or skipped with a reason
            raise CommandError(f"{report.rows_read - report.imported - report.skipped_total} rows unaccounted for")
