"""`setup_demo` (what `make demo` runs): a login that works, an API key, demo data once, hooks for later steps."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from shop.demo import setup
from shop.demo.services import generate_demo_data
from shop.demo.setup import DEFAULT_DEMO_PASSWORD, DEMO_API_CLIENT, DEMO_USERNAME
from shop.demo_data import generate_shop
from shop.models import ApiClient, Customer, Interaction, Product, hash_api_key

pytestmark = pytest.mark.django_db


def run_setup(**options) -> str:
    out = StringIO()
    call_command("setup_demo", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def steps(monkeypatch):
    """An isolated list of registered demo steps."""
    registered = []
    monkeypatch.setattr(setup, "_STEPS", registered)
    return registered


def test_first_run_creates_login_key_and_data(client, steps, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    output = run_setup(customers=300, seed=9)

    assert f"{DEMO_USERNAME} / {DEFAULT_DEMO_PASSWORD}" in output
    assert client.login(username=DEMO_USERNAME, password=DEFAULT_DEMO_PASSWORD)
    assert client.get("/admin/").status_code == 200

    key = output.split("key: ", 1)[1].split()[0]
    api_client = ApiClient.objects.get(name=DEMO_API_CLIENT)
    assert api_client.key_hash == hash_api_key(key)

    assert Customer.objects.count() == 300
    assert Customer.objects.filter(attributes__persona="bargain_hunter").exists()
    assert Interaction.objects.count() > 300 * 10


def test_second_run_reuses_everything(client, steps):
    run_setup(customers=300, seed=9)
    counts = (Customer.objects.count(), Product.objects.count(), Interaction.objects.count())
    key_hash = ApiClient.objects.get(name=DEMO_API_CLIENT).key_hash

    output = run_setup(customers=300, seed=9)

    assert (Customer.objects.count(), Product.objects.count(), Interaction.objects.count()) == counts
    assert get_user_model().objects.filter(username=DEMO_USERNAME).count() == 1
    assert ApiClient.objects.filter(name=DEMO_API_CLIENT).count() == 1
    assert ApiClient.objects.get(name=DEMO_API_CLIENT).key_hash == key_hash  # the printed key still works
    assert "Reusing the data in the database: 300 customers" in output
    assert client.login(username=DEMO_USERNAME, password=DEFAULT_DEMO_PASSWORD)


def test_existing_data_is_never_topped_up_with_demo_data(steps):
    Customer.objects.create(external_id="real-1")
    output = run_setup(customers=300)
    assert Customer.objects.count() == 1
    assert "no demo data generated" in output


def test_new_api_key_replaces_the_old_one(steps):
    first = run_setup(customers=5).split("key: ", 1)[1].split()[0]
    second = run_setup(customers=5, new_api_key=True).split("key: ", 1)[1].split()[0]
    assert first != second
    assert ApiClient.objects.get(name=DEMO_API_CLIENT).key_hash == hash_api_key(second)


def test_password_from_the_environment_and_a_reset_login(client, steps, monkeypatch):
    user = get_user_model().objects.create_user(username=DEMO_USERNAME, password="forgotten", is_staff=False)
    monkeypatch.setenv("DEMO_PASSWORD", "s3cret-demo")
    output = run_setup(customers=5)
    assert "password unchanged" in output and "--reset-password sets it to s3cret-demo" in output
    user.refresh_from_db()
    assert user.is_staff and user.is_superuser  # brought back to a working staff login
    assert client.login(username=DEMO_USERNAME, password="forgotten")

    output = run_setup(customers=5, reset_password=True)
    assert f"{DEMO_USERNAME} / s3cret-demo" in output
    assert client.login(username=DEMO_USERNAME, password="s3cret-demo")
    assert not client.login(username=DEMO_USERNAME, password="forgotten")


def test_a_second_run_keeps_open_sessions_signed_in(client, steps):
    run_setup(customers=5)
    assert client.login(username=DEMO_USERNAME, password=DEFAULT_DEMO_PASSWORD)
    assert client.get("/admin/").status_code == 200

    output = run_setup(customers=5)

    assert "open sessions stay signed in" in output
    assert client.get("/admin/").status_code == 200  # still signed in: the password hash did not change
    run_setup(customers=5, reset_password=True)
    assert client.get("/admin/").status_code == 302  # a reset signs the sessions out, as asked


def test_the_closing_message_names_the_address_it_was_given(steps):
    output = run_setup(customers=5, url="http://127.0.0.1:8013")
    assert "Demo ready: http://127.0.0.1:8013/staff/, http://127.0.0.1:8013/admin/" in output
    assert "8000" not in output


def test_demo_port_skips_a_port_that_is_taken():
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        out = StringIO()
        call_command("demo_port", start=taken, stdout=out)
        port = int(out.getvalue())
        assert port != taken and taken < port <= taken + 50
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # it is free indeed
    with pytest.raises(CommandError, match="--start must be a port"):
        call_command("demo_port", start=70000, stdout=StringIO())


def test_registered_steps_run_after_the_data_and_a_failure_is_reported(steps):
    seen = []
    setup.register_demo_setup_step(name="Run a segmentation", run=lambda ctx: seen.append(ctx) or "3 segments")
    setup.register_demo_setup_step(name="Run a segmentation", run=lambda ctx: "registered twice")
    setup.register_demo_setup_step(name="Train the recommender", run=lambda ctx: 1 / 0)

    err = StringIO()
    out = StringIO()
    call_command("setup_demo", customers=40, stdout=out, stderr=err)

    assert len(steps) == 2
    assert [ctx.customers for ctx in seen] == [40] and seen[0].data_created and seen[0].user.username == "demo"
    assert "3 segments" in out.getvalue()
    assert "registered twice" not in out.getvalue()
    assert "Train the recommender failed" in err.getvalue()


def test_generate_demo_data_stores_the_generated_shop_once():
    out = StringIO()
    call_command(
        "generate_demo_data", customers=120, seed=11, end="2025-12-31", json=True, stdout=out, stderr=StringIO()
    )
    summary = json.loads(out.getvalue())
    assert summary["created"] and summary["customers"] == 120
    assert summary["interactions"] == Interaction.objects.count()
    assert summary["last_event"] < "2026-01-01" and summary["first_event"] >= "2024-12-31"

    shop = generate_shop(customers=120, seed=11, end=datetime(2026, 1, 1, tzinfo=UTC))
    lines = shop.interactions_with_keys()
    for position in (0, len(lines) // 2, len(lines) - 1):
        line = lines.iloc[position]
        stored = Interaction.objects.select_related("customer", "product").get(event_id=line["event_id"])
        assert stored.customer.external_id == line["external_id"]
        assert stored.product.sku == line["sku"]
        assert stored.kind == line["kind"] and stored.source == line["source"]
        assert stored.occurred_at == line["occurred_at"].to_pydatetime()
        assert stored.order_ref == line["order_ref"]
        if line["kind"] == "purchase":
            assert stored.amount == Decimal(f"{line['amount']:.2f}")
    customer = Customer.objects.get(external_id=shop.customers["external_id"].iloc[0])
    assert customer.attributes["persona"] == shop.customers["persona"].iloc[0]
    assert Product.objects.filter(is_merchandise=False).count() == 3

    again = StringIO()
    call_command("generate_demo_data", customers=120, seed=11, json=True, stdout=again, stderr=StringIO())
    assert json.loads(again.getvalue())["created"] is False
    assert Interaction.objects.count() == summary["interactions"]

    with pytest.raises(CommandError, match="already exists with 120 customers"):
        call_command("generate_demo_data", customers=150, seed=11, stdout=StringIO(), stderr=StringIO())


def test_generate_demo_data_ends_its_year_of_events_now_by_default():
    before = timezone.now()
    out = StringIO()
    call_command("generate_demo_data", customers=30, seed=5, json=True, stdout=out, stderr=StringIO())
    latest = Interaction.objects.latest("occurred_at").occurred_at
    assert before - timedelta(days=2) < latest < timezone.now()
    assert Interaction.objects.earliest("occurred_at").occurred_at >= before - timedelta(days=366)


@pytest.mark.parametrize(
    ("end", "message"),
    [
        ("yesterday", r"--end must be a date like 2025-12-31"),
        ("2025-02-30", r"--end must be a date"),
        ("2999-01-01", r"Must not be in the future"),
    ],
)
def test_generate_demo_data_refuses_an_unreadable_or_future_end(end, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_demo_data", customers=3, seed=1, end=end, stdout=StringIO(), stderr=StringIO())
    assert not Interaction.objects.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [({"customers": 3, "seed": -1}, "--seed must be 0 or more"), ({"customers": 0, "seed": 1}, "--customers")],
)
def test_generate_demo_data_refuses_a_negative_seed_or_no_customers(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate_demo_data", **options, stdout=StringIO(), stderr=StringIO())
    assert not Customer.objects.exists()


def test_the_demo_data_service_refuses_a_negative_seed_naming_the_field():
    with pytest.raises(ValidationError) as error:
        generate_demo_data(customers=3, seed=-1)
    assert "seed" in error.value.message_dict
    assert not Customer.objects.exists()
