from pathlib import Path

from shop.importers.command import ImportCommand
from shop.importers.movielens import import_movielens


class Command(ImportCommand):
    help = (
        "Import a MovieLens directory: ml-100k (u.data, u.item, u.user) or ml-1m (ratings.dat, movies.dat, users.dat). "
        "Users become customers (gender, birth year from age, occupation and zip), movies products in genre "
        "categories (the most specific genre as category, all genres in attributes), ratings rating interactions. "
        "Ids are prefixed with the data set (ml100k-196). Re-running adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path, help="The unpacked MovieLens directory.")
        parser.add_argument(
            "--id-prefix", default=None, help="Prefix of customer ids and SKUs (default: ml100k- or ml1m-)."
        )
        super().add_arguments(parser)

    def handle(self, *args, **options):
        self.run_import(
            options,
            lambda progress: import_movielens(
                directory=options["directory"], progress=progress, id_prefix=options["id_prefix"]
            ),
        )
