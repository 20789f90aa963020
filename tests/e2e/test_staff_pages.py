"""The staff site in Chromium: a marketer walks dashboard, segments, a customer, the model registry and the job
monitor; every page renders without console errors or failed requests, its screenshot is saved, and the job
monitor's progress moves without a reload."""

from __future__ import annotations

import pytest
from django.urls import reverse

from segments.models import SegmentationRun
from tests.staff.data import build_shop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECOMMENDER_LOG_SERVED = False
    return build_shop()


@pytest.fixture
def watched(logged_in_page):
    """The logged-in page; console errors, failed requests and unchecked pages fail the test (see conftest)."""
    logged_in_page.problems = logged_in_page.watch.problems
    return logged_in_page


def visit(page, url: str, shot) -> None:
    """Open the page, then screenshot it as `shot` and check its accessibility."""
    page.goto(url)
    page.audit(shot.stem)


def test_marketer_walks_the_staff_site(watched, live_server, shop, tmp_path):
    page = watched
    base = live_server.url
    # The admin header leads to the dashboard.
    page.click("a.staff-link")
    page.wait_for_url(f"{base}/staff/")
    page.audit("dashboard")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert "33.3 %" in page.inner_text("#h-segments + .cards")
    assert page.locator("canvas[data-drawn]").count() == page.locator("canvas[data-chart]").count() >= 5
    page.click("text=Events per week as a table")
    assert page.locator("details[open] table").count() == 1

    visit(page, f"{base}{reverse('staff:segmentation-run', args=[shop['rfm_run'].pk])}", tmp_path / "segments.png")
    assert page.locator("table.heat").count() == 2  # the R×F grid and the movement matrix
    # Every chart drawn by Chart.js (the script marks each canvas it drew), none left blank.
    charts = page.locator("canvas[data-chart]")
    assert charts.count() >= 6 and page.locator("canvas[data-drawn]").count() == charts.count()

    visit(page, f"{base}{reverse('staff:customer', args=['s0'])}", tmp_path / "customer.png")
    assert "Spring sale" in page.inner_text("#content-main")

    visit(page, f"{base}{reverse('staff:models')}", tmp_path / "models.png")
    candidate = shop["runs"][1]
    page.fill(f"#reason-{candidate.pk}", "better ranking offline")
    page.click(f"form[action$='/models/{candidate.pk}/switch/'] button")
    page.audit("models-promoted")
    assert "now serves" in page.inner_text(".messagelist")
    assert "better ranking offline" in page.inner_text("#content-main")

    for name in ("dashboard", "segments", "customer", "models", "models-promoted"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert page.problems == []


def test_job_monitor_updates_progress_without_reload(watched, live_server, shop, tmp_path):
    page = watched
    visit(page, f"{live_server.url}{reverse('staff:jobs')}", tmp_path / "jobs.png")
    running = SegmentationRun.objects.get(status="running")
    row = page.locator(f'tr[data-job="segmentation-{running.pk}"]').first
    assert "40 %" in row.inner_text()
    page.evaluate("window.__notReloaded = true")
    SegmentationRun.objects.filter(pk=running.pk).update(progress=75, stage="naming segments")
    page.wait_for_function(
        "document.querySelector('tr[data-job=\"segmentation-" + str(running.pk) + "\"] [data-field=stage]')"
        ".textContent.includes('75 %')",
        timeout=15000,
    )
    assert page.evaluate("window.__notReloaded") is True
    assert "naming segments" in row.inner_text()
    assert "out of memory while fitting" in page.inner_text("#jobs")
    page.audit("jobs-updated")
    assert page.problems == []
