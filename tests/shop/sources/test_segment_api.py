"""The Segment-compatible endpoint's answers and mapping, called directly (the SDK tests cover the wire format)."""

import base64
import gzip
import json

import pytest
from rest_framework.test import APIClient

from shop.models import ApiScope, Customer, Interaction, Source
from shop.services import create_api_client

pytestmark = pytest.mark.django_db
BATCH = "/api/v1/sources/segment/v1/batch"


def basic(key: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{key}:{password}".encode()).decode()


@pytest.fixture
def key() -> str:
    return create_api_client(name="web", scopes=[ApiScope.EVENTS_WRITE])[1]


@pytest.fixture
def sdk(key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(key))
    return client


def post(client: APIClient, messages: list, **extra):
    return client.post(BATCH, data=json.dumps({"batch": messages}), content_type="application/json", **extra)


def track(message_id: str, event: str, properties: dict, user: str = "u1") -> dict:
    return {"type": "track", "messageId": message_id, "userId": user, "event": event, "properties": properties}


def test_gzip_body_is_read(sdk):
    body = gzip.compress(json.dumps({"batch": [track("m1", "Product Viewed", {"sku": "S1"})]}).encode())
    response = sdk.post(BATCH, data=body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert Interaction.objects.get().product.sku == "S1"


def test_a_body_that_is_not_gzip_is_a_400_naming_it(sdk):
    response = sdk.post(BATCH, data=b"not gzip", content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert "not valid gzip" in response.json()["message"]


def test_a_gzip_body_cut_short_is_a_400_saying_so(sdk):
    body = gzip.compress(json.dumps({"batch": [track("m1", "Product Viewed", {"sku": "S1"})]}).encode())
    response = sdk.post(BATCH, data=body[:-12], content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert "cut short" in response.json()["message"]
    assert not Interaction.objects.exists()


def test_a_gzip_bomb_is_refused(sdk, settings):
    settings.API_MAX_BODY_BYTES = 10_000
    body = gzip.compress(b'{"batch": [' + b" " * 100_000 + b"]}")
    response = sdk.post(BATCH, data=body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


def test_key_without_the_events_scope_is_refused_with_code_and_message():
    key = create_api_client(name="reader", scopes=[ApiScope.RECOMMENDATIONS_READ])[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(key))
    response = post(client, [track("m1", "Product Viewed", {"sku": "S1"})])
    assert response.status_code == 403
    assert "events:write" in response.json()["message"]


def test_basic_with_a_password_is_not_a_write_key(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(key, "secret"))
    assert post(client, [track("m1", "Product Viewed", {"sku": "S1"})]).status_code == 401


def test_the_same_key_works_on_our_own_events_api_as_basic(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(key))
    event = {"event_id": "e1", "customer_id": "c1", "sku": "S1", "kind": "view"}
    assert client.post("/api/v1/events", data=[event], format="json").json()["accepted"] == 1


def test_single_calls_take_their_type_from_the_path(sdk):
    body = {"userId": "u7", "event": "Product Added", "properties": {"product_id": "P9", "quantity": 2}}
    assert sdk.post("/api/v1/sources/segment/v1/track", data=body, format="json").status_code == 200
    identify = {"userId": "u7", "traits": {"firstName": "Grace", "lastName": "Hopper", "email_consent": True}}
    assert sdk.post("/api/v1/sources/segment/v1/identify", data=identify, format="json").status_code == 200
    customer = Customer.objects.get(external_id="u7")
    assert (customer.name, customer.email_consent) == ("Grace Hopper", True)
    assert Interaction.objects.get(customer=customer).quantity == 2


def test_bad_messages_are_rejected_with_reasons_while_the_good_ones_are_stored(sdk):
    messages = [
        track("m1", "Product Viewed", {"sku": "S1"}),
        {"type": "track", "messageId": "m2", "event": "Product Viewed", "properties": {"sku": "S1"}},
        track("m3", "Product Viewed", {"name": "no id"}),
        {"type": "identify", "messageId": "m4", "userId": "u2", "traits": {"email": "not-an-email"}},
        {"type": "flush", "messageId": "m5", "userId": "u2"},
        track("m6", "Order Completed", {"order_id": "O1", "products": []}),
        track("m7", "Order Completed", {"order_id": "O2", "products": [{"sku": "S1"}, {"sku": "S2", "quantity": "x"}]}),
        track("m8", "Order Refunded", {"order_id": "O-unknown"}),
    ]
    assert post(sdk, messages).status_code == 200
    source = Source.objects.get()
    assert (source.accepted, source.rejected) == (1, 7)
    assert set(source.reasons.values_list("reason", flat=True)) == {
        "neither userId nor anonymousId",
        "product has neither product_id nor sku",
        "email is not a valid address",
        "unknown type 'flush'",
        "Order Completed names no products",
        "products[1]: quantity is not an integer",  # the order is stored whole or not at all
        "Order Refunded names no products, and no purchase with order_id 'O-unknown' is known",
    }
    assert Interaction.objects.count() == 1
    assert not Customer.objects.filter(external_id="u2").exists()


def test_product_list_viewed_and_clicked_are_views(sdk):
    products = {"list_id": "hot", "products": [{"product_id": "A"}, {"product_id": "B"}]}
    post(sdk, [track("m1", "Product List Viewed", products), track("m2", "Product Clicked", {"product_id": "C"})])
    assert sorted(Interaction.objects.filter(kind="view").values_list("product__sku", flat=True)) == ["A", "B", "C"]


def test_order_refunded_without_lines_returns_every_purchased_line(sdk):
    order = {
        "order_id": "O-5",
        "currency": "EUR",
        "products": [{"product_id": "A", "price": 10, "quantity": 2}, {"product_id": "B", "price": 5}],
    }
    post(sdk, [track("m1", "Order Completed", order)])
    post(sdk, [track("m2", "Order Refunded", {"order_id": "O-5"})])
    returns = Interaction.objects.filter(kind="return").order_by("product__sku")
    assert [(r.product.sku, r.quantity, str(r.amount)) for r in returns] == [("A", 2, "20.00"), ("B", 1, "5.00")]
    post(sdk, [track("m2", "Order Refunded", {"order_id": "O-5"})])  # retried: nothing more
    assert Interaction.objects.filter(kind="return").count() == 2


def test_alias_joins_an_anonymous_visitor(sdk):
    post(sdk, [{"type": "track", "messageId": "m1", "anonymousId": "v1", "event": "Product Viewed",
                "properties": {"sku": "S1"}}])  # fmt: skip
    post(sdk, [{"type": "alias", "messageId": "m2", "previousId": "v1", "userId": "C9"}])
    assert Interaction.objects.get().customer.external_id == "C9"
    assert not Customer.objects.filter(external_id="anon:v1").exists()


def test_a_batch_that_is_not_a_batch_is_a_400(sdk):
    response = sdk.post(BATCH, data={"messages": []}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_nul_characters_are_rejected_messages_not_errors(sdk):
    messages = [
        {"type": "track", "messageId": "m1", "anonymousId": "v\x00", "event": "Product Viewed", "properties": {}},
        {"type": "alias", "messageId": "m2", "previousId": "v\x00", "userId": "u\x00"},
        {"type": "track", "messageId": "m3", "userId": "u1", "event": "Odd\x00", "properties": {}},
        track("m4", "Product Viewed", {"sku": "S\x00"}),
    ]
    assert post(sdk, messages).status_code == 200
    source = Source.objects.get()
    assert (source.accepted, source.rejected, source.ignored) == (0, 3, 1)
    assert not Customer.objects.exists()


def test_own_events_api_visitor_joined_by_alias_at_login(api_client):
    event = {"event_id": "e1", "customer_id": "anon:visitor-7", "sku": "S1", "kind": "view"}
    assert api_client.post("/api/v1/events", data=[event], format="json").json()["accepted"] == 1
    alias = {"previousId": "visitor-7", "userId": "C-7"}
    assert api_client.post("/api/v1/sources/segment/v1/alias", data=alias, format="json").status_code == 200
    assert Interaction.objects.get().customer.external_id == "C-7"


def test_a_joined_visitors_later_events_go_to_the_customer_in_every_slice_of_a_batch(sdk, settings):
    settings.EVENTS_MAX_BATCH = 2  # a batch's events are checked and stored in slices of this size
    post(sdk, [{"type": "alias", "messageId": "m0", "previousId": "v1", "userId": "C9"}])
    messages = [track(f"m{i}", "Product Viewed", {"sku": f"S{i}"}) for i in range(1, 4)]
    messages += [
        {"type": "track", "messageId": f"m{i}", "anonymousId": visitor, "event": "Product Viewed",
         "properties": {"sku": f"S{i}"}}
        for i, visitor in ((4, "v1"), (5, "v2"))
    ]  # fmt: skip
    assert post(sdk, messages).status_code == 200
    owners = dict(Interaction.objects.values_list("product__sku", "customer__external_id"))
    assert owners == {"S1": "u1", "S2": "u1", "S3": "u1", "S4": "C9", "S5": "anon:v2"}
