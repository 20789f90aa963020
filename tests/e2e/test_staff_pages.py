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
    """The logged-in page, recording console errors and failed requests from here on."""
    problems: list[str] = []
    logged_in_page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    logged_in_page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    logged_in_page.on("response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
    logged_in_page.problems = problems
    return logged_in_page


def visit(page, url: str, shot) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(shot), full_page=True)


def test_marketer_walks_the_staff_site(watched, live_server, shop, tmp_path):
    page = watched
    base = live_server.url
    # The admin header leads to the dashboard.
    page.click("a.staff-link")
    page.wait_for_url(f"{base}/staff/")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
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
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(tmp_path / "models-promoted.png"), full_page=True)
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
    page.screenshot(path=str(tmp_path / "jobs-updated.png"), full_page=True)
    assert page.problems == []
