"""import_online_retail on small files written by the tests."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from openpyxl import Workbook

from shop.importers import online_retail
from shop.importers.online_retail import import_online_retail
from shop.models import Customer, Interaction, InteractionKind, Product

from .conftest import RETAIL_HEADER, RETAIL_II_HEADER, RETAIL_ROWS, write_csv

pytestmark = pytest.mark.django_db


def test_lines_with_a_customer_become_purchases_and_cancellations_returns(retail_csv):
    report = import_online_retail(path=retail_csv)

    assert report.rows_read == len(RETAIL_ROWS)
    assert report.imported == 6
    lantern = Interaction.objects.get(product__sku="71053")
    assert (lantern.kind, lantern.quantity, lantern.amount, lantern.order_ref) == (
        "purchase",
        6,
        Decimal("20.34"),
        "536365",
    )
    assert lantern.customer.external_id == "17850"
    assert lantern.occurred_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)  # GMT in winter
    returned = Interaction.objects.get(order_ref="C536379")
    assert (returned.kind, returned.quantity, returned.amount) == (InteractionKind.RETURN, 1, Decimal("2.55"))
    # Summer time in London: 10:00 local is 09:00 UTC.
    assert Interaction.objects.filter(order_ref="536366").first().occurred_at == datetime(2011, 7, 1, 9, 0, tzinfo=UTC)


def test_products_and_customers_come_from_the_lines(retail_csv):
    import_online_retail(path=retail_csv)

    heart = Product.objects.get(sku="85123A")
    assert (heart.name, heart.currency, heart.is_merchandise) == ("WHITE HANGING HEART T-LIGHT HOLDER", "GBP", True)
    assert heart.price == Decimal("2.55")  # the median of 2.55, 2.65, 2.55
    assert Product.objects.get(sku="POST").is_merchandise is False
    assert Product.objects.get(sku="BANK CHARGES").is_merchandise is False
    # A line without a customer still makes its product known, never a customer.
    assert Product.objects.filter(sku="22139").exists()
    assert set(Customer.objects.values_list("external_id", "country")) == {
        ("17850", "United Kingdom"),
        ("13047", "France"),
        ("12346", "United Kingdom"),
    }


def test_every_bad_line_is_skipped_with_its_reason_and_line_number(retail_csv):
    report = import_online_retail(path=retail_csv)

    assert report.skipped == {
        "duplicate": 1,
        "no_customer": 1,
        "price_not_positive": 1,
        "negative_quantity_on_sale": 1,
        "bad_quantity": 1,
        "bad_invoice_date": 1,
        "missing_or_bad_stock_code": 1,
    }
    assert report.skipped_lines == {
        "duplicate": [7],
        "no_customer": [8],
        "price_not_positive": [9],
        "negative_quantity_on_sale": [10],
        "bad_quantity": [11],
        "bad_invoice_date": [12],
        "missing_or_bad_stock_code": [13],
    }
    assert report.duplicates == 1
    assert report.accounted
    assert Interaction.objects.count() == report.imported


def test_reimporting_adds_nothing(retail_csv):
    first = import_online_retail(path=retail_csv)
    counts = (Customer.objects.count(), Product.objects.count(), Interaction.objects.count())

    second = import_online_retail(path=retail_csv)

    assert (Customer.objects.count(), Product.objects.count(), Interaction.objects.count()) == counts
    assert second.imported == 0
    assert second.skipped["already_imported"] == first.imported
    assert second.accounted


def test_a_ragged_line_is_reported_and_the_others_imported(tmp_path):
    path = tmp_path / "ragged.csv"
    write_csv(path, RETAIL_HEADER, RETAIL_ROWS[:2])
    with path.open("a") as handle:
        handle.write("536999,22222,EXTRA FIELD,1,2010-12-01 10:00:00,1.00,17850,United Kingdom,oops\n")
        handle.write("536999,22223,FINE,1,2010-12-01 10:00:00,1.00,17850,United Kingdom\n")

    report = import_online_retail(path=path)

    assert report.skipped_lines == {"wrong_number_of_fields": [4]}
    assert report.imported == 3
    assert report.accounted


def test_a_file_of_another_format_fails_at_once_naming_the_missing_columns(tmp_path):
    path = write_csv(
        tmp_path / "orders.csv", ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate"], [["1", "A", "1", "x"]]
    )

    with pytest.raises(ValidationError) as error:
        import_online_retail(path=path)

    message = str(error.value)
    for column in ("Description", "UnitPrice", "CustomerID", "Country"):
        assert column in message
    assert not Product.objects.exists()


def test_a_directory_instead_of_a_file_fails_naming_the_path(tmp_path):
    folder = tmp_path / "exports.csv"
    folder.mkdir()

    with pytest.raises(ValidationError, match=r"exports\.csv is not a file"):
        import_online_retail(path=folder)


def test_a_csv_saved_as_xlsx_fails_saying_it_is_not_a_workbook(tmp_path, retail_csv):
    path = tmp_path / "retail.xlsx"
    path.write_bytes(retail_csv.read_bytes())

    with pytest.raises(ValidationError, match=r"retail\.xlsx is not an Excel workbook"):
        import_online_retail(path=path)
    assert not Product.objects.exists()


def test_online_retail_ii_columns_and_gzip(tmp_path):
    path = write_csv(tmp_path / "retail2.csv.gz", RETAIL_II_HEADER, RETAIL_ROWS)

    report = import_online_retail(path=path)

    assert report.details["layout"] == "Online Retail II"
    assert report.imported == 6
    assert report.accounted


def test_xlsx_with_spreadsheet_types_gives_the_same_lines_as_the_csv(tmp_path, retail_csv):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(RETAIL_II_HEADER)
    for invoice, code, description, quantity, date, price, customer, country in RETAIL_ROWS[:6]:
        sheet.append([
            int(invoice) if invoice.isdigit() else invoice, code, description, int(quantity),
            datetime.fromisoformat(date), float(price), float(customer), country,
        ])  # fmt: skip
    path = tmp_path / "retail.xlsx"
    workbook.save(path)

    from_xlsx = import_online_retail(path=path)
    from_csv = import_online_retail(path=retail_csv)

    assert from_xlsx.imported == 5  # line 7 repeats line 3
    assert Customer.objects.filter(external_id="17850").exists()  # 17850.0 in the sheet
    # The same lines from the csv are recognised as already imported.
    assert from_csv.skipped["already_imported"] == 5
    assert from_csv.imported == 1


def test_a_failure_while_writing_leaves_nothing_behind(retail_csv, monkeypatch):
    real_insert = online_retail.insert_interactions

    def insert_then_crash(rows, **kwargs):
        real_insert(rows, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(online_retail, "insert_interactions", insert_then_crash)

    with pytest.raises(RuntimeError):
        import_online_retail(path=retail_csv)

    assert not Interaction.objects.exists()
    assert not Customer.objects.exists()
    assert not Product.objects.exists()


def test_an_xlsx_with_one_sheet_per_year_reads_every_sheet_and_names_the_sheet_of_bad_rows(tmp_path):
    workbook = Workbook()
    first = workbook.active
    first.title = "Year 2009-2010"
    second = workbook.create_sheet("Year 2010-2011")
    for sheet, rows in ((first, RETAIL_ROWS[:2]), (second, [RETAIL_ROWS[2], RETAIL_ROWS[6]])):
        sheet.append(RETAIL_II_HEADER)
        for row in rows:
            sheet.append(row)
    path = tmp_path / "online_retail_II.xlsx"
    workbook.save(path)

    report = import_online_retail(path=path)

    assert report.rows_read == 4
    assert report.imported == 3
    assert report.skipped_lines == {"no_customer": ["Year 2010-2011:3"]}
