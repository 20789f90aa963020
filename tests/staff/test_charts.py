"""Charts on the staff pages: each canvas has its data island, the islands carry the figures the tables show, and
the chart specifications refuse what they cannot draw."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from marketing.staff import charts
from tests.staff.data import build_shop, chart_islands

CHART_SCRIPTS = (
    "vendor/chartjs/chart.umd.min.js",
    "vendor/chartjs-chart-matrix/chartjs-chart-matrix.min.js",
    "staff/charts.js",
)


@pytest.fixture
def shop(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return build_shop()


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def _charts(page: str) -> dict[str, dict]:
    """The page's charts by id; fails unless every canvas has its island and every island its canvas."""
    islands = chart_islands(page)
    canvases = re.findall(r'<canvas data-chart="([^"]+)" role="img" aria-label="([^"]+)"', page)
    assert sorted(i for i, _label in canvases) == sorted(islands)
    for chart_id, label in canvases:
        assert label.strip(), chart_id  # each chart is named for screen readers
    for script in CHART_SCRIPTS:
        assert f"/static/{script}" in page
    return islands


def test_the_chart_library_is_served_from_the_pinned_package():
    for script in CHART_SCRIPTS:
        path = finders.find(script)
        assert path, f"{script} not found: run `make assets`"
    with open(finders.find("vendor/chartjs/chart.umd.min.js"), encoding="utf-8") as library:
        assert "Chart.js v4." in library.read(200)


def test_dashboard_charts_carry_the_tables_figures(staff, shop):
    page = staff.get(reverse("staff:dashboard")).content.decode()
    found = _charts(page)
    assert found["chart-customers"]["type"] == "line"
    from marketing.staff.selectors import trends

    trend = trends()
    assert sum(n for _month, n in trend["customers"]) == 6  # the six customers signed up in the last year
    assert sum(n for _week, n in trend["events"]) == 6  # one purchase each
    for chart, key in (("chart-customers", "customers"), ("chart-events", "events")):
        # The chart draws the whole periods: the newest one, while still going on, is only in the table.
        drawn = trend[key][:-1] if trend["partial"][key] and len(trend[key]) > 1 else trend[key]
        assert found[chart]["series"][0]["data"] == [n for _period, n in drawn], chart
    sizes = found[f"chart-segments-{shop['rfm_run'].pk}"]
    assert sizes["labels"] == ["At Risk", "Champions", "Lost"] and sizes["series"][0]["data"] == [2, 2, 2]
    assert sizes["horizontal"] is True

    uplift = found["chart-campaigns"]
    assert uplift["type"] == "interval" and uplift["labels"] == ["Spring sale · A"]
    from marketing.reports import campaign_report

    variant = campaign_report(shop["campaign"])["variants"][0]
    row = uplift["rows"][0]
    assert row["estimate"] == pytest.approx(variant["uplift"])
    assert [row["low"], row["high"]] == pytest.approx(variant["uplift_ci"])
    assert row["verdict"] == "unclear"  # six customers cannot tell anything from chance

    metrics = found["chart-model"]
    assert metrics["format"] == "percent"
    assert metrics["series"][0]["data"] == [0.25, 0.3, 0.4]  # eval_users is a count: table only
    # Short names that fit beside the bars (the long ones were cut off on a laptop); the table spells them out.
    assert metrics["labels"] == ["NDCG@10", "Recall@10", "Coverage"]
    card = page[page.index('id="h-model"') : page.index("</section>", page.index('id="h-model"'))]
    assert "share of the catalogue recommended" in card and "40.0 %" in card  # a share, not a raw 0.4
    assert "1,987" in card  # customers evaluated: a count


def test_segment_explorer_draws_grid_movement_profiles_and_categories(staff, shop):
    page = staff.get(reverse("staff:segmentation-run", args=[shop["rfm_run"].pk])).content.decode()
    found = _charts(page)
    grid = found["chart-rfm"]
    assert grid["type"] == "matrix" and grid["x_labels"] == ["R 1", "R 2", "R 3", "R 4", "R 5"]
    assert grid["y_labels"] == ["FM 5", "FM 4", "FM 3", "FM 2", "FM 1"]
    champions = [(c["x"], c["y"]) for c in grid["cells"] if c["text"] == "Champions"]
    assert sorted(champions) == [("R 4", "FM 4"), ("R 4", "FM 5"), ("R 5", "FM 4"), ("R 5", "FM 5")]

    movement = found["chart-movement"]
    assert movement["y_labels"] == ["Everyone"] and sorted(movement["x_labels"]) == ["At Risk", "Champions", "Lost"]
    assert sum(c["v"] for c in movement["cells"]) == 6

    z = found["chart-z-champions"]
    assert z["signed"] and z["format"] == "z"
    assert dict(zip(z["labels"], z["series"][0]["data"], strict=True))["orders"] == 1.0
    assert found["chart-categories-champions"]["series"][0]["data"] == [0.4321]
    assert "chart-projection" not in found  # these segments have no stored sample


def test_segment_explorer_draws_the_stored_projection_with_its_text(staff, shop):
    page = staff.get(reverse("staff:segmentation-run", args=[shop["km_run"].pk])).content.decode()
    scatter = _charts(page)["chart-projection"]
    assert scatter["series"] == [{"label": "Book lovers", "data": [[1.0, -0.5], [2.0, 0.5], [3.0, 1.5]]}]
    assert "41 %" in scatter["x_title"] and "20 %" in scatter["y_title"]  # the axes' share of the variation
    assert "3 customers sampled" in page and "+2.00" in page and "+0.50" in page  # the centre in the table


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: charts.line_chart(["a"], [("s", [1, 2])], title="t"), "series 's' has 2 values for 1 labels"),
        (lambda: charts.bar_chart(["a"], [("s", [1])], title="t", fmt="euros"), "unknown chart format 'euros'"),
        (lambda: charts.interval_chart(["a"], [0.1, 0.2], [None], title="t"), "1 labels, 2 estimates"),
        (lambda: charts.matrix_chart(["x"], ["y"], [("x", "z", 1, "")], title="t"), "cell ('x', 'z') is outside"),
    ],
)
def test_chart_specifications_refuse_what_they_cannot_draw(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_interval_verdicts_and_gaps():
    chart = charts.interval_chart(
        ["up", "down", "unclear", "unmeasured"],
        [0.02, -0.03, 0.01, None],
        [[0.005, 0.04], [-0.05, -0.01], [-0.01, 0.03], None],
        title="t",
    )
    assert [r["verdict"] for r in chart["rows"]] == ["above", "below", "unclear", "unclear"]
    assert chart["rows"][3] == {"estimate": None, "low": None, "high": None, "verdict": "unclear"}
    line = charts.line_chart(["a", "b"], [("s", [float("nan"), 3])], title="t")
    assert line["series"][0]["data"] == [None, 3.0]  # NaN is a gap, not a number JSON cannot hold
