"""The demo storefront's pages, its browser key, the categories endpoint and CORS for the shop's origins."""

import json
from decimal import Decimal

import pytest
from django.test import override_settings

from recommender.serving import engine
from shop.models import ApiClient, Interaction, hash_api_key
from shop.storefront import BROWSER_KEY_NAME, BROWSER_SCOPES, demo_browser_key
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory, PurchaseFactory

pytestmark = pytest.mark.django_db
SHOP = "https://shop.example.com"


@pytest.fixture
def catalogue():
    books = CategoryFactory(code="books", name="Books")
    games = CategoryFactory(code="games", name="Board Games")
    CustomerFactory(external_id="shopper-1")
    engine.reset()  # the product page asks the serving state for similar products: this test's catalogue
    return {
        "novel": ProductFactory(sku="B1", name="A Novel", category=books, price=Decimal("12.50")),
        "atlas": ProductFactory(sku="B2", name="An Atlas", category=books, price=Decimal("30.00")),
        "chess": ProductFactory(sku="G1", name="Chess", category=games, price=Decimal("20.00")),
    }


@override_settings(DEMO_STOREFRONT=False)
def test_storefront_is_off_unless_enabled(client, catalogue):
    assert client.get("/shop/").status_code == 404
    assert not ApiClient.objects.filter(name=BROWSER_KEY_NAME).exists()


