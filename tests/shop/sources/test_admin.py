"""The source pages in admin: made with a key or secret shown once, then endpoint, counts and last deliveries."""

import base64
import hashlib
import hmac
import json
import re

import pytest
from django.urls import reverse

from shop.models import AnonymousProfile, ApiClient, Source, SourceDelivery
from shop.sources.models import Outcome
from shop.sources.services import Tally, count_delivery

pytestmark = pytest.mark.django_db


def _shown_once(response) -> str:
    found = re.search(r"<code>([^<]+)</code> — copy it now", response.content.decode())
    assert found, "the new key or secret is shown once after saving"
    return found.group(1)


def test_adding_a_shopify_source_shows_its_secret_once_and_it_signs(admin_client, client):
    response = admin_client.post(
        reverse("admin:shop_source_add"),
        {"name": "Acme", "kind": "shopify", "shop_domain": "acme.myshopify.com", "secret_given": ""},
        follow=True,
    )
    secret = _shown_once(response)
    source = Source.objects.get(name="Acme")
    page = admin_client.get(reverse("admin:shop_source_change", args=[source.pk])).content.decode()
    assert "http://testserver/api/v1/sources/shopify" in page
    assert secret not in page
    body = json.dumps({"id": 1, "email": "a@example.com", "first_name": "A"}).encode()
    signed = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    delivered = client.post(
        "/api/v1/sources/shopify",
        data=body,
        content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC="customers/create",
        HTTP_X_SHOPIFY_HMAC_SHA256=signed,
        HTTP_X_SHOPIFY_WEBHOOK_ID="w1",
    )
    assert delivered.status_code == 200
    page = admin_client.get(reverse("admin:shop_source_change", args=[source.pk])).content.decode()
    assert "customers/create" in page  # among the last deliveries


def test_adding_a_segment_source_makes_a_write_key_with_the_events_scope(admin_client):
    response = admin_client.post(reverse("admin:shop_source_add"), {"name": "Web", "kind": "segment"}, follow=True)
    key = _shown_once(response)
    source = Source.objects.get(name="Web")
    assert source.api_client.scopes == ["events:write"]
    assert ApiClient.objects.get(pk=source.api_client_id).key_prefix == key[:8]
    page = admin_client.get(reverse("admin:shop_source_change", args=[source.pk])).content.decode()
    assert "http://testserver/api/v1/sources/segment</code>" in page


def test_source_page_shows_counts_and_reasons(admin_client):
    source = Source.objects.create(name="Woo", kind="woocommerce", secret="s")
    tally = Tally()
    tally.add(Outcome.ACCEPTED)
    tally.add(Outcome.REJECTED, "no product lines")
    count_delivery(source=source, tally=tally, topic="order.updated", delivery_id="d1")
    page = admin_client.get(reverse("admin:shop_source_change", args=[source.pk])).content.decode()
    assert "no product lines" in page
    assert SourceDelivery.objects.get().rejected == 1
    listing = admin_client.get(reverse("admin:shop_source_changelist")).content.decode()
    assert "Woo" in listing


def test_delivery_and_anonymous_profile_lists_render(admin_client):
    AnonymousProfile.objects.create(anonymous_id="v-1")
    assert admin_client.get(reverse("admin:shop_anonymousprofile_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:shop_sourcedelivery_changelist")).status_code == 200
