"""Shopify webhooks, with payloads shaped as Shopify's webhook reference shows them (API version 2024-10)."""

import base64
import copy
import hashlib
import hmac
import json

import pytest
from django.core.files.storage import default_storage

from shop.models import Customer, Interaction, PrivacyAction, PrivacyRequest, Product, Source, SourceDelivery
from shop.sources.services import create_webhook_source

pytestmark = pytest.mark.django_db
URL = "/api/v1/sources/shopify"
SECRET = "shpss_0123456789abcdef"

CUSTOMER = {
    "id": 115310627314723954,
    "email": "john@example.com",
    "created_at": None,
    "updated_at": None,
    "first_name": "John",
    "last_name": "Smith",
    "state": "disabled",
    "note": None,
    "verified_email": True,
    "multipass_identifier": None,
    "tax_exempt": False,
    "phone": None,
    "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in", "consent_updated_at": None},
    "sms_marketing_consent": None,
    "tags": "",
    "currency": "USD",
    "tax_exemptions": [],
    "admin_graphql_api_id": "gid://shopify/Customer/115310627314723954",
    "default_address": {
        "id": 715243470612851245,
        "customer_id": 115310627314723954,
        "first_name": None,
        "last_name": None,
        "company": None,
        "address1": "123 Elm St.",
        "address2": None,
        "city": "Ottawa",
        "province": "Ontario",
        "country": "Canada",
        "zip": "K2H7A8",
        "phone": "123-123-1234",
        "name": "",
        "province_code": "ON",
        "country_code": "CA",
        "country_name": "Canada",
        "default": True,
    },
}

ORDER = {
    "id": 820982911946154508,
    "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
    "app_id": None,
    "browser_ip": None,
    "buyer_accepts_marketing": True,
    "cancel_reason": "customer",
    "cancelled_at": "2021-12-31T19:00:00-05:00",
    "cart_token": None,
    "checkout_id": None,
    "checkout_token": None,
    "closed_at": None,
    "confirmed": False,
    "contact_email": "jon@example.com",
    "created_at": "2021-12-31T19:00:00-05:00",
    "currency": "USD",
    "current_subtotal_price": "398.00",
    "discount_codes": [],
    "email": "jon@example.com",
    "financial_status": "voided",
    "fulfillment_status": "pending",
    "landing_site": None,
    "name": "#9999",
    "note": None,
    "order_number": 1234,
    "processed_at": "2021-12-31T19:00:00-05:00",
    "subtotal_price": "388.00",
    "tags": "tag1, tag2",
    "total_discounts": "20.00",
    "total_price": "403.00",
    "customer": CUSTOMER,
    "line_items": [
        {
            "id": 866550311766439020,
            "admin_graphql_api_id": "gid://shopify/LineItem/866550311766439020",
            "fulfillable_quantity": 1,
            "gift_card": False,
            "grams": 567,
            "name": "IPod Nano - 8GB",
            "price": "199.00",
            "product_exists": True,
            "product_id": 632910392,
            "quantity": 1,
            "requires_shipping": True,
            "sku": "IPOD2008BLACK",
            "taxable": True,
            "title": "IPod Nano - 8GB",
            "total_discount": "0.00",
            "variant_id": 808950810,
            "variant_title": None,
            "vendor": None,
            "tax_lines": [],
            "discount_allocations": [],
        },
        {
            "id": 141249953214522974,
            "admin_graphql_api_id": "gid://shopify/LineItem/141249953214522974",
            "fulfillable_quantity": 1,
            "gift_card": False,
            "grams": 284,
            "name": "IPod Nano - 8GB",
            "price": "199.00",
            "product_exists": True,
            "product_id": 632910393,
            "quantity": 1,
            "requires_shipping": True,
            "sku": "IPOD2008BLACK",
            "taxable": True,
            "title": "IPod Nano - 8GB",
            "total_discount": "10.00",
            "variant_id": 808950810,
            "variant_title": None,
            "vendor": None,
            "tax_lines": [],
            "discount_allocations": [],
        },
    ],
    "refunds": [],
}

REFUND = {
    "id": 890088186047892319,
    "order_id": 820982911946154508,
    "created_at": "2021-12-31T19:00:00-05:00",
    "note": "Things were damaged",
    "user_id": 548380009,
    "processed_at": "2021-12-31T19:00:00-05:00",
    "restock": False,
    "duties": [],
    "admin_graphql_api_id": "gid://shopify/Refund/890088186047892319",
    "refund_line_items": [
        {
            "id": 487817672276298627,
            "quantity": 1,
            "line_item_id": 866550311766439020,
            "location_id": None,
            "restock_type": "no_restock",
            "subtotal": 199.0,
            "total_tax": 0.0,
            "line_item": {
                "id": 866550311766439020,
                "variant_id": 808950810,
                "title": "IPod Nano - 8GB",
                "quantity": 1,
                "sku": "IPOD2008BLACK",
                "product_id": 632910392,
                "price": "199.00",
            },
        }
    ],
    "transactions": [],
    "order_adjustments": [],
}

