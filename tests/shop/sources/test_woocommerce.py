"""WooCommerce webhooks, with payloads shaped as the WooCommerce REST API v3 reference shows them."""

import base64
import copy
import hashlib
import hmac
import json

import pytest

from shop.models import Customer, Interaction, Product, SourceDelivery
from shop.sources.services import create_webhook_source

pytestmark = pytest.mark.django_db
URL = "/api/v1/sources/woocommerce"
SECRET = "wc-secret-4f9a"

ORDER = {
    "id": 727,
    "parent_id": 0,
    "number": "727",
    "order_key": "wc_order_58d2d042d1d",
    "created_via": "rest-api",
    "version": "3.0.0",
    "status": "processing",
    "currency": "USD",
    "date_created": "2017-03-22T16:28:02",
    "date_created_gmt": "2017-03-22T19:28:02",
    "date_modified": "2017-03-22T16:28:08",
    "date_modified_gmt": "2017-03-22T19:28:08",
    "discount_total": "0.00",
    "shipping_total": "10.00",
    "total": "29.35",
    "customer_id": 25,
    "billing": {
        "first_name": "John",
        "last_name": "Doe",
        "company": "",
        "address_1": "969 Market",
        "address_2": "",
        "city": "San Francisco",
        "state": "CA",
        "postcode": "94103",
        "country": "US",
        "email": "john.doe@example.com",
        "phone": "(555) 555-5555",
    },
    "payment_method": "bacs",
    "date_completed": None,
    "date_completed_gmt": None,
    "line_items": [
        {
            "id": 315,
            "name": "Woo Single #1",
            "product_id": 93,
            "variation_id": 0,
            "quantity": 2,
            "tax_class": "",
            "subtotal": "6.00",
            "total": "6.00",
            "sku": "",
            "price": 3,
        },
        {
            "id": 316,
            "name": "Ship Your Idea - Color: Black, Size: M Test",
            "product_id": 22,
            "variation_id": 23,
            "quantity": 1,
            "subtotal": "12.00",
            "total": "12.00",
            "sku": "",
            "price": 12,
        },
    ],
    "coupon_lines": [{"id": 318, "code": "10off", "discount": "0.00"}],
    "refunds": [],
}

PRODUCT = {
    "id": 794,
    "name": "Premium Quality",
    "slug": "premium-quality-19",
    "permalink": "https://example.com/product/premium-quality-19/",
    "type": "simple",
    "status": "publish",
    "description": "<p>Pellentesque habitant morbi tristique senectus.</p>\n",
    "short_description": "<p>Pellentesque habitant.</p>\n",
    "sku": "PQ-1",
    "price": "21.99",
    "regular_price": "21.99",
    "sale_price": "",
    "manage_stock": True,
    "stock_quantity": 12,
    "stock_status": "instock",
    "categories": [
        {"id": 9, "name": "Clothing", "slug": "clothing"},
        {"id": 14, "name": "T-shirts", "slug": "t-shirts"},
    ],
    "images": [
        {"id": 792, "src": "https://example.com/wp-content/uploads/2017/03/T_2_front-4.jpg", "name": "", "alt": ""}
    ],
}

CUSTOMER = {
    "id": 25,
    "date_created": "2017-03-21T16:09:28",
    "email": "john.doe@example.com",
    "first_name": "John",
    "last_name": "Doe",
    "role": "customer",
    "username": "john.doe",
    "billing": ORDER["billing"],
    "shipping": {},
    "is_paying_customer": False,
}


@pytest.fixture
def source():
    source, _ = create_webhook_source(
        name="Woo shop", kind="woocommerce", shop_domain="https://example.com/", secret=SECRET
    )
    return source


