"""A customer's data export and erasure: through the API and admin, complete, audited, on both databases."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from rest_framework.test import APIClient

from marketing.models import Coupon, Recipient
from recommender.models import ServedRecommendation
from recommender.serving import engine
from segments.models import Membership
from shop.models import ApiClient, Customer, Interaction, InteractionKind, PrivacyAction, PrivacyRequest
from shop.services import create_api_client
from tests.factories import CustomerFactory, InteractionFactory, ProductFactory
from tests.marketing.factories import OfferFactory, RecipientFactory
from tests.recommender.conftest import _fresh_serving, shop, trained  # noqa: F401  (fixtures)
from tests.segments.factories import MembershipFactory

T = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def privacy_client(db) -> tuple[APIClient, ApiClient]:
    client, raw_key = create_api_client(name="privacy-desk", scopes=["privacy:write"])
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=raw_key)
    return api, client


@pytest.fixture
def alice(db) -> Customer:
    customer = CustomerFactory(
        external_id="alice-1", name="Alice Liddell", email="alice@example.com", attributes={"tier": "gold"}
    )
    other = CustomerFactory(external_id="bob-2", name="Bob")
    product = ProductFactory(sku="TEA")
    InteractionFactory(customer=customer, product=product, kind=InteractionKind.VIEW, occurred_at=T)
    InteractionFactory(customer=customer, product=product, kind=InteractionKind.PURCHASE, occurred_at=T)
    InteractionFactory(customer=other, product=product, kind=InteractionKind.VIEW, occurred_at=T)
    MembershipFactory(customer=customer)
    MembershipFactory(customer=other)
    RecipientFactory(customer=customer, subject="Hello Alice")
    RecipientFactory(customer=other)
    offer = OfferFactory()
    Coupon.objects.create(offer=offer, code="ALICE-10", customer=customer, issued_at=T)
    Coupon.objects.create(offer=offer, code="BOB-10", customer=other, issued_at=T)
    for who, rec_id in ((customer, "r1"), (customer, "r2"), (other, "r3")):
        ServedRecommendation.objects.create(recommendation_id=rec_id, customer_id=who.pk, skus=["TEA"], served_at=T)
    LogEntry.objects.log_actions(
        user_id=get_user_model().objects.create_user("editor", is_staff=True).pk,
        queryset=[customer],
        action_flag=CHANGE,
        change_message="Changed name.",
        single_object=True,
    )
    return customer


@pytest.mark.django_db
class TestExport:
    def test_export_holds_everything_about_the_customer_and_nothing_else(self, privacy_client, alice):
        api, _ = privacy_client

        response = api.get("/api/v1/customers/alice-1/export")

        assert response.status_code == 200
        body = response.json()
        assert body["customer"]["name"] == "Alice Liddell"
        assert body["customer"]["email"] == "alice@example.com"
        assert body["customer"]["attributes"] == {"tier": "gold"}
        assert set(body["consents"]) == {"email", "sms", "push"}
        assert sorted(i["kind"] for i in body["interactions"]) == ["purchase", "view"]
        assert {i["sku"] for i in body["interactions"]} == {"TEA"}
        assert len(body["segment_memberships"]) == 1
        assert sorted(r["recommendation_id"] for r in body["served_recommendations"]) == ["r1", "r2"]
        assert [r["subject"] for r in body["campaign_recipients"]] == ["Hello Alice"]
        assert [c["code"] for c in body["coupons"]] == ["ALICE-10"]
        assert "Bob" not in response.content.decode()

    def test_export_is_audited_without_personal_data(self, privacy_client, alice):
        api, client = privacy_client

        api.get("/api/v1/customers/alice-1/export")

        audit = PrivacyRequest.objects.get()
        assert audit.action == PrivacyAction.EXPORT
        assert audit.api_client == client
        assert audit.counts["interactions"] == 2
        stored = str(PrivacyRequest.objects.values_list())
        assert "alice" not in stored.lower()

    def test_unknown_customer_is_404_and_not_audited(self, privacy_client):
        api, _ = privacy_client

        assert api.get("/api/v1/customers/nobody/export").status_code == 404
        assert not PrivacyRequest.objects.exists()


@pytest.mark.django_db
class TestErasure:
    def test_erasure_removes_the_customer_and_all_their_rows_only(self, privacy_client, alice):
        api, _ = privacy_client
        pk = alice.pk

        response = api.delete("/api/v1/customers/alice-1")

        assert response.status_code == 200
        assert response.json()["counts"] == {
            "segment_memberships": 1,
            "served_recommendations": 2,
            "campaign_recipients": 1,
            "coupons": 1,
            "suppressions": 0,
            "interactions": 2,
            "admin_history": 1,
            "customer": 1,
        }
        assert not Customer.objects.filter(pk=pk).exists()
        assert not Interaction.objects.filter(customer_id=pk).exists()
        assert not Membership.objects.filter(customer_id=pk).exists()
        assert not ServedRecommendation.objects.filter(customer_id=pk).exists()
        bob = Customer.objects.get(external_id="bob-2")
        assert Interaction.objects.filter(customer=bob).count() == 1
        assert Membership.objects.filter(customer=bob).count() == 1
        assert ServedRecommendation.objects.filter(customer_id=bob.pk).count() == 1
        assert list(Recipient.objects.values_list("customer_id", flat=True)) == [bob.pk]
        assert list(Coupon.objects.values_list("code", flat=True)) == ["BOB-10"]

    def test_admin_history_keeps_the_entry_without_the_name(self, privacy_client, alice):
        api, _ = privacy_client
        pk = alice.pk

        api.delete("/api/v1/customers/alice-1")

        entry = LogEntry.objects.get(content_type=ContentType.objects.get_for_model(Customer), object_id=str(pk))
        assert "Alice" not in entry.object_repr
        assert entry.change_message == ""

    def test_erasure_is_audited_with_who_and_when(self, privacy_client, alice):
        api, client = privacy_client

        api.delete("/api/v1/customers/alice-1")

        audit = PrivacyRequest.objects.get()
        assert audit.action == PrivacyAction.ERASURE
        assert audit.api_client == client
        assert audit.actor == "API client privacy-desk"
        assert audit.created_at is not None
        assert "alice" not in str(PrivacyRequest.objects.values_list()).lower()

    def test_erasing_twice_is_404_the_second_time(self, privacy_client, alice):
        api, _ = privacy_client

        assert api.delete("/api/v1/customers/alice-1").status_code == 200
        assert api.delete("/api/v1/customers/alice-1").status_code == 404
        assert PrivacyRequest.objects.count() == 1

    def test_a_key_without_privacy_scope_cannot_erase(self, api_client, alice, db):
        ApiClient.objects.filter(name="test-frontend").update(scopes=["customers:read"])

        response = api_client.delete("/api/v1/customers/alice-1")

        assert response.status_code == 403
        assert "privacy:write" in response.json()["detail"]
        assert Customer.objects.filter(external_id="alice-1").exists()


@pytest.mark.django_db
def test_serving_stops_personalising_for_an_erased_customer(privacy_client, trained):  # noqa: F811
    api, _ = privacy_client
    _, reader_key = create_api_client(name="frontend", scopes=["recommendations:read"])
    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=reader_key)
    before = reader.get("/api/v1/recommendations/c03").json()
    assert before["strategy"] == "personal"

    assert api.delete("/api/v1/customers/c03").status_code == 200
    after = reader.get("/api/v1/recommendations/c03").json()

    assert after["strategy"] not in ("personal", "fold_in")
    assert engine.customer_and_list(engine.current_state(), "c03") == (None, None)


@pytest.mark.django_db
class TestAdmin:
    @pytest.fixture
    def staff(self, client):
        user = get_user_model().objects.create_superuser("dpo", "dpo@example.com", "pw")
        client.force_login(user)
        return user

    def test_export_action_downloads_json_and_audits_the_staff_member(self, client, staff, alice):
        response = client.post(
            "/admin/shop/customer/", {"action": "export_personal_data", "_selected_action": [alice.pk]}
        )

        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert "attachment" in response["Content-Disposition"]
        body = response.json()
        assert body[0]["customer"]["external_id"] == "alice-1"
        audit = PrivacyRequest.objects.get()
        assert (audit.action, audit.user, audit.actor) == (PrivacyAction.EXPORT, staff, "staff dpo")

    def test_erase_action_asks_first_then_erases(self, client, staff, alice):
        asked = client.post("/admin/shop/customer/", {"action": "erase_customers", "_selected_action": [alice.pk]})

        assert asked.status_code == 200
        assert "cannot be undone" in asked.content.decode()
        assert Customer.objects.filter(pk=alice.pk).exists()

        done = client.post(
            "/admin/shop/customer/",
            {"action": "erase_customers", "_selected_action": [alice.pk], "confirm": "yes"},
            follow=True,
        )

        assert done.status_code == 200
        assert not Customer.objects.filter(pk=alice.pk).exists()
        audit = PrivacyRequest.objects.get()
        assert (audit.action, audit.user) == (PrivacyAction.ERASURE, staff)
        assert "Alice" not in str(LogEntry.objects.values_list("object_repr", "change_message"))
