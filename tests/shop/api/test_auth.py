"""Who may call the API: a client with an active key, or a logged-in staff member."""

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from shop.api.authentication import GENERATION_KEY, forget_api_key
from shop.models import ApiClient, all_api_scopes, hash_api_key
from shop.services import create_api_client, deactivate_api_client, rotate_api_client_key

URL = "/api/v1/events"
BODY = [{"event_id": "e1", "customer_id": "C1", "sku": "S1", "kind": "view"}]


@pytest.fixture(autouse=True)
def _no_served_log(settings):
    """These tests call the recommendation endpoints for their answers' status only: log nothing served, so
    no background write outlives the test."""
    settings.RECOMMENDER_LOG_SERVED = False


@pytest.mark.django_db
class TestApiKey:
    def test_no_credentials_is_401_with_the_scheme_to_use(self, anon_client):
        response = anon_client.post(URL, BODY, format="json")

        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"

    def test_authorization_header_works(self, api_client):
        assert api_client.post(URL, BODY, format="json").status_code == 200

    def test_x_api_key_header_works(self, anon_client, api_key):
        response = anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=api_key)

        assert response.status_code == 200

    @pytest.mark.parametrize("header", ["Api-Key not-a-key", "Api-Key ", "api-key wrong"])
    def test_wrong_key_is_401(self, anon_client, header):
        response = anon_client.post(URL, BODY, format="json", HTTP_AUTHORIZATION=header)

        assert response.status_code == 401

    def test_other_authorization_scheme_is_not_an_api_key(self, anon_client, api_key):
        response = anon_client.post(URL, BODY, format="json", HTTP_AUTHORIZATION=f"Bearer {api_key}")

        assert response.status_code == 401

    def test_inactive_key_is_401(self, anon_client):
        client, raw_key = create_api_client(name="old-app")
        deactivate_api_client(client=client)

        response = anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key)

        assert response.status_code == 401

    def test_deactivation_takes_effect_although_the_key_was_cached(
        self, anon_client, django_capture_on_commit_callbacks
    ):
        client, raw_key = create_api_client(name="app")
        assert anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key).status_code == 200

        with django_capture_on_commit_callbacks(execute=True):  # the cache forgets the key once committed
            deactivate_api_client(client=client)

        assert anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key).status_code == 401

    def test_rotation_retires_the_old_key(self, anon_client, django_capture_on_commit_callbacks):
        client, old_key = create_api_client(name="app")
        assert anon_client.get("/api/v1/customers/x", HTTP_X_API_KEY=old_key).status_code == 404

        with django_capture_on_commit_callbacks(execute=True):
            new_key = rotate_api_client_key(client=client)

        assert anon_client.get("/api/v1/customers/x", HTTP_X_API_KEY=old_key).status_code == 401
        assert anon_client.get("/api/v1/customers/x", HTTP_X_API_KEY=new_key).status_code == 404

    def test_a_change_made_by_another_process_is_seen_at_once(self, anon_client):
        """Each process remembers the clients it looked up; another process's change (here: the row updated
        without this process's signals, and the key generation moved on in the shared cache, as
        `forget_api_key` does there) voids what it remembered on the next request."""
        client, raw_key = create_api_client(name="app")
        assert anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key).status_code == 200
        ApiClient.objects.filter(pk=client.pk).update(is_active=False)
        # Remembered here: still accepted until the change is announced.
        assert anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key).status_code == 200

        forget_api_key(client.key_hash)

        assert anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key).status_code == 401

    def test_a_lost_generation_voids_what_the_process_remembered(self, anon_client):
        client, raw_key = create_api_client(name="app")
        assert anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key).status_code == 200
        ApiClient.objects.filter(pk=client.pk).update(is_active=False)
        cache.delete(f"apikey:{client.key_hash}")

        cache.delete(GENERATION_KEY)  # evicted, or the cache restarted

        assert anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key).status_code == 401

    def test_use_is_recorded_as_last_used(self, api_client):
        assert ApiClient.objects.get().last_used_at is None

        api_client.post(URL, BODY, format="json")

        assert ApiClient.objects.get().last_used_at is not None


@pytest.mark.django_db
class TestSessions:
    def test_staff_session_works(self):
        staff = get_user_model().objects.create_user("marketer", password="pw", is_staff=True)
        client = APIClient()
        client.force_login(staff)

        assert client.post(URL, BODY, format="json").status_code == 200
        assert client.get("/api/v1/products/S1").status_code == 200

    def test_non_staff_session_is_403(self):
        user = get_user_model().objects.create_user("shopper", password="pw")
        client = APIClient()
        client.force_login(user)

        response = client.post(URL, BODY, format="json")

        assert response.status_code == 403

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/api/v1/customers/C1"),
            ("put", "/api/v1/customers/C1"),
            ("put", "/api/v1/customers"),
            ("get", "/api/v1/products/S1"),
            ("put", "/api/v1/products/S1"),
            ("put", "/api/v1/products"),
        ],
    )
    def test_every_operation_needs_credentials(self, anon_client, method, path):
        response = getattr(anon_client, method)(path, {}, format="json")

        assert response.status_code == 401