PRODUCT = {
    "admin_graphql_api_id": "gid://shopify/Product/788032119674292922",
    "body_html": "<p>An example T-Shirt</p>",
    "created_at": None,
    "handle": "example-t-shirt",
    "id": 788032119674292922,
    "product_type": "Shirts",
    "published_at": "2021-12-31T19:00:00-05:00",
    "template_suffix": None,
    "title": "Example T-Shirt",
    "updated_at": "2021-12-31T19:00:00-05:00",
    "vendor": "Acme",
    "status": "active",
    "published_scope": "web",
    "tags": "example, mens, t-shirt",
    "variants": [
        {
            "admin_graphql_api_id": "gid://shopify/ProductVariant/642667041472713922",
            "barcode": None,
            "compare_at_price": "24.99",
            "created_at": None,
            "id": 642667041472713922,
            "inventory_policy": "deny",
            "position": 0,
            "price": "19.99",
            "product_id": 788032119674292922,
            "sku": "example-shirt-s",
            "taxable": True,
            "title": "Small",
            "updated_at": None,
            "option1": "Small",
            "inventory_quantity": 75,
        },
        {
            "admin_graphql_api_id": "gid://shopify/ProductVariant/757650484644203962",
            "compare_at_price": "24.99",
            "id": 757650484644203962,
            "inventory_policy": "deny",
            "position": 0,
            "price": "19.99",
            "product_id": 788032119674292922,
            "sku": "example-shirt-m",
            "title": "Medium",
            "option1": "Medium",
            "inventory_quantity": 50,
        },
    ],
    "options": [],
    "images": [],
    "image": {"id": 1, "src": "https://cdn.shopify.com/s/files/shirt.png"},
    "media": [],
}


@pytest.fixture
def source():
    source, _ = create_webhook_source(
        name="Acme store", kind="shopify", shop_domain="acme.myshopify.com", secret=SECRET
    )
    return source


def deliver(client, topic: str, payload: dict, *, webhook_id: str, secret: str = SECRET):
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return client.post(
        URL,
        data=body,
        content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC=topic,
        HTTP_X_SHOPIFY_HMAC_SHA256=digest,
        HTTP_X_SHOPIFY_SHOP_DOMAIN="acme.myshopify.com",
        HTTP_X_SHOPIFY_WEBHOOK_ID=webhook_id,
        HTTP_X_SHOPIFY_API_VERSION="2024-10",
    )


def paid_order() -> dict:
    order = copy.deepcopy(ORDER)
    order.update(financial_status="paid", cancel_reason=None, cancelled_at=None)
    order["discount_codes"] = [{"code": "SPRING10", "amount": "10.00", "type": "fixed_amount"}]
    return order


def test_paid_order_becomes_purchases_per_line_and_upserts_the_customer(client, source):
    response = deliver(client, "orders/paid", paid_order(), webhook_id="b54557e4-1")
    assert response.status_code == 200, response.content
    customer = Customer.objects.get(external_id="115310627314723954")
    assert (customer.email, customer.name, customer.city, customer.email_consent) == (
        "john@example.com",
        "John Smith",
        "Ottawa",
        True,
    )
    lines = {i.product.sku: i for i in Interaction.objects.filter(kind="purchase").select_related("product")}
    assert set(lines) == {"632910392", "632910393"}
    assert (str(lines["632910393"].amount), lines["632910393"].order_ref, lines["632910393"].coupon) == (
        "189.00",
        "820982911946154508",
        "SPRING10",
    )
    # orders/create of the same paid order (another topic, another webhook id) adds nothing.
    assert deliver(client, "orders/create", paid_order(), webhook_id="c-2").status_code == 200
    assert Interaction.objects.count() == 2
    source.refresh_from_db()
    assert (source.accepted, source.duplicate) == (1, 1)


def test_an_unpaid_order_is_counted_not_bought(client, source):
    assert deliver(client, "orders/create", ORDER, webhook_id="w-1").status_code == 200
    assert not Interaction.objects.exists()
    assert Customer.objects.filter(external_id="115310627314723954").exists()
    source.refresh_from_db()
    assert source.ignored == 1
    assert source.reasons.get().reason == "order not paid yet (voided)"


def test_redelivery_with_the_same_webhook_id_adds_nothing(client, source):
    for _ in range(2):
        assert deliver(client, "orders/paid", paid_order(), webhook_id="same-id").status_code == 200
    source.refresh_from_db()
    assert (source.accepted, source.duplicate) == (1, 1)
    assert SourceDelivery.objects.filter(source=source).count() == 1


def test_a_bad_signature_is_refused_and_stores_nothing(client, source):
    response = deliver(client, "orders/paid", paid_order(), webhook_id="w-1", secret="wrong")
    assert response.status_code == 401
    missing = client.post(URL, data=b"{}", content_type="application/json", HTTP_X_SHOPIFY_TOPIC="orders/paid")
    assert missing.status_code == 401
    assert not Interaction.objects.exists() and not Customer.objects.exists()
    assert not SourceDelivery.objects.exists()
    source.refresh_from_db()
    assert source.accepted == source.rejected == 0


