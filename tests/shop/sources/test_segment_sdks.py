"""The Segment-compatible endpoint driven by the real client libraries, as a shop would configure them:
`host=<server>/api/v1/sources/segment` and an API key as write key, against a live server on 127.0.0.1."""

import pytest
from rudderstack.analytics import request as rudder_request
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics import request as segment_request
from segment.analytics.client import Client as SegmentClient

from shop.models import AnonymousProfile, ApiScope, Customer, Interaction, Source
from shop.services import create_api_client

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = {
    "order_id": "50314b8e9bcf000000000000",
    "total": 27.50,
    "currency": "USD",
    "coupon": "hasbros",
    "products": [
        {"product_id": "507f1f77bcf86cd799439011", "sku": "45790-32", "price": 19, "quantity": 1},
        {"product_id": "505bd76785ebb509fc183733", "sku": "46493-32", "price": 3, "quantity": 2, "coupon": "BOGO"},
    ],
}


@pytest.fixture(autouse=True)
def _close_sdk_connections():
    # The SDKs keep one HTTP session per process; its kept-alive connections would hold live-server threads
    # (and their database connections) open after the test.
    yield
    segment_request._session.close()
    rudder_request._session.close()


@pytest.fixture
def write_key(transactional_db) -> str:
    _, raw_key = create_api_client(name="storefront", scopes=[ApiScope.EVENTS_WRITE])
    return raw_key


def _send(sdk, write_key: str, host: str, calls, **options) -> list:
    """Send `calls` through a real SDK client (its own consumer thread and batching); the errors it reports."""
    errors = []
    client = sdk(write_key, host=host, on_error=lambda error, batch: errors.append(error), **options)
    for method, kwargs in calls:
        getattr(client, method)(**kwargs)
    client.flush()
    client.join()
    return errors


GOLD = {"plan": "gold"}


def _shop_calls(prefix: str):
    return [
        ("identify", {"user_id": f"{prefix}-u1", "traits": {"email": "ada@example.com", "name": "Ada", **GOLD}}),
        ("track", {"user_id": f"{prefix}-u1", "event": "Product Viewed", "properties": {"product_id": "P1"}}),
        ("track", {"user_id": f"{prefix}-u1", "event": "Product Added", "properties": {"sku": "P2", "quantity": 3}}),
        ("track", {"user_id": f"{prefix}-u1", "event": "Order Completed", "properties": ORDER}),
        ("track", {"user_id": f"{prefix}-u1", "event": "Wishlist Shared", "properties": {}}),
        ("page", {"user_id": f"{prefix}-u1", "name": "Home"}),
    ]


def _check_stored(prefix: str, source_name: str) -> None:
    customer = Customer.objects.get(external_id=f"{prefix}-u1")
    assert (customer.email, customer.name, customer.is_stub) == ("ada@example.com", "Ada", False)
    assert customer.attributes["plan"] == "gold"
    kinds = sorted(Interaction.objects.filter(customer=customer).values_list("kind", flat=True))
    assert kinds == ["cart", "purchase", "purchase", "view"]
    cart = Interaction.objects.get(customer=customer, kind="cart")
    assert (cart.product.sku, cart.quantity) == ("P2", 3)
    lines = {
        i.product.sku: i
        for i in Interaction.objects.filter(customer=customer, kind="purchase").select_related("product")
    }
    second = lines["505bd76785ebb509fc183733"]
    assert (second.quantity, str(second.amount), second.order_ref, second.coupon) == (
        2,
        "6.00",
        "50314b8e9bcf000000000000",
        "BOGO",
    )
    assert lines["507f1f77bcf86cd799439011"].coupon == "hasbros"
    assert second.product.currency == "USD"
    source = Source.objects.get(name=source_name)
    # identify, 3 e-commerce events: accepted; the unknown event and the page call: counted, not stored.
    assert (source.accepted, source.duplicate, source.rejected, source.ignored) == (4, 0, 0, 2)
    assert set(source.reasons.values_list("reason", flat=True)) == {"event 'Wishlist Shared'", "page call"}


