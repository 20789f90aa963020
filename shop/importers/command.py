"""What the import_* management commands share: --json, --no-progress, errors as CommandError, the summary."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

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
        except OSError as error:  # the file went away or is not readable: say which, not a traceback
            raise CommandError(f"{error.filename or 'file'}: {error.strerror or error}") from error
        except DatabaseError as error:
            # Bad data is refused row by row before any SQL (shop.bulk); this is the database itself (down,
            # locked, out of space). Nothing of the file was kept: the import runs in one transaction.
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CommandError(f"the database refused the import, nothing was imported: {first_line}") from error
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            self.stdout.write(report.summary())
        if not report.accounted:  # a bug, not bad data: every row must be imported or skipped with a reason
            raise CommandError(f"{report.rows_read - report.imported - report.skipped_total} rows unaccounted for")
