"""Bad files and bad rows, as a tester would try them: a file that cannot be read fails with one line naming the
file and the problem (CommandError, no traceback); a bad row is skipped with its line and reason and the others
are imported, the same on SQLite and PostgreSQL (run this module with DATABASE_URL to check the latter)."""

import gzip
import json
import random
import zipfile
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from shop.importers.csv_files import import_csv
from shop.importers.movielens import import_movielens
from shop.importers.online_retail import import_online_retail
from shop.models import Customer, Interaction, Product

from .conftest import RETAIL_HEADER, write_csv

pytestmark = pytest.mark.django_db

UK = "United Kingdom"


def retail_row(invoice="536365", code="85123A", quantity="6", date="2010-12-01 08:26:00", customer="17850"):
    return [invoice, code, "WHITE HANGING HEART", quantity, date, "2.55", customer, UK]


def command_error(*args) -> str:
    with pytest.raises(CommandError) as error:
        call_command(*args, "--no-progress", stdout=StringIO(), stderr=StringIO())
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- files that cannot be read --------------------------------------------------------------------------


def test_random_bytes_saved_as_csv_fail_with_one_line_naming_the_file(tmp_path):
    path = tmp_path / "noise.csv"
    path.write_bytes(random.Random(7).randbytes(20_000))

    for args in (("import_online_retail", str(path)), ("import_csv", "interactions", str(path))):
        message = command_error(*args)
        assert "noise.csv" in message and "not a text" in message


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_gzip_fails_with_one_line_naming_the_file(tmp_path, damage):
    body = "\n".join(",".join(row) for row in [RETAIL_HEADER] + [retail_row(invoice=str(n)) for n in range(5000)])
    packed = gzip.compress(body.encode())
    if damage == "truncated":
        packed = packed[: len(packed) // 2]
    else:
        packed = packed[:20] + bytes(b ^ 0xFF for b in packed[20:60]) + packed[60:]
    path = tmp_path / "retail.csv.gz"
    path.write_bytes(packed)

    message = command_error("import_online_retail", str(path))

    assert "retail.csv.gz" in message and "gzip" in message
    assert not Interaction.objects.exists()


def test_a_zip_that_is_not_a_workbook_fails_with_one_line(tmp_path):
    path = tmp_path / "retail.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a workbook")

    message = command_error("import_online_retail", str(path))

    assert "retail.xlsx" in message and "workbook" in message


