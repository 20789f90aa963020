"""import_campaign_results: an experiment run elsewhere becomes a completed campaign with its recipients."""

import gzip
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from marketing.models import Campaign, Recipient
from marketing.reports import campaign_report
from tests.conftest import DATASETS_DIR, require_dataset
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ARTEA = DATASETS_DIR / "artea" / "artea-ab-experiment.csv"
ARTEA_ATTRIBUTES = "channel_acq,num_past_purch,spent_last_purchase,weeks_since_visit,browsing_minutes,shopping_cart"

GOOD = """id,group,bought,revenue,band,channel
c1,control,0,0,high,web
c2,control,1,10.5,low,app
c3,A,2,30,high,web
c4,A,0,,low,web
c5,B,true,5,low,
"""


def run(path, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_campaign_results",
        str(path),
        "--group-col",
        "group",
        "--control",
        "control",
        "--conversion-col",
        "bought",
        *args,
        "--json",
        stdout=out,
        stderr=err,
    )
    return json.loads(out.getvalue())


def test_import_creates_a_completed_campaign_with_variants_and_recipients(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text(GOOD)
    known = CustomerFactory(external_id="c3")
    summary = run(
        path,
        "--name",
        "Elsewhere",
        "--revenue-col",
        "revenue",
        "--customer-col",
        "id",
        "--attribute-cols",
        "band,channel",
    )
    assert summary["imported"] == 5 and summary["malformed"] == []
    assert summary["control"] == 2 and summary["variants"] == {"A": 2, "B": 1}
    assert summary["customers_matched"] == 1
    campaign = Campaign.objects.get(name="Elsewhere")
    assert campaign.origin == Campaign.Origin.IMPORTED and campaign.status == Campaign.Status.COMPLETED
    assert sorted(campaign.variants.values_list("name", flat=True)) == ["A", "B"]
    c3 = Recipient.objects.get(campaign=campaign, external_ref="c3")
    assert c3.customer == known and c3.conversions == 2 and str(c3.revenue) == "30.00"
    assert c3.attributes == {"band": "high", "channel": "web"}
    assert Recipient.objects.get(campaign=campaign, external_ref="c5").attributes == {"band": "low"}
    assert Recipient.objects.filter(campaign=campaign, is_control=True).count() == 2
    report = campaign_report(campaign, by="band")
    assert report["control"]["conversions"] == 1
    assert {v["name"] for v in report["variants"]} == {"A", "B"}


def test_malformed_rows_are_reported_by_line_and_the_rest_imported(tmp_path):
    path = tmp_path / "results.csv.gz"
    text = (
        GOOD
        + "c6,A,maybe,1,x,y\nc7,,1,1,x,y\nc3,A,1,1,x,y\nc8,A,1,lots,x,y\nc9,A\nc10,control,-1,0,x,y\nc11,A,1,nan,x,y\n"
    )
    with gzip.open(path, "wt") as handle:
        handle.write(text)
    summary = run(path, "--name", "Gz", "--revenue-col", "revenue", "--customer-col", "id")
    lines = {m["line"]: m["error"] for m in summary["malformed"]}
    assert set(lines) == {7, 8, 9, 10, 11, 12, 13}
    assert "bought 'maybe'" in lines[7]
    assert "group is empty" in lines[8]
    assert "'c3' already on line 4" in lines[9]
    assert "revenue 'lots'" in lines[10]
    assert "fields" in lines[11]
    assert "negative" in lines[12]
    assert "revenue 'nan'" in lines[13]
    assert summary["imported"] == 5 and summary["rows"] == 12


def test_missing_column_fails_at_once_naming_it(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text(GOOD)
    with pytest.raises(CommandError, match=r"has no column 'sales', 'spend'"):
        run(path, "--name", "X", "--revenue-col", "sales", "--attribute-cols", "band,spend")
    assert not Campaign.objects.exists()


def test_unreadable_or_empty_files_are_clean_errors(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run(tmp_path / "absent.csv", "--name", "X")
    bad_gz = tmp_path / "bad.csv.gz"
    bad_gz.write_text("not gzip")
    with pytest.raises(CommandError, match="cannot read"):
        run(bad_gz, "--name", "X")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CommandError, match="empty"):
        run(empty, "--name", "X")
    with pytest.raises(CommandError, match="directory"):
        run(tmp_path, "--name", "X")


def test_no_control_rows_is_refused(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("group,bought\nA,1\nB,0\n")
    with pytest.raises(CommandError, match="no row has group = 'control'"):
        run(path, "--name", "X")
    assert not Campaign.objects.exists()


def test_reimport_is_refused_unless_replace(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text(GOOD)
    run(path, "--name", "Again")
    with pytest.raises(CommandError, match=r"already exists.*--replace"):
        run(path, "--name", "Again")
    first = Campaign.objects.get(name="Again").pk
    summary = run(path, "--name", "Again", "--replace")
    assert summary["campaign_id"] != first
    assert Recipient.objects.filter(campaign__name="Again").count() == 5


def test_replace_never_replaces_a_native_campaign(tmp_path):
    Campaign.objects.create(name="Native")
    path = tmp_path / "results.csv"
    path.write_text(GOOD)
    with pytest.raises(CommandError, match="only replaces imports"):
        run(path, "--name", "Native", "--replace")


@pytest.mark.dataset
def test_artea_reproduces_the_published_facts():
    path = require_dataset(ARTEA)
    out = io.StringIO()
    call_command(
        "import_campaign_results",
        str(path),
        "--name",
        "Artea coupon",
        "--group-col",
        "test_coupon",
        "--control",
        "0",
        "--conversion-col",
        "trans_after",
        "--revenue-col",
        "revenue_after",
        "--customer-col",
        "id",
        "--attribute-cols",
        ARTEA_ATTRIBUTES,
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue())["imported"] == 5000
    out = io.StringIO()
    call_command("campaign_report", "Artea coupon", "--json", "--by", "channel_acq", stdout=out)
    report = json.loads(out.getvalue())
    control, (coupon,) = report["control"], report["variants"]
    assert (control["recipients"], control["conversions"]) == (2498, 267)
    assert (coupon["recipients"], coupon["conversions"]) == (2502, 310)
    assert round(control["conversion_rate"], 4) == 0.1069 and round(coupon["conversion_rate"], 4) == 0.1239
    assert round(coupon["uplift"], 4) == 0.0170
    assert [round(x, 4) for x in coupon["uplift_ci"]] == [-0.0007, 0.0348]
    assert round(coupon["p_value"], 2) == 0.06 and coupon["significant"] is False
    assert round(control["revenue_per_recipient"], 2) == 7.78 and round(coupon["revenue_per_recipient"], 2) == 7.54
    assert [g["value"] for g in report["breakdown"]["groups"]] == [1, 2, 3, 4, 5]
    # Every attribute breaks the report down; each recipient lands in exactly one group.
    campaign = Campaign.objects.get(name="Artea coupon")
    for attribute in ARTEA_ATTRIBUTES.split(","):
        groups = campaign_report(campaign, by=attribute)["breakdown"]["groups"]
        assert 2 <= len(groups) <= 12, attribute
        assert sum(g["control"]["recipients"] + g["variants"][0]["recipients"] for g in groups) == 5000
        assert all(g["q_value"] is not None for g in groups)


def _long_file(path, rows: int):
    lines = ["id,group,bought"] + [f"r{i},{'control' if i % 5 == 0 else 'A'},{int(i % 7 == 0)}" for i in range(rows)]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")


def test_a_long_file_shows_reading_and_writing_progress_on_stderr(tmp_path, capsys):
    path = tmp_path / "long.csv.gz"
    _long_file(path, 12_000)
    out = io.StringIO()
    args = ["--group-col", "group", "--control", "control", "--conversion-col", "bought", "--name", "Long"]
    call_command("import_campaign_results", str(path), *args, stdout=out)
    bars = capsys.readouterr().err
    assert "reading: 100%" in bars  # the file, in bytes
    assert "writing recipients: 100%" in bars and "12000/12000" in bars
    assert "Imported 12000 of 12000 rows" in out.getvalue()


def test_json_output_is_the_document_alone_with_no_progress(tmp_path, capsys):
    path = tmp_path / "long.csv.gz"
    _long_file(path, 12_000)
    summary = run(path, "--name", "Long")
    captured = capsys.readouterr()
    assert summary["imported"] == 12_000
    assert captured.err == "" and captured.out == ""
