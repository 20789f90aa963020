"""The model registry: runs compared side by side against the serving model, metrics over time as a chart with a
table beside it, and every run listed with a checkbox to pick the ones to compare."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from recommender.models import TrainingRun
from tests.staff.data import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def compare_table(page: str) -> str:
    return re.search(r'<table class="compare">.*?</table>', page, re.S).group(0)


def test_runs_side_by_side_with_differences_to_the_serving_model(staff):
    shop = build_shop()
    serving, candidate = shop["runs"]  # nDCG@10 0.25 (serving) and 0.26
    TrainingRun.objects.filter(pk=candidate.pk).update(parameters={"l2": 500.0})
    page = staff.get(reverse("staff:models")).content.decode()
    table = compare_table(page)
    assert f"#{serving.pk} ease" in table and f"#{candidate.pk} ease" in table
    assert "25.0 %" in table and "26.0 %" in table  # the rates as percentages
    assert "+1.0 points" in table  # the candidate's nDCG@10 against the serving model
    assert "l2: 500.0" in table  # parameters in words, not JSON
    assert "{&quot;" not in page and '{"l2"' not in page.split("</script>")[-1]


def test_the_runs_to_compare_are_picked_by_checkbox(staff):
    shop = build_shop(scale=2)  # four successful runs
    picked = [shop["runs"][1].pk, shop["runs"][3].pk]
    page = staff.get(reverse("staff:models"), {"compare": picked}).content.decode()
    headers = re.findall(r'<th scope="col" class="n">#(\d+)', compare_table(page))
    assert [int(h) for h in headers] == sorted(picked, reverse=True)  # newest first, as in the list
    for pk in picked:
        assert re.search(rf'<input type="checkbox" name="compare" value="{pk}"[^>]* checked>', page)
    bad = staff.get(reverse("staff:models"), {"compare": "x"}, follow=True).content.decode()
    assert "Runs to compare are given by their numbers." in bad


def test_metrics_over_time_as_a_chart_and_a_table(staff):
    shop = build_shop()
    page = staff.get(reverse("staff:models")).content.decode()
    island = re.search(r'<script id="chart-model-trend" type="application/json">(.*?)</script>', page, re.S)
    chart = json.loads(island.group(1))
    assert chart["type"] == "line" and chart["format"] == "percent"
    assert chart["labels"] == [f"#{r.pk} ease" for r in sorted(shop["runs"], key=lambda r: r.pk)]
    ndcg = next(s for s in chart["series"] if s["label"] == "NDCG@10")
    assert ndcg["data"] == [0.25, 0.26]
    assert "/static/vendor/chartjs/chart.umd.min.js" in page
    assert "As a table" in page and "26.0 %" in page


def test_a_wide_comparison_scrolls_instead_of_being_cut_off(staff):
    build_shop(scale=3)
    page = staff.get(reverse("staff:models")).content.decode()
    for table in ("compare", "runs"):
        assert re.search(rf'<div class="scroll"><table class="{table}">', page), table


def test_the_list_of_all_runs_shows_rates_as_percentages(staff):
    shop = build_shop()
    page = staff.get(reverse("staff:models")).content.decode()
    runs = re.search(r'<table class="runs">.*?</table>', page, re.S).group(0)
    row = re.search(rf'<tr><td><input type="checkbox" name="compare" value="{shop["runs"][1].pk}".*?</tr>', runs, re.S)
    assert "26.0 %" in row.group(0)  # its nDCG@10, as in the comparison above it
    assert "0.26" not in row.group(0)  # never the raw fraction
