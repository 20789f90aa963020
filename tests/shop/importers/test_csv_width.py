"""CSV width: a file wider than any import needs is refused before its rows are read; a row with an overlong cell
is skipped with its line number, the others imported."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from shop.importers.csv_files import import_csv
from shop.models import Customer

pytestmark = pytest.mark.django_db


def command_error(*args) -> str:
    with pytest.raises(CommandError) as error:
        call_command(*args, "--no-progress", stdout=StringIO(), stderr=StringIO())
    return str(error.value)


def test_a_file_with_a_million_columns_is_refused_naming_the_limit(tmp_path):
    path = tmp_path / "wide.csv"
    columns = 1_000_000
    path.write_text("external_id," + ",".join(f"c{i}" for i in range(columns - 1)) + "\nc1," + "x," * 10 + "\n")

    message = command_error("import_csv", "customers", str(path))

    assert "wide.csv" in message and f"{columns:,} columns" in message and "IMPORT_MAX_COLUMNS" in message
    assert not Customer.objects.exists()


def test_a_workbook_wider_than_the_limit_is_refused(tmp_path, settings):
    from openpyxl import Workbook

    settings.IMPORT_MAX_COLUMNS = 20
    workbook = Workbook()
    workbook.active.append(["external_id", *(f"c{i}" for i in range(25))])
    workbook.active.append(["c1", *("x" for _ in range(25))])
    path = tmp_path / "wide.xlsx"
    workbook.save(path)

    message = command_error("import_csv", "customers", str(path))

    assert "wide.xlsx" in message and "26 columns" in message


def test_a_row_with_an_overlong_cell_is_skipped_and_the_others_imported(tmp_path, settings):
    settings.IMPORT_MAX_FIELD_CHARS = 100
    path = tmp_path / "customers.csv"
    path.write_text(f"external_id,name\nc1,Ann\nc2,{'B' * 101}\nc3,{'C' * 100}\n")

    report = import_csv(kind="customers", path=path)

    assert report.skipped_lines == {"field_too_long": [3]}
    assert sorted(Customer.objects.values_list("external_id", flat=True)) == ["c1", "c3"]


def test_overlong_cells_are_skipped_on_the_line_by_line_path_too(tmp_path):
    # A ragged row sends the file down the exact (line by line) reader; a cell past the csv module's own cap too.
    path = tmp_path / "customers.csv"
    path.write_text(f"external_id,name\nc1,Ann\nc2,{'B' * 70_000}\nc3,Cy,extra\nc4,{'D' * 200_000}\nc5,Eve\n")

    report = import_csv(kind="customers", path=path)

    assert sorted(report.skipped_lines["field_too_long"]) == [3, 5]
    assert report.skipped_lines["wrong_number_of_fields"] == [4] and len(report.skipped_lines) == 2
    assert sorted(Customer.objects.values_list("external_id", flat=True)) == ["c1", "c5"]
