"""Brute force on the admin login is locked out by django-axes."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client


@pytest.fixture
def axes_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 5


def _login(client: Client, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": "boss", "password": password})


@pytest.mark.django_db
def test_the_right_password_is_refused_after_repeated_failures(axes_on):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "right-password")
    client = Client(REMOTE_ADDR="203.0.113.9")

    failures = [_login(client, f"guess-{i}").status_code for i in range(5)]
    after = _login(client, "right-password")

    assert failures[:4] == [200, 200, 200, 200]  # the form again, with an error
    assert after.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_few_failures_do_not_lock_the_staff_member_out(axes_on):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "right-password")
    client = Client(REMOTE_ADDR="203.0.113.9")

    for i in range(3):
        _login(client, f"typo-{i}")
    response = _login(client, "right-password")

    assert response.status_code == 302
    assert client.session["_auth_user_id"]


@pytest.mark.django_db
def test_another_address_is_not_locked_by_someone_elses_failures(axes_on):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "right-password")
    attacker, staff = Client(REMOTE_ADDR="203.0.113.9"), Client(REMOTE_ADDR="198.51.100.7")

    for i in range(6):
        _login(attacker, f"guess-{i}")

    assert _login(staff, "right-password").status_code == 302
