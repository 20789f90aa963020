"""python manage.py run_segmentation"""

import json

import pytest
from django.core.management import CommandError, call_command

from segments.models import SegmentationDefinition
from tests.segments.factories import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def shop():
    return build_shop(big=15, small=15, browsers=5)


def run(*args):
    import io

    out, err = io.StringIO(), io.StringIO()
    call_command("run_segmentation", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_has_the_documented_shape_and_nothing_else_on_stdout():
    out, _err = run("--method", "kmeans", "--k", "2", "--json")
    summary = json.loads(out)
    assert set(summary) == {"definition", "run", "method", "metrics", "segments"}
    assert summary["method"] == "kmeans"
    assert summary["metrics"]["k"] == 2 and isinstance(summary["metrics"]["silhouette"], float)
    assert sum(s["size"] for s in summary["segments"]) == 35
    assert all(set(s) == {"name", "size", "share", "description", "top_categories"} for s in summary["segments"])
    buyers = [s for s in summary["segments"] if s["name"] != "No purchases yet"]
    assert {s["top_categories"][0]["category"] for s in buyers} == {"Gadgets", "Books"}
    for segment in buyers:
        assert all(set(c) == {"category", "spend_share"} for c in segment["top_categories"])
        assert sum(c["spend_share"] for c in segment["top_categories"]) == pytest.approx(1.0, abs=1e-3)
    assert summary["metrics"]["as_of_source"].startswith("last event")  # the factory's shop ended in 2025
    definition = SegmentationDefinition.objects.get(pk=summary["definition"])
    assert definition.active_run_id == summary["run"] and definition.name == "K-means (auto k)"


def test_seed_and_as_of_are_kept_with_the_definition_and_shown():
    out, _err = run("--method", "kmeans", "--seed", "7", "--as-of", "2025-12-31")
    definition = SegmentationDefinition.objects.get(name="K-means (auto k)")
    assert definition.parameters["seed"] == 7 and definition.parameters["as_of"] == "2025-12-31"
    assert "as of 2025-12-31T23:59:59.999999+00:00 (as_of parameter)" in out
    assert "k = 2: " in out and "stability" in out


def test_a_bad_seed_is_refused_naming_it():
    with pytest.raises(CommandError, match=r"seed must be a whole number from 0"):
        run("--method", "kmeans", "--seed", "-1")


def test_named_definition_is_reused_and_auto_k_restored():
    first = json.loads(run("--method", "kmeans", "--k", "3", "--name", "Mine", "--json")[0])
    second = json.loads(run("--method", "kmeans", "--name", "Mine", "--json")[0])
    assert first["definition"] == second["definition"]
    assert first["metrics"]["k"] == 3 and second["metrics"]["silhouette_by_k"]


def test_without_a_name_the_methods_only_definition_is_rerun_not_a_second_one_beside_it():
    first = json.loads(run("--method", "kmeans", "--k", "2", "--name", "Learned segments", "--json")[0])
    again = json.loads(run("--method", "kmeans", "--k", "2", "--json")[0])

    assert again["definition"] == first["definition"]
    assert SegmentationDefinition.objects.filter(method="kmeans").count() == 1


def test_without_a_name_several_definitions_of_the_method_are_named_to_choose_from():
    run("--method", "kmeans", "--k", "2", "--name", "Learned segments")
    run("--method", "kmeans", "--k", "2", "--name", "Another")

    with pytest.raises(CommandError, match=r"several kmeans definitions \('Another', 'Learned segments'\)"):
        run("--method", "kmeans", "--k", "2")


def test_rules_from_a_file(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"field": "frequency", "op": ">=", "value": 2}))
    summary = json.loads(run("--method", "rules", "--rules", str(rules), "--json")[0])
    assert [(s["name"], s["size"]) for s in summary["segments"]] == [("Matching customers", 15)]


def test_bad_rules_fail_with_the_condition_named(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps({"segments": [{"name": "X", "rule": {"field": "frequency", "op": "like", "value": 2}}]})
    )
    with pytest.raises(CommandError, match=r"segments\[0\] \(X\) \(frequency like 2\): unknown operator 'like'"):
        run("--method", "rules", "--rules", str(rules))


def test_rfm_prints_a_readable_summary_and_progress_goes_to_stderr():
    out, err = run("--method", "rfm")
    assert "RFM (definition" in out and "Champions" in out
    assert "100%" in err or "done" in err


def test_saved_definition_by_id():
    summary = json.loads(run("--method", "rfm", "--json")[0])
    again = json.loads(run("--definition", str(summary["definition"]), "--json")[0])
    assert again["definition"] == summary["definition"] and again["run"] != summary["run"]
    with pytest.raises(CommandError, match="no segmentation definition"):
        run("--definition", "9999")


def test_more_segments_than_buyers_is_refused_naming_k_and_the_customers():
    with pytest.raises(CommandError, match=r"k=31 segments asked for, but there are only 30 customers"):
        run("--method", "kmeans", "--k", "31")
