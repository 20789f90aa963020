"""Staff manage API clients in admin: the key is shown once, only its hash is kept."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages

from shop.models import ApiClient, hash_api_key
from shop.services import create_api_client

KEY = re.compile(r"<code>([A-Za-z0-9_-]{40,})</code>")


@pytest.fixture
def staff_client(client, db):
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    return client


def shown_keys(response) -> list[str]:
    return [m for message in get_messages(response.wsgi_request) for m in KEY.findall(str(message))]


@pytest.mark.django_db
class TestApiClientAdmin:
    def test_creating_a_client_shows_its_key_once_and_stores_the_hash(self, staff_client):
        response = staff_client.post(
            "/admin/shop/apiclient/add/",
            {"name": "frontend", "throttle_rate": "", "scopes": ["events:write", "recommendations:read"]},
            follow=True,
        )

        (raw_key,) = KEY.findall(response.content.decode())  # shown on the page after saving
        client = ApiClient.objects.get(name="frontend")
        assert client.scopes == ["events:write", "recommendations:read"]
        assert client.key_hash == hash_api_key(raw_key)
        assert client.key_prefix == raw_key[:8]
        assert client.created_by.username == "admin"
        page = staff_client.get(f"/admin/shop/apiclient/{client.pk}/change/").content.decode()
        assert raw_key not in page
        assert client.key_prefix in page

    def test_bad_throttle_rate_is_a_form_error(self, staff_client):
        response = staff_client.post("/admin/shop/apiclient/add/", {"name": "x", "throttle_rate": "lots"})

        assert response.status_code == 200
        assert "e.g. &#x27;600/minute&#x27;" in response.content.decode()
        assert not ApiClient.objects.exists()

    def test_list_shows_prefix_and_state(self, staff_client):
        client, _ = create_api_client(name="frontend")

        page = staff_client.get("/admin/shop/apiclient/").content.decode()

        assert client.key_prefix in page
        assert "frontend" in page

    def test_deactivate_action(self, staff_client, anon_client, django_capture_on_commit_callbacks):
        client, raw_key = create_api_client(name="frontend")

        with django_capture_on_commit_callbacks(execute=True):
            staff_client.post(
                "/admin/shop/apiclient/", {"action": "deactivate", "_selected_action": [client.pk]}, follow=True
            )

        assert ApiClient.objects.get(pk=client.pk).is_active is False
        assert anon_client.get("/api/v1/products/x", HTTP_X_API_KEY=raw_key).status_code == 401

    def test_rotate_action_shows_the_new_key_which_works(self, staff_client, anon_client):
        client, old_key = create_api_client(name="frontend")

        response = staff_client.post(
            "/admin/shop/apiclient/", {"action": "rotate_key", "_selected_action": [client.pk]}
        )

        (new_key,) = shown_keys(response)
        assert new_key != old_key
        assert anon_client.get("/api/v1/products/x", HTTP_X_API_KEY=new_key).status_code == 404
        assert anon_client.get("/api/v1/products/x", HTTP_X_API_KEY=old_key).status_code == 401


@pytest.mark.django_db
def test_unticking_active_in_the_form_stops_the_key(staff_client, anon_client, django_capture_on_commit_callbacks):
    client, raw_key = create_api_client(name="frontend")
    assert anon_client.get("/api/v1/products/x", HTTP_X_API_KEY=raw_key).status_code == 404  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            f"/admin/shop/apiclient/{client.pk}/change/",
            {"name": "frontend", "throttle_rate": "", "scopes": ["catalog:write"]},
        )

    assert ApiClient.objects.get(pk=client.pk).is_active is False
    assert anon_client.get("/api/v1/products/x", HTTP_X_API_KEY=raw_key).status_code == 401


@pytest.mark.django_db
def test_unticking_a_scope_in_the_form_refuses_it_at_once(
    staff_client, anon_client, django_capture_on_commit_callbacks
):
    client, raw_key = create_api_client(name="frontend")
    assert anon_client.get("/api/v1/products/x", HTTP_X_API_KEY=raw_key).status_code == 404  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            f"/admin/shop/apiclient/{client.pk}/change/",
            {"name": "frontend", "throttle_rate": "", "is_active": "on", "scopes": ["events:write"]},
        )

    assert ApiClient.objects.get(pk=client.pk).scopes == ["events:write"]
    response = anon_client.get("/api/v1/products/x", HTTP_X_API_KEY=raw_key)
    assert response.status_code == 403
    assert "catalog:write" in response.json()["detail"]