def test_repeated_column_names_are_refused_naming_them(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("external_id,email,email\nc1,a@example.com,b@example.com\n")

    message = command_error("import_csv", "customers", str(path))

    assert "customers.csv" in message and "'email'" in message and "repeated" in message
    assert not Customer.objects.exists()


# --- rows that cannot be imported -----------------------------------------------------------------------


def test_a_quantity_out_of_range_skips_its_line_and_imports_the_others(tmp_path):
    """3,000,000,000 does not fit PostgreSQL's integer: it used to reject the whole file there."""
    rows = [retail_row(invoice=str(500_000 + n)) for n in range(6000)]
    rows[5500][3] = "3000000000"  # line 5,502
    path = write_csv(tmp_path / "retail.csv", RETAIL_HEADER, rows)

    report = import_online_retail(path=path)

    assert report.skipped_lines == {"quantity_out_of_range": [5502]}
    assert report.imported == 5999 == Interaction.objects.count()


@pytest.mark.parametrize(
    ("date", "reason"),
    [
        ("1600-01-01 10:00:00", "before_1900"),
        ("1899-12-31 10:00:00", "before_1900"),
        ("2300-01-01 10:00:00", "in_the_future"),
        ("2099-01-01 10:00:00", "in_the_future"),
        ("10000-01-01 10:00:00", "bad_invoice_date"),
    ],
)
def test_dates_outside_the_events_rule_skip_their_line(tmp_path, date, reason):
    rows = [retail_row(invoice="1"), retail_row(invoice="2", date=date), retail_row(invoice="3")]
    path = write_csv(tmp_path / "retail.csv", RETAIL_HEADER, rows)

    report = import_online_retail(path=path)

    assert report.skipped_lines == {reason: [3]}
    assert sorted(Interaction.objects.values_list("order_ref", flat=True)) == ["1", "3"]


def test_generic_interactions_follow_the_same_time_rule_as_the_events_api(tmp_path):
    path = write_csv(tmp_path / "events.csv", ["customer_id", "sku", "kind", "occurred_at"], [
        ["c1", "p1", "view", "2024-01-01T10:00:00Z"],
        ["c1", "p1", "view", "2099-01-01T10:00:00Z"],
        ["c1", "p1", "view", "1500-01-01T10:00:00Z"],
        ["c1", "p1", "view", "2262-04-12T10:00:00Z"],
    ])  # fmt: skip

    report = import_csv(kind="interactions", path=path)

    assert report.skipped_lines == {"in_the_future": [3, 5], "before_1900": [4]}
    assert Interaction.objects.count() == 1


def test_a_nul_character_in_a_cell_skips_its_line(tmp_path):
    rows = [retail_row(invoice="1"), retail_row(invoice="2", customer="17\x0050"), retail_row(invoice="3")]
    path = write_csv(tmp_path / "retail.csv", RETAIL_HEADER, rows)

    report = import_online_retail(path=path)

    assert report.skipped_lines == {"nul_character": [3]}
    assert report.imported == 2 and report.accounted


def test_a_nul_character_in_extra_columns_skips_the_customer_line(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("external_id,tier\nc1,gold\nc2,si\x00lver\nc3,bronze\n")

    report = import_csv(kind="customers", path=path)

    assert report.skipped_lines == {"nul_character": [3]}
    assert sorted(Customer.objects.values_list("external_id", flat=True)) == ["c1", "c3"]


def test_zero_quantity_is_reported_as_zero_not_negative(tmp_path):
    rows = [retail_row(invoice="1", quantity="0"), retail_row(invoice="2", quantity="-2"), retail_row(invoice="3")]
    path = write_csv(tmp_path / "retail.csv", RETAIL_HEADER, rows)

    report = import_online_retail(path=path)

    assert report.skipped_lines == {"zero_quantity": [2], "negative_quantity_on_sale": [3]}


def test_generic_interactions_name_zero_negative_and_out_of_range_quantities(tmp_path):
    path = write_csv(tmp_path / "events.csv", ["customer_id", "sku", "kind", "occurred_at", "quantity"], [
        ["c1", "p1", "purchase", "2024-01-01T10:00:00Z", "0"],
        ["c1", "p1", "purchase", "2024-01-01T10:00:00Z", "-1"],
        ["c1", "p1", "purchase", "2024-01-01T10:00:00Z", "3000000000"],
        ["c1", "p1", "purchase", "2024-01-01T10:00:00Z", "2"],
    ])  # fmt: skip

    report = import_csv(kind="interactions", path=path)

    assert report.skipped_lines == {"zero_quantity": [2], "negative_quantity": [3], "quantity_out_of_range": [4]}
    assert Interaction.objects.get().quantity == 2


def test_an_unterminated_quote_is_reported_and_does_not_swallow_the_next_lines(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text('external_id,name\nc1,Ann\nc2,"Bob\nc3,Cid\nc4,"Dee, Jr."\n')

    report = import_csv(kind="customers", path=path)

    assert report.skipped_lines == {"unterminated_quote": [3]}
    assert dict(Customer.objects.values_list("external_id", "name")) == {"c1": "Ann", "c3": "Cid", "c4": "Dee, Jr."}


def test_a_quoted_line_break_is_still_one_cell(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text('sku,description\np1,"two\nlines"\np2,one\n')

    report = import_csv(kind="products", path=path)

    assert report.skipped_total == 0
    assert Product.objects.get(sku="p1").description == "two\nlines"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_files_are_read_and_their_encoding_named(tmp_path, encoding):
    path = tmp_path / "customers.csv"
    path.write_bytes("external_id,name\nc1,Zoë\nc2,Łukasz\n".encode(encoding))

    report = import_csv(kind="customers", path=path)

    assert report.details["encoding"] == "utf-16"
    assert dict(Customer.objects.values_list("external_id", "name")) == {"c1": "Zoë", "c2": "Łukasz"}


def test_negative_stock_is_refused(tmp_path):
    path = write_csv(tmp_path / "products.csv", ["sku", "stock"], [["p1", "-3"], ["p2", "4"], ["p3", "3000000000"]])

    report = import_csv(kind="products", path=path)

    assert report.skipped_lines == {"negative_stock": [2], "bad_stock": [4]}
    assert dict(Product.objects.values_list("sku", "stock")) == {"p2": 4}


def test_a_bare_carriage_return_in_a_cell_does_not_abort_the_file(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(b"external_id,name\nc1,An\rn\nc2,Bob\n")

    report = import_csv(kind="customers", path=path)

    assert report.accounted and Customer.objects.filter(external_id="c2").exists()


def test_an_unknown_movielens_occupation_skips_that_user(tmp_path):
    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n2::M::56::25::70072\n3::M::25::-1::55117\n")
    (tmp_path / "movies.dat").write_text("1::Toy Story (1995)::Animation|Children's|Comedy\n")
    (tmp_path / "ratings.dat").write_text("1::1::5::978300760\n2::1::3::978300761\n3::1::4::978300762\n")

    report = import_movielens(directory=tmp_path)

    assert report.skipped_lines == {"users.dat: bad_occupation": [2, 3], "ratings.dat: unknown_user": [2, 3]}
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["ml1m-1"]
    assert Interaction.objects.count() == 1


def test_movielens_ratings_in_the_future_or_with_nul_are_skipped(tmp_path):
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n")
    (tmp_path / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995|||" + "|".join(["0"] * 18 + ["1"]) + "\n")
    (tmp_path / "u.data").write_text("1\t1\t5\t874965758\n1\t1\t4\t4070908800\n1\t1\x00\t3\t874965759\n")

    report = import_movielens(directory=tmp_path)

    assert report.skipped_lines == {"u.data: in_the_future": [2], "u.data: nul_character": [3]}
    assert Interaction.objects.count() == 1


def test_the_command_reports_skipped_rows_as_json_and_succeeds(tmp_path):
    rows = [retail_row(invoice="1"), retail_row(invoice="2", quantity="3000000000")]
    path = write_csv(tmp_path / "retail.csv", RETAIL_HEADER, rows)
    out = StringIO()

    call_command("import_online_retail", str(path), "--json", "--no-progress", stdout=out, stderr=StringIO())

    report = json.loads(out.getvalue())
    assert report["skipped_lines"] == {"quantity_out_of_range": [3]} and report["accounted"]


def test_two_columns_naming_the_same_field_are_refused(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("external_id,External ID,name\nc1,c2,Ann\n")

    message = command_error("import_csv", "customers", str(path))

    assert "'external_id' and 'External ID' both name external_id" in message


def test_times_beyond_what_python_can_hold_are_unreadable_not_a_crash(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(
        "external_id,signed_up_at\nc1,0001-01-01T00:00:00+05:00\nc2,9999-12-31T23:00:00-05:00\nc3,2020-01-01\n"
    )

    report = import_csv(kind="customers", path=path)

    assert report.skipped_lines == {"bad_signed_up_at": [2, 3]}
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["c3"]
