"""Charts in Chromium: the campaign report (funnel, uplift per variant and per segment, revenue over time) and the
segment explorer's map of customers are drawn by Chart.js from the pinned package, with their tables, without
console errors or accessibility violations, in English and in Simplified Chinese."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from marketing.models import Conversion, Recipient
from tests.factories import PurchaseFactory
from tests.staff.data import build_shop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECOMMENDER_LOG_SERVED = False
    shop = build_shop()
    recipient = Recipient.objects.filter(campaign=shop["campaign"], is_control=False).order_by("pk")[0]
    when = datetime(2026, 3, 1, 10, tzinfo=UTC)
    purchase = PurchaseFactory(customer=recipient.customer, occurred_at=when, amount="12.00")
    Conversion.objects.create(recipient=recipient, interaction=purchase, occurred_at=when, amount=Decimal("12.00"))
    return shop


def drawn(page) -> list[str]:
    """Ids of the charts on the page, after checking Chart.js drew every one of them."""
    ids = page.eval_on_selector_all("canvas[data-chart]", "cs => cs.map(c => c.dataset.chart)")
    assert page.locator("canvas[data-drawn]").count() == len(ids)
    return ids


def test_campaign_report_and_projection_are_drawn(logged_in_page, live_server, shop):
    page = logged_in_page
    page.goto(f"{live_server.url}{reverse('marketing-reports:detail', args=[shop['campaign'].pk])}")
    page.audit("campaign-report")
    assert {"chart-funnel", "chart-variants", "chart-groups", "chart-revenue"} <= set(drawn(page))
    assert "Power" in page.inner_text("#power")
    assert page.locator("#funnel-table tbody tr").count() == 5

    page.goto(f"{live_server.url}{reverse('staff:segmentation-run', args=[shop['km_run'].pk])}")
    page.audit("segment-map")
    assert "chart-projection" in drawn(page)
    # Names beside horizontal bars (features, categories) are broken into short lines between words: a long one on
    # one line was cut off at the canvas's edge in a narrow card ("are of spend returned").
    names = page.evaluate(
        """() => [...document.querySelectorAll('canvas[data-drawn]')].flatMap(c => {
            const chart = Chart.getChart(c);
            if (!chart || chart.config.type !== 'bar' || chart.options.indexAxis !== 'y') return [];
            return chart.scales.y.ticks.map(t => [].concat(t.label));
        })"""
    )
    assert names and all(len(line) <= 18 or " " not in line for lines in names for line in lines)


def test_charts_in_chinese(logged_in_zh_page, live_server, shop):
    page = logged_in_zh_page
    page.goto(f"{live_server.url}{reverse('marketing-reports:detail', args=[shop['campaign'].pk])}")
    page.audit("campaign-report-zh")
    assert {"chart-funnel", "chart-variants"} <= set(drawn(page))
    page.goto(f"{live_server.url}{reverse('staff:dashboard')}")
    page.audit("dashboard-zh")
    assert "chart-events" in drawn(page)
