from pathlib import Path

from shop.importers import product_feed
from shop.importers.command import ImportCommand


class Command(ImportCommand):
    help = "Import a Google Merchant Center product feed (RSS 2.0 / Atom XML with the g: namespace, or TSV).\n\n" + (
        product_feed.__doc__ or ""
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The feed: .xml, .tsv or .txt, optionally gzipped.")
        super().add_arguments(parser)

    def handle(self, *args, **options):
        self.run_import(
            options, lambda progress: product_feed.import_product_feed(path=options["file"], progress=progress)
        )