@pytest.mark.django_db
class TestRevocationIsImmediate:
    def test_deactivating_in_admin_form_stops_the_key_at_once(self, anon_client, django_capture_on_commit_callbacks):
        client, raw_key = create_api_client(name="app")
        assert anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key).status_code == 200

        with django_capture_on_commit_callbacks(execute=True):
            client.is_active = False
            client.save()

        assert anon_client.post(URL, BODY, format="json", HTTP_X_API_KEY=raw_key).status_code == 401
        assert anon_client.get("/api/v1/popular", HTTP_X_API_KEY=raw_key).status_code == 401

    def test_deleting_a_client_stops_its_key_at_once(self, anon_client, django_capture_on_commit_callbacks):
        client, raw_key = create_api_client(name="app")
        assert anon_client.get("/api/v1/popular", HTTP_X_API_KEY=raw_key).status_code == 200

        with django_capture_on_commit_callbacks(execute=True):
            client.delete()

        assert anon_client.get("/api/v1/popular", HTTP_X_API_KEY=raw_key).status_code == 401

    def test_lean_views_see_a_rotation_at_once(self, anon_client, django_capture_on_commit_callbacks):
        client, old_key = create_api_client(name="app")
        assert anon_client.get("/api/v1/popular", HTTP_X_API_KEY=old_key).status_code == 200

        with django_capture_on_commit_callbacks(execute=True):
            new_key = rotate_api_client_key(client=client)

        assert anon_client.get("/api/v1/popular", HTTP_X_API_KEY=old_key).status_code == 401
        assert anon_client.get("/api/v1/popular", HTTP_X_API_KEY=new_key).status_code == 200


SCOPED_OPERATIONS = [
    ("post", "/api/v1/events", "events:write"),
    ("put", "/api/v1/customers/C1", "catalog:write"),
    ("put", "/api/v1/customers", "catalog:write"),
    ("put", "/api/v1/products/S1", "catalog:write"),
    ("put", "/api/v1/products", "catalog:write"),
    ("get", "/api/v1/products/S1", "catalog:write"),
    ("get", "/api/v1/customers/C1", "customers:read"),
    ("get", "/api/v1/customers/C1/segments", "customers:read"),
    ("get", "/api/v1/customers/C1/export", "privacy:write"),
    ("delete", "/api/v1/customers/C1", "privacy:write"),
    ("get", "/api/v1/recommendations/C1", "recommendations:read"),
    ("get", "/api/v1/popular", "recommendations:read"),
    ("get", "/api/v1/products/S1/similar", "recommendations:read"),
    ("get", "/api/v1/products/S1/bought-together", "recommendations:read"),
]


@pytest.mark.django_db
class TestScopes:
    @pytest.mark.parametrize(("method", "path", "scope"), SCOPED_OPERATIONS)
    def test_a_key_without_the_scope_gets_403_naming_it(self, anon_client, method, path, scope):
        others = [s for s in all_api_scopes() if s != scope]
        _, raw_key = create_api_client(name="narrow", scopes=others)

        response = getattr(anon_client, method)(path, {}, format="json", HTTP_X_API_KEY=raw_key)

        assert response.status_code == 403
        assert scope in response.json()["detail"]

    @pytest.mark.parametrize(("method", "path", "scope"), SCOPED_OPERATIONS)
    def test_a_key_with_only_that_scope_gets_past_the_check(self, anon_client, method, path, scope):
        _, raw_key = create_api_client(name="narrow", scopes=[scope])

        response = getattr(anon_client, method)(path, {}, format="json", HTTP_X_API_KEY=raw_key)

        assert response.status_code not in (401, 403)

    def test_every_api_operation_declares_its_scope(self):
        """A new endpoint without `required_scopes` would be open to every key: refuse that here."""
        from django.urls import get_resolver

        from shop.api.permissions import required_scope

        def walk(patterns, prefix=""):
            for pattern in patterns:
                if hasattr(pattern, "url_patterns"):
                    yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
                else:
                    yield prefix + str(pattern.pattern), pattern.callback

        undeclared = []
        for route, callback in walk(get_resolver().url_patterns):
            view_class = getattr(callback, "view_class", None)
            if not route.startswith("api/v1/") or view_class is None:
                continue
            if getattr(view_class, "permission_classes", None) == []:
                continue  # no API key at all: a webhook checked by its own signature
            for method in ("get", "post", "put", "patch", "delete"):
                if hasattr(view_class, method) and required_scope(view_class, method.upper()) is None:
                    undeclared.append(f"{method.upper()} {route}")
        assert undeclared == []

    def test_revoking_a_scope_takes_effect_at_once(self, anon_client, django_capture_on_commit_callbacks):
        client, raw_key = create_api_client(name="app")
        assert anon_client.get("/api/v1/popular", HTTP_X_API_KEY=raw_key).status_code == 200

        with django_capture_on_commit_callbacks(execute=True):
            client.scopes = ["events:write"]
            client.save()

        assert anon_client.get("/api/v1/popular", HTTP_X_API_KEY=raw_key).status_code == 403

    def test_unknown_scope_is_refused_by_name(self):
        with pytest.raises(ValidationError, match="orders:write"):
            create_api_client(name="app", scopes=["events:write", "orders:write"])

    def test_existing_clients_keep_every_scope(self):
        ApiClient.objects.create(name="old", key_prefix="x", key_hash="0" * 64)

        assert ApiClient.objects.get(name="old").scopes == all_api_scopes()

    def test_command_creates_a_scoped_key_and_shows_it_once(self):
        out = StringIO()
        call_command("create_api_client", "feed", "--scopes", "events:write,catalog:write", "--json", stdout=out)

        created = json.loads(out.getvalue())
        client = ApiClient.objects.get(pk=created["id"])
        assert client.scopes == ["events:write", "catalog:write"]
        assert created["scopes"] == ["events:write", "catalog:write"]
        assert client.key_hash == hash_api_key(created["key"])
        assert created["key"] not in str(ApiClient.objects.values_list())

    def test_command_names_an_unknown_scope(self):
        with pytest.raises(CommandError, match="everything:write"):
            call_command("create_api_client", "feed", "--scopes", "everything:write")