def test_a_signed_body_altered_in_transit_is_refused(client, source):
    body = json.dumps(paid_order()).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    response = client.post(
        URL,
        data=body.replace(b"199.00", b"1.00"),
        content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC="orders/paid",
        HTTP_X_SHOPIFY_HMAC_SHA256=digest,
    )
    assert response.status_code == 401
    assert not Interaction.objects.exists()


def test_refund_becomes_a_return_of_the_refunded_line(client, source):
    deliver(client, "orders/paid", paid_order(), webhook_id="w-1")
    assert deliver(client, "refunds/create", REFUND, webhook_id="w-2").status_code == 200
    refund = Interaction.objects.get(kind="return")
    assert (refund.product.sku, refund.quantity, str(refund.amount), refund.customer.external_id) == (
        "632910392",
        1,
        "199.00",
        "115310627314723954",
    )


def test_refund_of_an_unknown_order_is_rejected_with_its_reason(client, source):
    assert deliver(client, "refunds/create", REFUND, webhook_id="w-2").status_code == 200
    source.refresh_from_db()
    assert source.rejected == 1
    assert source.reasons.get().reason == "refund of an order never received"


def test_products_create_and_update_upsert_the_catalog_with_the_image(client, source):
    assert deliver(client, "products/create", PRODUCT, webhook_id="p-1").status_code == 200
    product = Product.objects.get(sku="788032119674292922")
    assert (product.name, product.description, str(product.price), product.stock) == (
        "Example T-Shirt",
        "An example T-Shirt",
        "19.99",
        125,
    )
    assert product.category.name == "Shirts"
    assert product.attributes["image_link"] == "https://cdn.shopify.com/s/files/shirt.png"
    assert product.attributes["variant_skus"] == ["example-shirt-s", "example-shirt-m"]
    updated = {**PRODUCT, "title": "Example Tee", "status": "archived"}
    assert deliver(client, "products/update", updated, webhook_id="p-2").status_code == 200
    product.refresh_from_db()
    assert (product.name, product.is_active) == ("Example Tee", False)


def test_customers_create_and_update(client, source):
    assert deliver(client, "customers/create", CUSTOMER, webhook_id="c-1").status_code == 200
    changed = {**CUSTOMER, "email_marketing_consent": {"state": "unsubscribed"}}
    assert deliver(client, "customers/update", changed, webhook_id="c-2").status_code == 200
    customer = Customer.objects.get(external_id="115310627314723954")
    assert customer.email_consent is False
    assert customer.email_consent_changed_at is not None


def test_customers_redact_erases_the_customer_with_an_audit_row(client, source):
    deliver(client, "orders/paid", paid_order(), webhook_id="w-1")
    payload = {
        "shop_id": 954889,
        "shop_domain": "acme.myshopify.com",
        "customer": {"id": 115310627314723954, "email": "john@example.com", "phone": "555-625-1199"},
        "orders_to_redact": [820982911946154508],
    }
    assert deliver(client, "customers/redact", payload, webhook_id="r-1").status_code == 200
    assert not Customer.objects.filter(external_id="115310627314723954").exists()
    assert not Interaction.objects.exists()
    audit = PrivacyRequest.objects.get(action=PrivacyAction.ERASURE)
    assert audit.actor == "Shopify webhook (Acme store)"


def test_customers_data_request_exports_the_customer(client, source):
    deliver(client, "orders/paid", paid_order(), webhook_id="w-1")
    payload = {
        "shop_id": 954889,
        "shop_domain": "acme.myshopify.com",
        "orders_requested": [820982911946154508],
        "customer": {"id": 115310627314723954, "email": "john@example.com", "phone": "555-625-1199"},
        "data_request": {"id": 9999},
    }
    assert deliver(client, "customers/data_request", payload, webhook_id="d-1").status_code == 200
    assert PrivacyRequest.objects.filter(action=PrivacyAction.EXPORT).count() == 1
    note = SourceDelivery.objects.get(delivery_id="d-1").detail["notes"][0]
    path = note.removeprefix("export saved to ")
    with default_storage.open(path) as stored:
        document = json.load(stored)
    assert document["customer"]["email"] == "john@example.com"
    assert len(document["interactions"]) == 2


def test_shop_redact_erases_the_shops_customers_and_stops_the_source(client, source):
    deliver(client, "orders/paid", paid_order(), webhook_id="w-1")
    Customer.objects.create(external_id="from-elsewhere")
    payload = {"shop_id": 954889, "shop_domain": "acme.myshopify.com"}
    assert deliver(client, "shop/redact", payload, webhook_id="s-1").status_code == 200
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["from-elsewhere"]
    assert Source.objects.get(pk=source.pk).is_active is False
    # The source is off: later deliveries are refused.
    assert deliver(client, "orders/paid", paid_order(), webhook_id="w-9").status_code == 401