@override_settings(DEMO_STOREFRONT=True)
def test_index_lists_products_and_includes_the_client_with_a_browser_key(client, catalogue):
    response = client.get("/shop/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "A Novel" in html and "Chess" in html
    assert "shop/shop-client.js" in html
    key = ApiClient.objects.get(name=BROWSER_KEY_NAME)
    assert key.scopes == BROWSER_SCOPES
    assert demo_browser_key() in html
    assert response.context["shopper"] == "shopper-1"


@override_settings(DEMO_STOREFRONT=True)
@pytest.mark.parametrize("address", ["books", "Books", "BOOKS"])
def test_category_is_addressable_by_code_or_name(client, catalogue, address):
    response = client.get(f"/shop/c/{address}/")
    assert response.status_code == 200
    assert [p.sku for p in response.context["products"]] == ["B1", "B2"]  # by name


@override_settings(DEMO_STOREFRONT=True)
def test_category_by_a_name_with_spaces_and_unknown_category(client, catalogue):
    assert [p.sku for p in client.get("/shop/c/board games/").context["products"]] == ["G1"]
    assert client.get("/shop/c/nothing/").status_code == 404


@override_settings(DEMO_STOREFRONT=True)
def test_product_page_shows_similar_products_and_the_widget(client, catalogue):
    response = client.get("/shop/p/B1/")
    assert response.status_code == 200
    assert [p.sku for p in response.context["similar"]] == ["B2"]
    html = response.content.decode()
    assert 'id="recommendations"' in html and "shop.startView" in html
    assert client.get("/shop/p/NOPE/").status_code == 404


@override_settings(DEMO_STOREFRONT=True)
def test_cart_and_checkout_render_the_order_for_the_client_to_send(client, catalogue):
    client.get("/shop/")
    assert client.post("/shop/cart/add", {"sku": "B1", "quantity": "2"}).status_code == 302
    client.post("/shop/cart/add", {"sku": "G1"})
    cart = client.get("/shop/cart/")
    assert cart.context["total"] == Decimal("45.00")
    response = client.post("/shop/checkout", {"coupon": "SAVE10"})
    assert response.status_code == 200
    order = response.context["order"]
    assert order["coupon"] == "SAVE10"
    assert {(i["sku"], i["quantity"], i["amount"]) for i in order["items"]} == {("B1", 2, "25.00"), ("G1", 1, "20.00")}
    assert 'id="order"' in response.content.decode()
    # The server stores nothing itself: the purchase is the client's to send.
    assert not Interaction.objects.exists()
    assert client.get("/shop/cart/").context["lines"] == []
    assert client.post("/shop/cart/add", {"sku": "NOPE"}).status_code == 404


@override_settings(DEMO_STOREFRONT=True)
def test_browser_key_can_send_events_but_not_read_customers(client, catalogue):
    key = demo_browser_key()
    event = {"event_id": "e1", "customer_id": "shopper-1", "sku": "B1", "kind": "view", "value": 3.5}
    response = client.post("/api/v1/events", json.dumps([event]), content_type="application/json", HTTP_X_API_KEY=key)
    assert response.status_code == 200, response.content
    assert Interaction.objects.get(event_id="e1").value == 3.5
    assert client.get("/api/v1/customers/shopper-1", HTTP_X_API_KEY=key).status_code == 403


def test_categories_endpoint_lists_codes_names_and_counts(client, catalogue, django_assert_max_num_queries):
    ProductFactory(sku="B3", category=catalogue["novel"].category, is_active=False)
    ApiClient.objects.create(name="k", key_prefix="k", key_hash=hash_api_key("k" * 20), scopes=BROWSER_SCOPES)
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/categories", HTTP_X_API_KEY="k" * 20)
    assert response.status_code == 200
    assert response.json()["categories"] == [
        {"code": "games", "name": "Board Games", "parent": None, "products": 1},
        {"code": "books", "name": "Books", "parent": None, "products": 2},
    ]
    assert client.get("/api/v1/categories").status_code == 401


@override_settings(CORS_ALLOWED_ORIGINS=[SHOP])
def test_cors_allows_the_configured_shop_origin_only(client):
    preflight = client.options(
        "/api/v1/events",
        HTTP_ORIGIN=SHOP,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-api-key",
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == SHOP
    assert "x-api-key" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight
    other = client.options(
        "/api/v1/events", HTTP_ORIGIN="https://evil.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert "Access-Control-Allow-Origin" not in other
    # Only the API answers cross-origin: never the admin or the staff pages.
    admin = client.get("/admin/login/", HTTP_ORIGIN=SHOP)
    assert "Access-Control-Allow-Origin" not in admin


def test_client_script_is_served_as_one_static_file():
    from django.contrib.staticfiles import finders

    path = finders.find("shop/shop-client.js")
    assert path is not None
    with open(path, encoding="utf-8") as script:
        text = script.read()
    assert "global.ShopClient = ShopClient" in text and "/events" in text


@override_settings(CORS_ALLOWED_ORIGINS=[SHOP])
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [(SHOP, True), ("http://testserver", True), (None, True), ("https://evil.example.com", False)],
)
def test_browser_key_is_accepted_only_from_the_shop_origins(client, catalogue, origin, allowed):
    key = demo_browser_key()
    headers = {"HTTP_X_API_KEY": key, **({"HTTP_ORIGIN": origin} if origin else {})}
    event = {"event_id": "e1", "customer_id": "shopper-1", "sku": "B1", "kind": "cart"}
    posted = client.post("/api/v1/events", json.dumps([event]), content_type="application/json", **headers)
    offers = client.get("/api/v1/customers/shopper-1/offers", **headers)
    if allowed:
        assert (posted.status_code, offers.status_code) == (200, 200)
    else:
        assert (posted.status_code, offers.status_code) == (403, 403)
        assert "SHOP_ALLOWED_ORIGINS" in posted.json()["detail"]
        assert not Interaction.objects.exists()


@override_settings(CORS_ALLOWED_ORIGINS=[SHOP])
def test_a_server_key_is_not_held_to_the_shop_origins(client, catalogue):
    ApiClient.objects.create(name="server", key_prefix="s", key_hash=hash_api_key("s" * 20))  # every scope
    response = client.get("/api/v1/categories", HTTP_X_API_KEY="s" * 20, HTTP_ORIGIN="https://elsewhere.example")
    assert response.status_code == 200


@override_settings(DEMO_STOREFRONT=True)
@pytest.mark.parametrize("category", ["books", "Books", "BOOKS"])
def test_recommendation_filters_take_a_category_name_or_code(client, catalogue, category):
    for product in catalogue.values():
        PurchaseFactory(customer=CustomerFactory(external_id="buyer"), product=product)
    key = demo_browser_key()
    response = client.get(f"/api/v1/recommendations/shopper-1?n=5&category={category}", HTTP_X_API_KEY=key)
    assert response.status_code == 200, response.content
    assert {item["sku"] for item in response.json()["results"]} == {"B1", "B2"}
    assert client.get("/api/v1/recommendations/shopper-1?category=Nope", HTTP_X_API_KEY=key).status_code == 400
