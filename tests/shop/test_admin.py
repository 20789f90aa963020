"""The shop admin on a small demo shop: every page renders, search finds, big lists stay paginated."""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from shop.admin import RECENT_INTERACTIONS
from shop.demo.services import write_demo_shop
from shop.demo_data import generate_shop
from shop.models import Category, Customer, Interaction, InteractionKind, Product

pytestmark = pytest.mark.django_db

SEED = 5
# Pinned: the tests below browse the year 2025 of the demo's history.
HISTORY_END = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """One small demo shop for the module (each test still runs in its own rolled-back transaction)."""
    shop = generate_shop(customers=300, seed=SEED, end=HISTORY_END)
    with django_db_blocker.unblock():
        write_demo_shop(shop=shop)
    yield shop
    with django_db_blocker.unblock():
        for model in (Interaction, Customer, Product, Category):
            model.objects.all().delete()


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="staff", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def changelist(model_name: str) -> str:
    return reverse(f"admin:shop_{model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:shop_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.mark.parametrize("model_name", ["customer", "category", "product", "interaction"])
def test_changelists_render(staff_client, demo, model_name):
    response = staff_client.get(changelist(model_name))
    assert response.status_code == 200
    assert response.context["cl"].result_count > 0


def test_change_pages_render(staff_client, demo):
    objects = [
        Customer.objects.first(),
        Category.objects.exclude(parent=None).first(),
        Product.objects.filter(is_merchandise=True).first(),
        Interaction.objects.filter(kind=InteractionKind.PURCHASE).first(),
    ]
    for obj in objects:
        response = staff_client.get(change(obj))
        assert response.status_code == 200, obj


def test_interaction_changelist_does_not_query_per_row(staff_client, demo, django_assert_max_num_queries):
    staff_client.get(changelist("interaction"))  # caches the first and last event dates
    with django_assert_max_num_queries(6):
        response = staff_client.get(changelist("interaction"))
    assert len(response.context["cl"].result_list) == 50


def test_interaction_date_links_need_no_query_over_every_row(staff_client, demo):
    with CaptureQueriesContext(connection) as queries:
        page = staff_client.get(changelist("interaction"), {"occurred_at__year": "2025"}).content.decode()
    assert not [q for q in queries.captured_queries if "trunc" in q["sql"].lower()]
    assert "occurred_at__month=6" in page and "occurred_at__month=12" in page
    assert "All dates" in page


def test_interactions_filtered_by_kind_come_newest_first(staff_client, demo):
    response = staff_client.get(changelist("interaction"), {"kind__exact": "purchase"})
    times = [i.occurred_at for i in response.context["cl"].result_list]
    assert times == sorted(times, reverse=True)
    assert times[0] == Interaction.objects.filter(kind="purchase").latest("occurred_at").occurred_at


def test_customer_page_shows_one_page_of_interactions_and_links_to_the_rest(staff_client, demo):
    top = Interaction.objects.values("customer").annotate(n=Count("pk")).order_by("-n").first()
    assert top["n"] > RECENT_INTERACTIONS
    busiest = Customer.objects.get(pk=top["customer"])

    page = staff_client.get(change(busiest)).content.decode()
    table = page[page.index("<th>when</th>") : page.index("All interactions of this customer")]
    assert table.count("<tr><td>") == RECENT_INTERACTIONS
    newest = busiest.interactions.order_by("-occurred_at", "-pk").first()
    assert f"{newest.occurred_at:%Y-%m-%d %H:%M}" in table
    # Consent is on the page with the time it last changed.
    assert "email_consent_changed_at" in page and "sms_consent" in page and "push_consent" in page

    link = re.search(r'href="([^"]+)">All interactions of this customer', page).group(1).replace("&amp;", "&")
    response = staff_client.get(link)
    assert response.status_code == 200
    assert response.context["cl"].result_count == top["n"]
    assert {i.customer_id for i in response.context["cl"].result_list} == {busiest.pk}


def test_product_page_shows_its_sales_figures(staff_client, demo):
    lines = demo.interactions_with_keys()
    purchases = lines[(lines["kind"] == "purchase") & lines["category"].notna()]
    sku = purchases["sku"].value_counts().index[0]
    product = Product.objects.get(sku=sku)
    mine = lines[lines["sku"] == sku]
    bought = mine[mine["kind"] == "purchase"]
    revenue = Decimal(str(round(bought["amount"].sum(), 2)))

    page = staff_client.get(change(product)).content.decode()
    assert f"{int(bought['quantity'].sum())}</div>" in page  # units sold
    assert f"{revenue:,.2f} {product.currency}" in page
    assert f"{bought['external_id'].nunique()} <a" in page  # buyers, linked to the purchases
    assert f"{int((mine['kind'] == 'view').sum())}</div>" in page


@pytest.mark.parametrize(
    ("model_name", "field"),
    [("customer", "external_id"), ("customer", "email"), ("product", "sku")],
)
def test_search_finds_by_key(staff_client, demo, model_name, field):
    frame = demo.customers if model_name == "customer" else demo.products
    term = frame[field].iloc[17]
    response = staff_client.get(changelist(model_name), {"q": term})
    found = response.context["cl"].result_list
    assert [getattr(obj, field) for obj in found] == [term]


def test_interaction_search_finds_an_order_a_customer_and_an_event(staff_client, demo):
    order = Interaction.objects.exclude(order_ref="").values_list("order_ref", flat=True).first()
    response = staff_client.get(changelist("interaction"), {"q": order})
    assert response.context["cl"].result_count == Interaction.objects.filter(order_ref=order).count()
    assert {i.order_ref for i in response.context["cl"].result_list} == {order}

    customer = Customer.objects.first()
    response = staff_client.get(changelist("interaction"), {"q": customer.external_id})
    assert response.context["cl"].result_count == customer.interactions.count()

    event = Interaction.objects.last()
    response = staff_client.get(changelist("interaction"), {"q": event.event_id})
    assert list(response.context["cl"].result_list) == [event]


def test_interaction_filters_and_date_hierarchy(staff_client, demo):
    params = {"kind__exact": "rating", "occurred_at__year": "2025", "occurred_at__month": "6"}
    response = staff_client.get(changelist("interaction"), params)
    assert response.status_code == 200
    results = response.context["cl"].result_list
    assert results and all(i.kind == "rating" and i.occurred_at.month == 6 for i in results)


def test_product_stock_filter(staff_client, demo):
    response = staff_client.get(changelist("product"), {"stock_status": "out"})
    results = response.context["cl"].result_list
    assert results and all(p.stock == 0 for p in results)
    response = staff_client.get(changelist("product"), {"stock_status": "untracked"})
    assert {p.is_merchandise for p in response.context["cl"].result_list} == {False}


def test_customer_filters(staff_client, demo):
    response = staff_client.get(changelist("customer"), {"sms_consent__exact": "1", "gender__exact": "f"})
    results = response.context["cl"].result_list
    assert results and all(c.sms_consent and c.gender == "f" for c in results)


def test_a_new_api_key_starts_with_least_privilege(staff_client):
    page = staff_client.get(reverse("admin:shop_apiclient_add")).content.decode()

    ticked = set(re.findall(r'<input type="checkbox" name="scopes" value="([a-z:]+)"[^>]*checked', page))
    assert ticked == {"events:write", "recommendations:read"}
    assert "privacy:write" in page  # offered, but not ticked
