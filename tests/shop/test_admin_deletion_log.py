"""Deleting a customer in the admin leaves no personal data in the admin history."""

import pytest
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from shop.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_user(username="staff", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client, user


def history_of(customer_pk: int) -> list[LogEntry]:
    content_type = ContentType.objects.get_for_model(Customer)
    return list(LogEntry.objects.filter(content_type=content_type, object_id=str(customer_pk)).order_by("pk"))


def test_the_delete_page_logs_the_deletion_without_the_name_and_strips_earlier_entries(staff):
    client, user = staff
    customer = CustomerFactory(name="Ada Lovelace", external_id="ada")
    LogEntry.objects.log_actions(user_id=user.pk, queryset=[customer], action_flag=ADDITION, change_message="added")
    assert history_of(customer.pk)[0].object_repr == "Ada Lovelace"

    response = client.post(reverse("admin:shop_customer_delete", args=[customer.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Customer.objects.filter(pk=customer.pk).exists()
    added, deleted = history_of(customer.pk)
    assert (deleted.action_flag, deleted.object_repr) == (DELETION, f"customer #{customer.pk}")
    assert "Ada" not in added.object_repr and added.change_message == ""
    assert not LogEntry.objects.filter(object_repr__contains="Lovelace").exists()


def test_the_delete_selected_action_logs_no_names_either(staff):
    client, _ = staff
    customers = [CustomerFactory(name=f"Person {i}") for i in range(3)]

    response = client.post(
        reverse("admin:shop_customer_changelist"),
        {"action": "delete_selected", "_selected_action": [c.pk for c in customers], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Customer.objects.exists()
    entries = LogEntry.objects.filter(action_flag=DELETION).order_by("object_id")
    assert sorted(e.object_repr for e in entries) == sorted(f"customer #{c.pk}" for c in customers)
    assert not LogEntry.objects.filter(object_repr__startswith="Person").exists()
