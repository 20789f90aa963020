from pathlib import Path

from django.core.management.base import CommandError

from shop.importers import csv_files
from shop.importers.command import ImportCommand


class Command(ImportCommand):
    help = "Import customers, products or interactions from a CSV file (.csv or .csv.gz).\n\n" + (
        csv_files.__doc__ or ""
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=csv_files.KINDS, help="What the rows are.")
        parser.add_argument("file", type=Path, help="The .csv or .csv.gz file.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=field",
            help="Read the file's COLUMN as this field (repeatable), e.g. --map 'Customer Number=external_id'.",
        )
        super().add_arguments(parser)

    def handle(self, *args, **options):
        mapping = {}
        for item in options["map"]:
            column, sep, target = item.partition("=")
            if not sep or not column.strip() or not target.strip():
                raise CommandError(f"--map {item!r}: expected COLUMN=field")
            mapping[column.strip()] = target.strip()
        self.run_import(
            options,
            lambda progress: csv_files.import_csv(
                kind=options["kind"], path=options["file"], mapping=mapping, progress=progress
            ),
        )
