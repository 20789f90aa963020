from pathlib import Path

from shop.importers.command import ImportCommand
from shop.importers.online_retail import import_online_retail


class Command(ImportCommand):
    help = (
        "Import UCI Online Retail invoice lines (.csv, .csv.gz or .xlsx; the Online Retail columns InvoiceNo, "
        "StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country or the Online Retail II "
        "ones Invoice, ..., Price, Customer ID, Country). Lines with a customer become purchases, lines of "
        "cancelled invoices (C...) returns; exact duplicates, lines without a customer, non-positive prices and "
        "negative quantities on sales are skipped and counted. Postage, fees, discounts, adjustments, samples "
        "become non-merchandise products. Re-running adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The .csv, .csv.gz or .xlsx file.")
        parser.add_argument(
            "--timezone", default="Europe/London", help="Time zone of the invoice dates (default Europe/London)."
        )
        super().add_arguments(parser)

    def handle(self, *args, **options):
        self.run_import(
            options,
            lambda progress: import_online_retail(
                path=options["file"], progress=progress, timezone=options["timezone"]
            ),
        )