def test_segment_sdk_batches_become_customers_and_interactions(live_server, write_key):
    host = f"{live_server.url}/api/v1/sources/segment"
    assert _send(SegmentClient, write_key, host, _shop_calls("seg"), gzip=True, max_retries=1) == []
    _check_stored("seg", "Segment: storefront")


def test_rudderstack_sdk_batches_become_customers_and_interactions(live_server, write_key):
    host = f"{live_server.url}/api/v1/sources/segment"
    assert _send(RudderClient, write_key, host, _shop_calls("rud"), max_retries=1) == []
    _check_stored("rud", "Segment: storefront")


def test_a_retried_batch_adds_nothing(live_server, write_key):
    host = f"{live_server.url}/api/v1/sources/segment"
    calls = [
        ("track", {"user_id": "u9", "event": "Order Completed", "properties": ORDER, "message_id": "m-1"}),
        ("track", {"user_id": "u9", "event": "Product Viewed", "properties": {"sku": "P1"}, "message_id": "m-2"}),
    ]
    assert _send(SegmentClient, write_key, host, calls, max_retries=1) == []
    assert _send(RudderClient, write_key, host, calls, max_retries=1) == []
    assert Interaction.objects.filter(customer__external_id="u9").count() == 3
    source = Source.objects.get(api_client__name="storefront")
    assert (source.accepted, source.duplicate) == (2, 2)


def test_a_bad_write_key_is_refused_and_reported_to_the_sdk(live_server, write_key):
    host = f"{live_server.url}/api/v1/sources/segment"
    calls = [("track", {"user_id": "u1", "event": "Product Viewed", "properties": {"sku": "P"}})]
    errors = _send(SegmentClient, "not-a-key", host, calls, max_retries=0)
    assert len(errors) == 1
    assert errors[0].status == 401
    assert not Interaction.objects.exists()


def test_anonymous_visitor_joined_on_sign_up_keeps_its_history(live_server, write_key):
    host = f"{live_server.url}/api/v1/sources/segment"
    visitor = "9d8e7f70-aaaa-4bbb-8ccc-123456789abc"
    anonymous_calls = [
        ("track", {"anonymous_id": visitor, "event": "Product Viewed", "properties": {"product_id": "P1"}}),
        ("track", {"anonymous_id": visitor, "event": "Product Added", "properties": {"product_id": "P1"}}),
    ]
    assert _send(SegmentClient, write_key, host, anonymous_calls) == []
    holder = Customer.objects.get(external_id=f"anon:{visitor}")
    assert holder.is_stub and holder.interactions.count() == 2

    sign_up = [
        ("identify", {"user_id": "C-42", "anonymous_id": visitor, "traits": {"email": "new@example.com"}}),
        ("track", {"user_id": "C-42", "event": "Order Completed", "properties": ORDER}),
    ]
    assert _send(SegmentClient, write_key, host, sign_up) == []
    # The same visitor id after sign-up goes straight to the customer.
    later = [("track", {"anonymous_id": visitor, "event": "Product Viewed", "properties": {"product_id": "P3"}})]
    assert _send(RudderClient, write_key, host, later) == []
    customer = Customer.objects.get(external_id="C-42")
    assert sorted(customer.interactions.values_list("kind", flat=True)) == [
        "cart",
        "purchase",
        "purchase",
        "view",
        "view",
    ]
    assert not Customer.objects.filter(external_id=f"anon:{visitor}").exists()
    profile = AnonymousProfile.objects.get(anonymous_id=visitor)
    assert (profile.customer, profile.moved_interactions) == (customer, 2)

    # Joined once: identify again (a retry) moves nothing and keeps the history where it is.
    assert _send(SegmentClient, write_key, host, sign_up[:1]) == []
    assert customer.interactions.count() == 5
