"""Customer and product upserts (single and batch) and reads."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shop.models import Category, Customer, Product
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory


@pytest.mark.django_db
class TestCustomerUpsert:
    def test_create_then_update_keeps_fields_not_sent(self, api_client):
        created = api_client.put(
            "/api/v1/customers/C1",
            {"email": "ann@example.com", "name": "Ann", "birth_year": 1980, "attributes": {"tier": "gold"}},
            format="json",
        )
        updated = api_client.put("/api/v1/customers/C1", {"city": "Leeds"}, format="json")

        assert created.status_code == 201
        assert updated.status_code == 200
        assert updated.json()["external_id"] == "C1"
        customer = Customer.objects.get(external_id="C1")
        assert (customer.email, customer.name, customer.birth_year, customer.city) == (
            "ann@example.com",
            "Ann",
            1980,
            "Leeds",
        )
        assert customer.attributes == {"tier": "gold"}

    def test_upsert_completes_a_stub_made_by_an_event(self, api_client):
        api_client.post(
            "/api/v1/events", [{"event_id": "e1", "customer_id": "C9", "sku": "S", "kind": "view"}], format="json"
        )
        assert Customer.objects.get(external_id="C9").is_stub

        response = api_client.put("/api/v1/customers/C9", {"name": "Bo"}, format="json")

        assert response.status_code == 200
        assert response.json()["is_stub"] is False
        assert Customer.objects.get(external_id="C9").interactions.count() == 1

    def test_consent_change_is_stamped_and_unchanged_consent_is_not(self, api_client):
        api_client.put("/api/v1/customers/C1", {"email_consent": True}, format="json")
        first = Customer.objects.get(external_id="C1")
        assert first.email_consent and first.email_consent_changed_at is not None
        assert first.sms_consent_changed_at is None  # never stated

        api_client.put("/api/v1/customers/C1", {"email_consent": True, "name": "Ann"}, format="json")
        assert Customer.objects.get(external_id="C1").email_consent_changed_at == first.email_consent_changed_at

        api_client.put("/api/v1/customers/C1", {"email_consent": False}, format="json")
        withdrawn = Customer.objects.get(external_id="C1")
        assert not withdrawn.email_consent
        assert withdrawn.email_consent_changed_at > first.email_consent_changed_at

    def test_get_returns_the_customer_and_404_when_unknown(self, api_client):
        CustomerFactory(external_id="C1", email="c1@example.com", sms_consent=True)

        found = api_client.get("/api/v1/customers/C1")
        missing = api_client.get("/api/v1/customers/nobody")

        assert found.status_code == 200
        assert found.json()["email"] == "c1@example.com"
        assert found.json()["sms_consent"] is True
        assert missing.status_code == 404


@pytest.mark.django_db
class TestCustomerBatch:
    def test_batch_creates_and_updates(self, api_client):
        CustomerFactory(external_id="old", name="Old Name")

        response = api_client.put(
            "/api/v1/customers",
            [{"external_id": "old", "name": "New Name"}, {"external_id": "new", "push_consent": True}],
            format="json",
        )

        assert response.status_code == 200
        assert response.json() == {"created": 1, "updated": 1}
        assert Customer.objects.get(external_id="old").name == "New Name"
        assert Customer.objects.get(external_id="new").push_consent_changed_at is not None

    def test_object_envelope_is_accepted(self, api_client):
        response = api_client.put("/api/v1/customers", {"customers": [{"external_id": "a"}]}, format="json")

        assert response.json() == {"created": 1, "updated": 0}

    def test_invalid_item_rejects_the_whole_batch_with_errors_per_item(self, api_client):
        response = api_client.put(
            "/api/v1/customers",
            [{"external_id": "a"}, {"external_id": "b", "email": "nope"}, {"name": "no id"}],
            format="json",
        )

        assert response.status_code == 400
        errors = response.json()  # keyed by the position of each bad item
        assert set(errors) == {"1", "2"}
        assert "email" in errors["1"]
        assert "external_id" in errors["2"]
        assert not Customer.objects.exists()

    def test_repeated_id_in_a_batch_is_400(self, api_client):
        response = api_client.put("/api/v1/customers", [{"external_id": "a"}, {"external_id": "a"}], format="json")

        assert response.status_code == 400
        assert "a" in response.json()["external_id"][0]

    def test_batch_over_the_limit_is_400(self, api_client):
        response = api_client.put("/api/v1/customers", [{"external_id": f"c{i}"} for i in range(1001)], format="json")

        assert response.status_code == 400
        assert not Customer.objects.exists()

    def test_batch_of_1000_is_a_few_queries(self, api_client, django_assert_max_num_queries):
        for i in range(0, 1000, 2):
            CustomerFactory(external_id=f"c{i}")
        api_client.get("/api/v1/customers/warm-up")

        with django_assert_max_num_queries(20):
            response = api_client.put(
                "/api/v1/customers", [{"external_id": f"c{i}", "city": "York"} for i in range(1000)], format="json"
            )

        assert response.json() == {"created": 500, "updated": 500}
        assert Customer.objects.filter(city="York").count() == 1000


@pytest.mark.django_db
class TestProductUpsert:
    def test_create_with_a_new_category_then_update(self, api_client):
        created = api_client.put(
            "/api/v1/products/MUG-1",
            {"name": "Mug", "price": "4.50", "currency": "gbp", "category": "kitchen", "category_name": "Kitchen"},
            format="json",
        )
        updated = api_client.put("/api/v1/products/MUG-1", {"stock": 0, "is_active": False}, format="json")

        assert created.status_code == 201
        assert created.json()["category"] == "kitchen"
        assert updated.status_code == 200
        product = Product.objects.get(sku="MUG-1")
        assert (product.name, product.price, product.currency, product.stock, product.is_active) == (
            "Mug",
            Decimal("4.50"),
            "GBP",
            0,
            False,
        )
        assert product.category.name == "Kitchen"

    def test_existing_category_is_reused_and_can_be_removed(self, api_client):
        category = CategoryFactory(code="garden", name="Garden & Outdoor")

        api_client.put("/api/v1/products/S1", {"category": "garden", "category_name": "ignored"}, format="json")
        assert Product.objects.get(sku="S1").category == category
        assert Category.objects.get(code="garden").name == "Garden & Outdoor"

        api_client.put("/api/v1/products/S1", {"category": None}, format="json")
        assert Product.objects.get(sku="S1").category is None

    def test_new_category_without_a_name_is_named_after_its_code(self, api_client):
        api_client.put("/api/v1/products/S1", {"category": "home-decor"}, format="json")

        assert Category.objects.get(code="home-decor").name == "Home Decor"

    def test_upsert_completes_a_stub_product(self, api_client):
        api_client.post(
            "/api/v1/events", [{"event_id": "e1", "customer_id": "C", "sku": "NEW", "kind": "view"}], format="json"
        )

        response = api_client.put("/api/v1/products/NEW", {"name": "Lamp", "is_merchandise": True}, format="json")

        assert response.status_code == 200
        assert response.json()["is_stub"] is False

    def test_get_returns_the_product_with_its_category(self, api_client):
        ProductFactory(sku="S1", name="Kettle", category=CategoryFactory(code="kitchen", name="Kitchen"))

        data = api_client.get("/api/v1/products/S1").json()

        assert (data["name"], data["category"], data["category_name"], data["price"]) == (
            "Kettle",
            "kitchen",
            "Kitchen",
            "9.99",
        )
        assert api_client.get("/api/v1/products/none").status_code == 404

    def test_product_without_category_reads_as_null(self, api_client):
        ProductFactory(sku="S1", category=None)

        data = api_client.get("/api/v1/products/S1").json()

        assert data["category"] is None


@pytest.mark.django_db
class TestProductBatch:
    def test_batch_creates_updates_and_creates_categories_once(self, api_client):
        ProductFactory(sku="A", price=Decimal("1.00"))

        response = api_client.put(
            "/api/v1/products",
            {
                "products": [
                    {"sku": "A", "price": "2.00", "category": "toys"},
                    {"sku": "B", "name": "Ball", "category": "toys"},
                    {"sku": "C", "name": "Postage", "is_merchandise": False},
                ]
            },
            format="json",
        )

        assert response.json() == {"created": 2, "updated": 1}
        assert Product.objects.get(sku="A").price == Decimal("2.00")
        assert Category.objects.filter(code="toys").count() == 1
        assert set(Product.objects.filter(category__code="toys").values_list("sku", flat=True)) == {"A", "B"}
        assert Product.objects.get(sku="C").is_merchandise is False

    def test_invalid_item_is_400_and_nothing_is_written(self, api_client):
        response = api_client.put("/api/v1/products", [{"sku": "A"}, {"sku": "B", "price": "-3"}], format="json")

        assert response.status_code == 400
        assert "price" in response.json()["1"]
        assert not Product.objects.exists()


@pytest.mark.django_db
def test_signed_up_at_round_trips(api_client):
    api_client.put("/api/v1/customers/C1", {"signed_up_at": "2024-02-03T04:05:06Z"}, format="json")

    assert Customer.objects.get(external_id="C1").signed_up_at == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
