"""The campaign report page: funnel of treatment and control, uplift per variant and per segment with intervals,
revenue over time, power beside the result, the CSV link; figures formatted for people."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from marketing.models import Conversion, Recipient
from marketing.report_summaries import campaign_summary_refresh, stored_revenue_by_day
from marketing.staff.selectors import campaign_funnel
from tests.factories import PurchaseFactory
from tests.staff.data import build_shop, chart_islands, visible_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return build_shop()


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def test_funnel_counts_each_step_per_arm(shop):
    campaign = shop["campaign"]
    # Six customers: even ones treated and sent (0 and 4 opened, 0 converted), odd ones held out (3 converted).
    opened = Recipient.objects.filter(campaign=campaign, is_control=False, opened_at__isnull=False).order_by("pk")
    Recipient.objects.filter(pk=opened[0].pk).update(clicked_at=datetime(2026, 1, 1, tzinfo=UTC))
    funnel = campaign_funnel(campaign_id=campaign.pk)
    assert funnel["treatment"] == {"audience": 3, "sent": 3, "opened": 2, "clicked": 1, "converted": 1, "measured": 3}
    assert funnel["control"] == {"audience": 3, "sent": 0, "opened": 0, "clicked": 0, "converted": 1, "measured": 3}


def test_left_out_recipients_are_not_in_the_funnel(shop):
    campaign = shop["campaign"]
    Recipient.objects.filter(campaign=campaign, is_control=False).update(status="excluded", exclusion="no_consent")
    funnel = campaign_funnel(campaign_id=campaign.pk)
    assert funnel["treatment"]["audience"] == 0 and funnel["control"]["audience"] == 3


def test_revenue_by_day_sums_conversions_per_arm(shop):
    campaign = shop["campaign"]
    treated = Recipient.objects.filter(campaign=campaign, is_control=False).order_by("pk")
    control = Recipient.objects.filter(campaign=campaign, is_control=True).order_by("pk")
    day1, day2 = datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC)
    for recipient, when, amount in [(treated[0], day1, "10.50"), (treated[1], day1, "4.50"), (control[0], day2, "7")]:
        purchase = PurchaseFactory(customer=recipient.customer, occurred_at=when, amount=amount)
        Conversion.objects.create(recipient=recipient, interaction=purchase, occurred_at=when, amount=Decimal(amount))
    rows = stored_revenue_by_day(campaign_summary_refresh(campaign=campaign))  # as the attribution job stores it
    assert [(r["day"].isoformat(), r["treatment"], r["control"]) for r in rows] == [
        ("2026-03-01", 15.0, 0.0),
        ("2026-03-02", 0.0, 7.0),
    ]
    assert rows[0]["treatment_conversions"] == 2 and rows[1]["control_conversions"] == 1


def test_report_page_draws_funnel_results_and_revenue(staff, shop):
    campaign = shop["campaign"]
    recipient = Recipient.objects.filter(campaign=campaign, is_control=False).order_by("pk")[0]
    when = datetime(2026, 3, 1, 10, tzinfo=UTC)
    purchase = PurchaseFactory(customer=recipient.customer, occurred_at=when, amount="12.00")
    Conversion.objects.create(recipient=recipient, interaction=purchase, occurred_at=when, amount=Decimal("12.00"))

    page = staff.get(reverse("marketing-reports:detail", args=[campaign.pk])).content.decode()
    found = chart_islands(page)
    funnel = found["chart-funnel"]
    assert funnel["format"] == "percent" and len(funnel["labels"]) == 5
    treatment, control = (s["data"] for s in funnel["series"])
    assert treatment == pytest.approx([1.0, 1.0, 2 / 3, 0.0, 1 / 3])
    assert control == [1.0, None, None, None, pytest.approx(1 / 3)]  # held out: never sent, opened or clicked

    variants = found["chart-variants"]
    assert variants["labels"] == ["A"] and variants["rows"][0]["estimate"] == pytest.approx(0.0)
    # The campaign targeted a segment: the page breaks the result down by segment unless asked not to.
    assert "chart-groups" in found
    revenue = found["chart-revenue"]
    assert revenue["format"] == "money" and revenue["series"][0]["data"] == [4.0]  # 12 over 3 treated

    text = visible_text(page)
    assert 'id="power"' in page and "Power" in text
    assert f"/staff/marketing/reports/{campaign.pk}/export.csv?by=segment" in page
    assert "33.3 %" in text and "0.3333" not in text  # shares for people
    assert '{"' not in text

    overall = staff.get(reverse("marketing-reports:detail", args=[campaign.pk]), {"by": ""}).content.decode()
    assert "chart-groups" not in chart_islands(overall) and "chart-variants" in chart_islands(overall)
