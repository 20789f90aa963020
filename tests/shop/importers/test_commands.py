"""The import_* commands: --json prints one document on stdout, errors are CommandErrors, --help works."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from shop.models import Interaction

from .conftest import RETAIL_ROWS, write_csv

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_online_retail_json_is_the_only_output_on_stdout(retail_csv):
    out, _err = run("import_online_retail", str(retail_csv), "--json")

    report = json.loads(out)
    assert report["rows_read"] == len(RETAIL_ROWS)
    assert report["imported"] + report["skipped"] == report["rows_read"]
    assert report["skipped_by_reason"]["no_customer"] == 1
    assert report["skipped_lines"]["duplicate"] == [7]
    assert report["accounted"] is True
    assert Interaction.objects.count() == report["imported"]


def test_the_human_summary_lists_reasons_with_lines(retail_csv):
    out, _err = run("import_online_retail", str(retail_csv), "--no-progress")

    assert "rows read:" in out
    assert "no customer" in out and "(lines 8)" in out


def test_import_csv_with_map_and_json(tmp_path):
    path = write_csv(tmp_path / "c.csv", ["Customer Number", "Mail"], [["k1", "k1@example.com"]])

    out, _err = run("import_csv", "customers", str(path), "--map", "Customer Number=external_id", "--map",
                    "Mail=email", "--json")  # fmt: skip

    assert json.loads(out)["objects"]["customers"] == {"created": 1, "updated": 0}


def test_import_movielens_json(tmp_path):
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n")
    (tmp_path / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995|||" + "|".join(["0"] * 18 + ["1"]) + "\n")
    (tmp_path / "u.data").write_text("1\t1\t5\t874965758\n")

    out, _err = run("import_movielens", str(tmp_path), "--json")

    report = json.loads(out)
    assert report["details"]["files"] == {"u.user": 1, "u.item": 1, "u.data": 1}
    assert report["imported"] == 3


def test_wrong_format_is_a_command_error_naming_the_columns(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["a", "b"], [["1", "2"]])

    with pytest.raises(CommandError, match="InvoiceNo"):
        run("import_online_retail", str(path))
    with pytest.raises(CommandError, match="external_id"):
        run("import_csv", "customers", str(path))
    with pytest.raises(CommandError, match="expected COLUMN=field"):
        run("import_csv", "customers", str(path), "--map", "a")


@pytest.mark.parametrize("command", ["import_movielens", "import_online_retail", "import_csv"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        call_command(command, "--help")

    assert exit_.value.code == 0
    assert "--json" in capsys.readouterr().out
