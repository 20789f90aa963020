"""A shopper on the demo storefront: the JavaScript client sends the view, the cart and the purchase, and the
recommendations widget stops offering what was bought."""

import time
from decimal import Decimal

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from recommender.serving import engine
from shop.models import Interaction
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, PurchaseFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop_data(settings):
    settings.DEMO_STOREFRONT = True
    books = CategoryFactory(code="books", name="Books")
    games = CategoryFactory(code="games", name="Games")
    products = [
        ProductFactory(sku=f"P{i}", name=f"Product {i}", category=books if i % 2 else games, price=Decimal("10.00"))
        for i in range(1, 9)
    ]
    # Popularity (distinct buyers): P1 > P2 > ... so the widget's first product is known.
    for rank, product in enumerate(products):
        for buyer in range(len(products) - rank):
            PurchaseFactory(customer=CustomerFactory(external_id=f"buyer-{buyer}"), product=product)
    CustomerFactory(external_id="shopper")
    # The serving state is per process: start from this test's catalogue, not an earlier test's.
    engine.reset()
    yield products
    engine.reset()


def _widget_skus(page, problems: list[str]) -> list[str]:
    try:
        page.wait_for_selector("#recommendations .shop-rec", timeout=15000)
    except PlaywrightTimeout:
        pytest.fail(f"the recommendations widget stayed empty; page problems: {problems}")
    return page.eval_on_selector_all("#recommendations .shop-rec", "nodes => nodes.map(n => n.dataset.sku)")


def _wait_for(query, *, count: int, timeout=15.0):
    """The query's rows once there are `count` of them (the batch may still be in flight), else the last seen."""
    deadline = time.monotonic() + timeout
    rows = list(query())
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = list(query())
    return rows


def test_shopper_views_and_buys_and_the_events_land(page, live_server, shop_data, tmp_path):
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url} {request.failure}"))
    page.on(
        "response",
        lambda response: problems.append(f"{response.status}: {response.url}") if response.status >= 400 else None,
    )

    page.goto(f"{live_server.url}/shop/?as=shopper")
    before = _widget_skus(page, problems)
    assert before[0] == "P1"
    page.audit("storefront-index")

    # Follow the widget's first recommendation: the events that follow carry its recommendation id.
    recommendation_id = page.get_attribute("#recommendations", "data-recommendation-id")
    page.click("#recommendations .shop-rec[data-sku=P1] a")
    page.wait_for_selector("#product[data-sku=P1]")
    page.wait_for_timeout(600)  # a view that lasts
    page.audit("storefront-product")
    page.click("#add-to-cart button")
    page.wait_for_url(f"{live_server.url}/shop/cart/")
    assert page.inner_text("#cart-count") == "1"
    page.audit("storefront-cart")
    page.fill("input[name=coupon]", "WELCOME10")
    page.click("#checkout button")
    page.wait_for_selector("#purchase-status:has-text('Purchase sent.')", timeout=15000)
    after = _widget_skus(page, problems)
    page.audit("storefront-confirmation")

    rows = _wait_for(
        lambda: Interaction.objects.filter(customer__external_id="shopper", product__sku="P1").values(
            "kind", "value", "quantity", "amount", "order_ref", "coupon", "recommendation_id"
        ),
        count=3,
    )
    by_kind = {row["kind"]: row for row in rows}
    assert set(by_kind) == {"view", "cart", "purchase"}, rows
    assert by_kind["view"]["value"] >= 0.5
    assert by_kind["cart"]["amount"] == Decimal("10.00")
    purchase = by_kind["purchase"]
    assert purchase["order_ref"].startswith("demo-")
    assert purchase["coupon"] == "WELCOME10"
    assert purchase["amount"] == Decimal("10.00")
    assert {row["recommendation_id"] for row in rows} == {recommendation_id}
    # What was bought is no longer recommended; the rest of the list moves up.
    assert "P1" not in after and after[0] == "P2"
    assert problems == []