def deliver(client, topic: str, payload, *, delivery_id: str, secret: str = SECRET):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return client.post(
        URL,
        data=body,
        content_type="application/json",
        HTTP_X_WC_WEBHOOK_SOURCE="https://example.com/",
        HTTP_X_WC_WEBHOOK_TOPIC=topic,
        HTTP_X_WC_WEBHOOK_RESOURCE=topic.split(".")[0],
        HTTP_X_WC_WEBHOOK_EVENT=topic.split(".")[1],
        HTTP_X_WC_WEBHOOK_SIGNATURE=digest,
        HTTP_X_WC_WEBHOOK_ID="12",
        HTTP_X_WC_WEBHOOK_DELIVERY_ID=delivery_id,
    )


def with_status(status: str) -> dict:
    order = copy.deepcopy(ORDER)
    order["status"] = status
    order["date_completed_gmt"] = "2017-03-23T10:00:00"
    return order


def test_order_completed_on_update_becomes_purchases(client, source):
    assert deliver(client, "order.created", ORDER, delivery_id="d1").status_code == 200
    assert not Interaction.objects.exists()  # processing: not completed yet
    assert Customer.objects.get(external_id="25").email == "john.doe@example.com"
    assert deliver(client, "order.updated", with_status("completed"), delivery_id="d2").status_code == 200
    lines = {i.product.sku: i for i in Interaction.objects.filter(kind="purchase").select_related("product")}
    assert set(lines) == {"93", "22"}
    assert (lines["93"].quantity, str(lines["93"].amount), lines["93"].coupon, lines["93"].order_ref) == (
        2,
        "6.00",
        "10off",
        "727",
    )
    # Another update of the completed order (a note added...) adds nothing.
    assert deliver(client, "order.updated", with_status("completed"), delivery_id="d3").status_code == 200
    assert Interaction.objects.filter(kind="purchase").count() == 2


def test_order_refunded_becomes_returns(client, source):
    deliver(client, "order.updated", with_status("completed"), delivery_id="d1")
    assert deliver(client, "order.updated", with_status("refunded"), delivery_id="d2").status_code == 200
    assert sorted(Interaction.objects.filter(kind="return").values_list("product__sku", flat=True)) == ["22", "93"]


def test_guest_order_is_kept_on_its_email(client, source):
    order = with_status("completed")
    order["customer_id"] = 0
    assert deliver(client, "order.created", order, delivery_id="d1").status_code == 200
    assert Customer.objects.get(external_id="woocommerce-guest:john.doe@example.com").name == "John Doe"


def test_product_created_and_updated(client, source):
    assert deliver(client, "product.created", PRODUCT, delivery_id="d1").status_code == 200
    product = Product.objects.get(sku="794")
    assert (product.name, str(product.price), product.stock, product.category.code) == (
        "Premium Quality",
        "21.99",
        12,
        "clothing",
    )
    assert product.description.strip() == "Pellentesque habitant morbi tristique senectus."
    assert product.attributes["image_link"].endswith("T_2_front-4.jpg")
    assert deliver(client, "product.updated", {**PRODUCT, "status": "draft"}, delivery_id="d2").status_code == 200
    product.refresh_from_db()
    assert product.is_active is False


def test_customer_created(client, source):
    assert deliver(client, "customer.created", CUSTOMER, delivery_id="d1").status_code == 200
    customer = Customer.objects.get(external_id="25")
    assert (customer.name, customer.city, customer.postal_code) == ("John Doe", "San Francisco", "94103")


def test_bad_signature_is_refused_and_stores_nothing(client, source):
    assert deliver(client, "customer.created", CUSTOMER, delivery_id="d1", secret="nope").status_code == 401
    assert not Customer.objects.exists() and not SourceDelivery.objects.exists()


def test_redelivery_is_idempotent_and_the_ping_is_answered(client, source):
    assert deliver(client, "order.updated", with_status("completed"), delivery_id="same").status_code == 200
    assert deliver(client, "order.updated", with_status("completed"), delivery_id="same").json()["duplicate"] == 1
    source.refresh_from_db()
    assert (source.accepted, source.duplicate) == (1, 1)
    assert deliver(client, "action.woocommerce_ping", b"webhook_id=12", delivery_id="").status_code == 200
