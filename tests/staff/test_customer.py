"""The customer profile: the customer's features (computed as the segmentations compute them) against the average
customer, segments with their history, recommendations with reasons, campaigns received and what followed."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from shop.models import Customer
from tests.factories import InteractionFactory, ProductFactory, PurchaseFactory
from tests.staff.data import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def feature_row(page: str, label: str) -> list[str]:
    row = re.search(rf"<tr><td>{re.escape(label)}</td>(.*?)</tr>", page, re.S)
    assert row, f"no row {label!r}"
    return [cell.strip() for cell in re.findall(r'<td class="n">(.*?)</td>', row.group(1))]


def test_features_against_the_average_customer(staff):
    build_shop()
    customer = Customer.objects.get(external_id="s0")
    now = timezone.now()
    book = ProductFactory(sku="B2", name="Another book", price="30.00")
    PurchaseFactory(customer=customer, product=book, occurred_at=now - timedelta(days=1), amount=Decimal("30.00"))
    for _ in range(4):
        InteractionFactory(customer=customer, product=book, kind="view", occurred_at=now - timedelta(days=2))

    page = staff.get(reverse("staff:customer", args=["s0"])).content.decode()

    # Two orders (10.00 at build time and 30.00): frequency 2 against the profiles' overall 3.0 -> 0.7×.
    assert feature_row(page, "orders") == ["2", "3.0", "0.7×"]  # a count is whole; the average is not
    assert feature_row(page, "net spend")[0] == "40.0"
    assert feature_row(page, "average order value")[0] == "20.0"
    assert feature_row(page, "product views")[:2] == ["4", "8.5"]
    # Shares in percent: 2 purchases out of 4 views.
    assert feature_row(page, "view-to-purchase conversion")[0].endswith("%")


def test_a_customer_without_orders_shows_unknowns_not_zeros(staff):
    build_shop()
    Customer.objects.create(external_id="new-1", name="Newcomer")
    page = staff.get(reverse("staff:customer", args=["new-1"])).content.decode()
    assert "In no active segment." in page
    assert feature_row(page, "orders")[0] == "0"
    assert feature_row(page, "days since last order")[0] == "–"  # never ordered: unknown, not 0 days


def test_segment_history_links_to_each_run(staff):
    shop = build_shop()
    page = staff.get(reverse("staff:customer", args=["s0"])).content.decode()
    assert reverse("staff:segmentation-run", args=[shop["rfm_run"].pk]) in page
    assert "Champions" in page  # s0 is in the first RFM segment
