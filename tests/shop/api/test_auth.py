"""Who may call the API: a client with an active key, or a logged-in staff member."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from shop.models import ApiClient
from shop.services import create_api_client, deactivate_api_client, rotate_api_client_key

URL = "/api/v1/events"
BODY = [{"event_id": "e1", "customer_id": "C1", "sku": "S1", "kind": "view"}]


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
