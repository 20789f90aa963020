"""POST /api/v1/events: per-event answers, idempotency, stubs, limits, query counts."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from shop.models import Customer, Interaction, Product
from tests.factories import CustomerFactory, InteractionFactory, ProductFactory

URL = "/api/v1/events"


def event(event_id, **fields) -> dict:
    return {"event_id": event_id, "customer_id": "C1", "sku": "SKU1", "kind": "view", **fields}


def post(client, body):
    return client.post(URL, body, format="json")


@pytest.mark.django_db
class TestAccepted:
    def test_batch_is_stored_and_answered_in_order(self, api_client):
        body = [
            event("e1", kind="view", value=12.5),
            event("e2", kind="cart"),
            event("e3", kind="purchase", quantity=2, amount="19.98", order_ref="O-1", currency="EUR"),
            event("e4", kind="rating", value=4.5),
            event("e5", kind="return", quantity=1, amount=9.99),
        ]

        response = post(api_client, body)

        assert response.status_code == 200
        data = response.json()
        assert (data["accepted"], data["duplicate"], data["rejected"]) == (5, 0, 0)
        assert [r["event_id"] for r in data["results"]] == ["e1", "e2", "e3", "e4", "e5"]
        assert [r["index"] for r in data["results"]] == [0, 1, 2, 3, 4]
        assert {r["status"] for r in data["results"]} == {"accepted"}
        purchase = Interaction.objects.get(event_id="e3")
        assert (purchase.kind, purchase.quantity, purchase.amount, purchase.order_ref) == (
            "purchase",
            2,
            Decimal("19.98"),
            "O-1",
        )
        assert Interaction.objects.get(event_id="e4").value == 4.5
        assert Interaction.objects.get(event_id="e5").amount == Decimal("9.99")

    def test_object_envelope_is_accepted(self, api_client):
        response = post(api_client, {"events": [event("e1")]})

        assert response.status_code == 200
        assert response.json()["accepted"] == 1

    def test_occurred_at_is_parsed_and_naive_means_utc(self, api_client):
        post(
            api_client,
            [event("e1", occurred_at="2025-03-01T10:00:00+02:00"), event("e2", occurred_at="2025-03-01T10:00:00")],
        )

        assert Interaction.objects.get(event_id="e1").occurred_at == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
        assert Interaction.objects.get(event_id="e2").occurred_at == datetime(2025, 3, 1, 10, 0, tzinfo=UTC)

    def test_occurred_at_defaults_to_now(self, api_client):
        before = timezone.now()
        post(api_client, [event("e1")])

        assert before <= Interaction.objects.get(event_id="e1").occurred_at <= timezone.now()

    def test_recommendation_id_and_source_are_kept(self, api_client):
        post(api_client, [event("e1", recommendation_id="rec-9", source="app")])

        stored = Interaction.objects.get(event_id="e1")
        assert (stored.recommendation_id, stored.source) == ("rec-9", "app")

    def test_known_customer_and_product_are_reused(self, api_client):
        customer = CustomerFactory(external_id="C1")
        product = ProductFactory(sku="SKU1")

        post(api_client, [event("e1")])

        stored = Interaction.objects.get(event_id="e1")
        assert (stored.customer_id, stored.product_id) == (customer.pk, product.pk)
        assert Customer.objects.count() == 1
        assert Product.objects.count() == 1


@pytest.mark.django_db
class TestStubs:
    def test_unknown_customers_and_products_become_stubs(self, api_client):
        post(api_client, [event("e1", customer_id="new-c", sku="new-p"), event("e2", customer_id="new-c", sku="new-p")])

        customer = Customer.objects.get(external_id="new-c")
        product = Product.objects.get(sku="new-p")
        assert customer.is_stub and product.is_stub
        assert Interaction.objects.filter(customer=customer, product=product).count() == 2

    def test_stub_product_takes_the_currency_of_its_first_event(self, api_client):
        post(api_client, [event("e1", sku="P", kind="purchase", amount="5", currency="gbp")])

        assert Product.objects.get(sku="P").currency == "GBP"

    def test_integer_ids_are_accepted_as_strings(self, api_client):
        response = post(api_client, [event(17, customer_id=42, sku=1001)])

        assert response.json()["accepted"] == 1
        assert Interaction.objects.filter(event_id="17", customer__external_id="42", product__sku="1001").exists()


@pytest.mark.django_db
class TestDuplicates:
    def test_repeated_within_a_batch_is_stored_once(self, api_client):
        data = post(api_client, [event("e1"), event("e1"), event("e2")]).json()

        assert [r["status"] for r in data["results"]] == ["accepted", "duplicate", "accepted"]
        assert "earlier in this batch" in data["results"][1]["reason"]
        assert Interaction.objects.filter(event_id="e1").count() == 1

    def test_resending_a_batch_stores_nothing_new(self, api_client):
        batch = [event("e1"), event("e2", kind="cart")]
        post(api_client, batch)

        data = post(api_client, batch).json()

        assert (data["accepted"], data["duplicate"]) == (0, 2)
        assert data["results"][0]["reason"] == "Already recorded."
        assert Interaction.objects.count() == 2

    def test_event_already_imported_is_a_duplicate(self, api_client):
        InteractionFactory(event_id="imported-1")

        data = post(api_client, [event("imported-1")]).json()

        assert data["results"][0]["status"] == "duplicate"

    def test_a_rejected_event_does_not_burn_its_id(self, api_client):
        data = post(api_client, [event("e1", kind="rating", value=9), event("e1", kind="rating", value=4)]).json()

        assert [r["status"] for r in data["results"]] == ["rejected", "accepted"]
        assert Interaction.objects.get(event_id="e1").value == 4


@pytest.mark.django_db
class TestRejected:
    @pytest.mark.parametrize(
        ("fields", "field", "words"),
        [
            ({"event_id": None}, "event_id", "required"),
            ({"event_id": ""}, "event_id", "required"),
            ({"event_id": "x" * 101}, "event_id", "at most 100"),
            ({"event_id": {"a": 1}}, "event_id", "string"),
            ({"customer_id": None}, "customer_id", "required"),
            ({"customer_id": "c" * 65}, "customer_id", "at most 64"),
            ({"sku": None}, "sku", "required"),
            ({"sku": ["a"]}, "sku", "string"),
            ({"kind": None}, "kind", "required"),
            ({"kind": "wishlist"}, "kind", "one of"),
            ({"kind": "rating"}, "value", "between 0.5 and 5"),
            ({"kind": "rating", "value": 0.4}, "value", "between 0.5 and 5"),
            ({"kind": "rating", "value": 5.5}, "value", "between 0.5 and 5"),
            ({"kind": "rating", "value": "4"}, "value", "number"),
            ({"kind": "view", "value": -1}, "value", "negative"),
            ({"kind": "view", "value": 1e308}, "value", "at most 86400 seconds"),
            ({"kind": "view", "value": 86_400.5}, "value", "at most 86400 seconds"),
            ({"value": True}, "value", "number"),
            ({"kind": "purchase", "quantity": 0}, "quantity", "positive"),
            ({"kind": "return", "quantity": -2}, "quantity", "positive"),
            ({"kind": "cart", "quantity": 0}, "quantity", "positive"),
            ({"quantity": 1.5}, "quantity", "integer"),
            ({"quantity": "2"}, "quantity", "integer"),
            ({"amount": -1}, "amount", "negative"),
            ({"amount": "abc"}, "amount", "number"),
            ({"amount": "NaN"}, "amount", "number"),
            ({"amount": "1e13"}, "amount", "too large"),
            ({"currency": "EURO"}, "currency", "three-letter"),
            ({"currency": 978}, "currency", "three-letter"),
            ({"source": "fax"}, "source", "one of"),
            ({"order_ref": "o" * 65}, "order_ref", "at most 64"),
            ({"recommendation_id": "r" * 65}, "recommendation_id", "at most 64"),
            ({"occurred_at": "yesterday"}, "occurred_at", "iso 8601"),
            ({"occurred_at": 1700000000}, "occurred_at", "iso 8601"),
        ],
    )
    def test_bad_event_is_rejected_with_its_reason_and_the_rest_is_stored(self, api_client, fields, field, words):
        bad = {**event("bad"), **fields}
        data = post(api_client, [event("good-1"), bad, event("good-2")]).json()

        assert [r["status"] for r in data["results"]] == ["accepted", "rejected", "accepted"]
        rejected = data["results"][1]
        assert words in rejected["errors"][field].lower()
        assert field in rejected["reason"]
        assert set(Interaction.objects.values_list("event_id", flat=True)) == {"good-1", "good-2"}

    def test_a_view_of_exactly_one_day_is_accepted(self, api_client):
        data = post(api_client, [event("day", value=86_400)]).json()

        assert data["results"][0]["status"] == "accepted"
        assert Interaction.objects.get().value == 86_400

    def test_event_that_is_not_an_object_is_rejected(self, api_client):
        data = post(api_client, [event("e1"), "not an event", 42, None]).json()

        assert [r["status"] for r in data["results"]] == ["accepted", "rejected", "rejected", "rejected"]
        assert "object" in data["results"][1]["reason"]

    def test_far_future_is_rejected_but_small_clock_skew_is_not(self, api_client):
        soon = (timezone.now() + timedelta(minutes=1)).isoformat()
        later = (timezone.now() + timedelta(days=1)).isoformat()

        data = post(api_client, [event("e1", occurred_at=soon), event("e2", occurred_at=later)]).json()

        assert [r["status"] for r in data["results"]] == ["accepted", "rejected"]
        assert "future" in data["results"][1]["errors"]["occurred_at"]

    def test_amount_in_another_currency_than_the_product_is_rejected(self, api_client):
        ProductFactory(sku="SKU1", currency="EUR")

        data = post(api_client, [event("e1", kind="purchase", amount="5", currency="USD")]).json()

        assert data["results"][0]["status"] == "rejected"
        assert "EUR" in data["results"][0]["errors"]["currency"]
        assert not Interaction.objects.exists()

    def test_all_errors_of_an_event_are_reported(self, api_client):
        data = post(api_client, [{"event_id": "e1", "kind": "rating", "value": 7}]).json()

        assert set(data["results"][0]["errors"]) == {"customer_id", "sku", "value"}


@pytest.mark.django_db
class TestLimits:
    def test_full_batch_is_accepted(self, api_client):
        response = post(api_client, [event(f"e{i}", customer_id=f"C{i % 50}") for i in range(1000)])

        assert response.status_code == 200
        assert response.json()["accepted"] == 1000
        assert Interaction.objects.count() == 1000

    def test_oversize_batch_is_refused_whole(self, api_client):
        response = post(api_client, [event(f"e{i}") for i in range(1001)])

        assert response.status_code == 400
        assert "1000" in response.json()["events"][0]
        assert not Interaction.objects.exists()

    @override_settings(EVENTS_MAX_BATCH=3)
    def test_limit_follows_the_setting(self, api_client):
        assert post(api_client, [event(f"e{i}") for i in range(4)]).status_code == 400
        assert post(api_client, [event(f"e{i}") for i in range(3)]).status_code == 200

    def test_empty_batch_is_refused(self, api_client):
        response = post(api_client, [])

        assert response.status_code == 400
        assert "events" in response.json()


@pytest.mark.django_db
class TestQueryCount:
    """The batch costs the same handful of queries whether it holds 1 event or 1,000."""

    @pytest.fixture
    def warm_client(self, api_client):
        post(api_client, [event("warm-up")])  # authenticates once: key lookup and "last used" are cached after
        return api_client

    @pytest.mark.parametrize("size", [1, 10, 500, 1000])
    def test_known_customers_and_products(self, warm_client, django_assert_num_queries, size):
        for i in range(20):
            CustomerFactory(external_id=f"C{i}")
            ProductFactory(sku=f"S{i}")
        body = [event(f"e{i}", customer_id=f"C{i % 20}", sku=f"S{i % 20}") for i in range(size)]

        # savepoint, known event ids, products, customers, insert, release
        with django_assert_num_queries(6):
            response = post(warm_client, body)
        assert response.json()["accepted"] == size

    @pytest.mark.parametrize("size", [1, 10, 500, 1000])
    def test_all_new_customers_and_products(self, warm_client, django_assert_num_queries, size):
        body = [event(f"e{i}", customer_id=f"new-C{i}", sku=f"new-S{i}") for i in range(size)]

        # + insert and re-read of the stub customers and the stub products
        with django_assert_num_queries(10):
            response = post(warm_client, body)
        assert response.json()["accepted"] == size
        assert Customer.objects.filter(external_id__startswith="new-C", is_stub=True).count() == size

    def test_all_duplicates_stop_after_one_read(self, warm_client, django_assert_num_queries):
        body = [event(f"e{i}") for i in range(200)]
        post(warm_client, body)

        with django_assert_num_queries(3):  # savepoint, known event ids, release
            response = post(warm_client, body)
        assert response.json()["duplicate"] == 200
