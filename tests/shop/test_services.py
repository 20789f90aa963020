"""Shop services called directly: events, upserts, API clients and the create_api_client command."""

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError
from django.test import override_settings

from shop import services
from shop.models import ApiClient, Customer, Interaction, Product, hash_api_key
from shop.services import EventStatus


def event(event_id, **fields):
    return {"event_id": event_id, "customer_id": "C1", "sku": "S1", "kind": "view", **fields}


@pytest.mark.django_db
class TestRecordEvents:
    @pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e308, 86_401])
    def test_a_view_without_a_finite_duration_of_at_most_a_day_is_rejected_naming_the_field(self, value):
        # The API's JSON parser refuses infinities; the service must too, whoever calls it.
        (result,) = services.record_events(events=[event("v", value=value)])

        assert result.status == EventStatus.REJECTED
        assert result.reason.startswith("value: ")
        assert not Interaction.objects.exists()

    def test_answers_each_event_in_order(self):
        results = services.record_events(
            events=[event("a"), event("b", kind="rating"), event("a"), event("c", kind="cart", quantity=3)]
        )

        assert [(r.index, r.event_id, r.status) for r in results] == [
            (0, "a", EventStatus.ACCEPTED),
            (1, "b", EventStatus.REJECTED),
            (2, "a", EventStatus.DUPLICATE),
            (3, "c", EventStatus.ACCEPTED),
        ]
        assert results[1].errors == {"value": "A rating needs a value between 0.5 and 5."}
        assert Interaction.objects.get(event_id="c").quantity == 3

    def test_stored_rows_satisfy_the_models_rules(self):
        services.record_events(
            events=[
                event("p", kind="purchase", quantity=2, amount=3.333, order_ref="O1"),
                event("r", kind="rating", value=0.5),
            ]
        )

        for interaction in Interaction.objects.all():
            interaction.full_clean()  # field rules and the table's check constraints
        assert str(Interaction.objects.get(event_id="p").amount) == "3.33"

    def test_stubs_are_created_once_for_many_events(self):
        services.record_events(events=[event(f"e{i}", customer_id="new", sku="new-sku") for i in range(5)])

        customer = Customer.objects.get(external_id="new", is_stub=True)
        product = Product.objects.get(sku="new-sku", is_stub=True)
        # Stubs carry the models' defaults, exactly as if created through the ORM.
        customer.full_clean()
        product.full_clean()
        assert (customer.attributes, customer.email_consent, customer.created_at is not None) == ({}, False, True)
        assert (product.attributes, product.currency, product.is_active, product.is_merchandise) == (
            {},
            "EUR",
            True,
            True,
        )

    def test_rejects_more_than_the_batch_limit(self):
        with override_settings(EVENTS_MAX_BATCH=2), pytest.raises(ValidationError):
            services.record_events(events=[event("a"), event("b"), event("c")])

    def test_dates_before_1900_are_rejected(self):
        (result,) = services.record_events(events=[event("a", occurred_at="0001-01-01T00:00:00+05:00")])

        assert result.status == EventStatus.REJECTED
        assert "occurred_at" in result.errors


class TestRetryOnConflict:
    def test_a_conflict_is_retried(self):
        attempts = []

        def operation():
            attempts.append(1)
            if len(attempts) == 1:
                raise IntegrityError("UNIQUE constraint failed: shop_interaction.event_id")
            return "stored"

        assert services._retry_on_conflict(operation) == "stored"
        assert len(attempts) == 2

    def test_a_persistent_conflict_is_raised(self):
        def operation():
            raise IntegrityError("always")

        with pytest.raises(IntegrityError):
            services._retry_on_conflict(operation)


@pytest.mark.django_db
class TestUpserts:
    def test_upsert_customer_reports_created_then_updated(self):
        customer, created = services.upsert_customer(external_id="C1", data={"name": "Ann"})
        again, created_again = services.upsert_customer(external_id="C1", data={"city": "York"})

        assert (created, created_again) == (True, False)
        assert again.pk == customer.pk
        customer.refresh_from_db()
        assert (customer.name, customer.city) == ("Ann", "York")

    def test_field_rules_are_enforced_by_the_service_too(self):
        with pytest.raises(ValidationError) as excinfo:
            services.upsert_customer(external_id="C1", data={"email": "not an email"})

        assert "email" in excinfo.value.message_dict
        assert not Customer.objects.exists()

    def test_batch_error_names_the_item(self):
        with pytest.raises(ValidationError) as excinfo:
            services.upsert_customers(customers=[{"external_id": "a"}, {"external_id": "b", "gender": "q"}])

        assert "1.gender" in excinfo.value.message_dict

    def test_upsert_products_summary(self):
        services.upsert_product(sku="A", data={"name": "Old"})

        summary = services.upsert_products(products=[{"sku": "A", "name": "New"}, {"sku": "B"}])

        assert summary == services.UpsertSummary(created=1, updated=1)
        assert Product.objects.get(sku="A").name == "New"


@pytest.mark.django_db
class TestApiClients:
    def test_create_stores_only_the_hash_and_prefix(self):
        client, raw_key = services.create_api_client(name="frontend")

        stored = ApiClient.objects.get(pk=client.pk)
        assert stored.key_hash == hash_api_key(raw_key)
        assert stored.key_prefix == raw_key[:8]
        assert raw_key not in {stored.key_hash, stored.name, stored.key_prefix}
        assert len(raw_key) >= 40

    def test_names_are_unique(self):
        services.create_api_client(name="frontend")

        with pytest.raises(ValidationError):
            services.create_api_client(name="frontend")

    def test_rotation_changes_the_key(self):
        client, old_key = services.create_api_client(name="frontend")

        new_key = services.rotate_api_client_key(client=client)

        client.refresh_from_db()
        assert new_key != old_key
        assert client.key_hash == hash_api_key(new_key)

    def test_deactivate(self):
        client, _ = services.create_api_client(name="frontend")

        services.deactivate_api_client(client=client)

        assert ApiClient.objects.get(pk=client.pk).is_active is False

    @pytest.mark.parametrize("rate", ["abc", "10", "0/minute", "10/fortnight", "/minute"])
    def test_bad_throttle_rate_is_refused(self, rate):
        with pytest.raises(ValidationError):
            services.create_api_client(name="frontend", throttle_rate=rate)

    @pytest.mark.parametrize("rate", ["", "10/s", "600/minute", "5000/hour", "1/day"])
    def test_good_throttle_rate_is_kept(self, rate):
        client, _ = services.create_api_client(name="frontend", throttle_rate=rate)

        assert ApiClient.objects.get(pk=client.pk).throttle_rate == rate


@pytest.mark.django_db
class TestCreateApiClientCommand:
    def test_json_output_is_one_document_with_a_working_key(self):
        out = StringIO()

        call_command("create_api_client", "demo-frontend", "--json", stdout=out)

        document = json.loads(out.getvalue())
        assert document["name"] == "demo-frontend"
        assert ApiClient.objects.get(name="demo-frontend").key_hash == hash_api_key(document["key"])

    def test_text_output_shows_the_key_once(self):
        out = StringIO()

        call_command("create_api_client", "app", "--throttle-rate", "60/minute", stdout=out)

        client = ApiClient.objects.get(name="app")
        assert client.throttle_rate == "60/minute"
        assert client.key_prefix in out.getvalue()

    def test_existing_name_is_a_command_error(self):
        services.create_api_client(name="app")

        with pytest.raises(CommandError, match="name"):
            call_command("create_api_client", "app", stdout=StringIO())
