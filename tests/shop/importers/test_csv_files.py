"""import_csv for customers, products and interactions."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from shop.importers.csv_files import import_csv
from shop.models import Category, Customer, Interaction, Product
from tests.factories import CustomerFactory

from .conftest import write_csv

pytestmark = pytest.mark.django_db

CUSTOMER_HEADER = ["external_id", "email", "name", "gender", "birth_year", "country", "signed_up_at", "email_consent",
                   "loyalty_tier"]  # fmt: skip


def test_customers_with_consent_and_extra_columns_as_attributes(tmp_path):
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, [
        ["c1", "ann@example.com", "Ann", "female", "1980", "France", "2024-03-01T10:00:00Z", "yes", "gold"],  # 2
        ["c2", "not-an-email", "Bob", "m", "1990", "", "", "", ""],  # 3
        ["c3", "", "Cy", "robot", "1990", "", "", "", ""],  # 4
        ["c4", "", "Di", "", "1850", "", "", "", ""],  # 5
        ["c5", "", "Ed", "", "", "", "yesterday", "", ""],  # 6
        ["", "nobody@example.com", "", "", "", "", "", "", ""],  # 7
        ["c1", "ann@example.org", "Ann", "f", "1980", "", "", "", ""],  # 8: c1 again
    ])  # fmt: skip

    report = import_csv(kind="customers", path=path)

    ann = Customer.objects.get(external_id="c1")
    assert (ann.email, ann.gender, ann.birth_year, ann.country) == ("ann@example.com", "f", 1980, "France")
    assert ann.signed_up_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert ann.email_consent is True and ann.email_consent_changed_at is not None
    assert ann.attributes == {"loyalty_tier": "gold"}
    assert report.skipped_lines == {
        "bad_email": [3],
        "bad_gender": [4],
        "bad_birth_year": [5],
        "bad_signed_up_at": [6],
        "missing_external_id": [7],
        "duplicate_external_id": [8],
    }
    assert report.imported == 1 and report.accounted


def test_reimporting_customers_changes_nothing_and_updates_what_changed(tmp_path):
    CustomerFactory(external_id="c9", name="Old Name", email="c9@example.com", is_stub=True)
    path = write_csv(tmp_path / "customers.csv", ["external_id", "name", "email"], [
        ["c9", "New Name", ""],  # empty email: keep the stored one
        ["c10", "Ten", "ten@example.com"],
    ])  # fmt: skip

    first = import_csv(kind="customers", path=path)
    second = import_csv(kind="customers", path=path)

    c9 = Customer.objects.get(external_id="c9")
    assert (c9.name, c9.email, c9.is_stub) == ("New Name", "c9@example.com", False)
    assert not c9.email_consent and c9.email_consent_changed_at is None  # no consent column: untouched
    assert first.objects["customers"] == {"created": 1, "updated": 1}
    assert second.imported == 0 and second.skipped == {"unchanged": 2}
    assert Customer.objects.count() == 2


def test_products_with_category_paths_and_validation(tmp_path):
    path = write_csv(tmp_path / "products.csv", ["SKU", "Name", "Category", "Price", "Currency", "Stock", "Active"], [
        ["P1", "Mug", "Home > Kitchen", "9.99", "eur", "12", "yes"],  # 2
        ["P2", "Tee", "Clothes", "-1", "EUR", "1", "yes"],  # 3
        ["P3", "Cap", "Clothes", "5", "EURO", "1", "yes"],  # 4
        ["P4", "Hat", "Clothes", "5", "EUR", "1.5", "yes"],  # 5
        ["P5", "Bag", "Clothes", "5", "EUR", "1", "maybe"],  # 6
    ])  # fmt: skip

    report = import_csv(kind="products", path=path)

    mug = Product.objects.select_related("category__parent").get(sku="P1")
    assert (mug.price, mug.currency, mug.stock, mug.is_active) == (Decimal("9.99"), "EUR", 12, True)
    assert (mug.category.name, mug.category.parent.name) == ("Kitchen", "Home")
    assert report.skipped_lines == {"bad_price": [3], "bad_currency": [4], "bad_stock": [5], "bad_is_active": [6]}
    assert Category.objects.filter(code="home-kitchen").exists()


def test_interactions_create_stubs_derive_event_ids_and_reimport_adds_nothing(tmp_path):
    header = ["customer_id", "sku", "kind", "occurred_at", "value", "quantity", "amount", "order_ref"]
    path = write_csv(tmp_path / "events.csv", header, [
        ["c1", "P1", "purchase", "2024-01-02T10:00:00Z", "", "2", "19.98", "o1"],  # 2
        ["c1", "P1", "purchase", "2024-01-02T10:00:00Z", "", "2", "19.98", "o1"],  # 3: exact duplicate
        ["c2", "P2", "rating", "2024-01-03 10:00", "4.5", "", "", ""],  # 4
        ["c2", "P2", "rating", "2024-01-03 10:00", "7", "", "", ""],  # 5
        ["c2", "P2", "teleport", "2024-01-03 10:00", "", "", "", ""],  # 6
        ["c2", "P2", "purchase", "2024-01-03 10:00", "", "0", "1", ""],  # 7
        ["c2", "P2", "view", "soon", "", "", "", ""],  # 8
        ["c2", "", "view", "2024-01-03 10:00", "", "", "", ""],  # 9
    ])  # fmt: skip

    first = import_csv(kind="interactions", path=path)
    second = import_csv(kind="interactions", path=path)

    assert first.imported == 2
    assert first.skipped_lines == {
        "duplicate": [3],
        "rating_out_of_range": [5],
        "bad_kind": [6],
        "zero_quantity": [7],
        "bad_occurred_at": [8],
        "missing_sku": [9],
    }
    purchase = Interaction.objects.get(kind="purchase")
    assert (purchase.quantity, purchase.amount, purchase.order_ref, purchase.source) == (
        2,
        Decimal("19.98"),
        "o1",
        "import",
    )
    assert purchase.customer.is_stub and purchase.product.is_stub
    assert second.imported == 0 and second.skipped["already_imported"] == 2
    assert Interaction.objects.count() == 2


def test_given_event_ids_are_kept_and_map_renames_columns(tmp_path):
    path = write_csv(tmp_path / "events.csv", ["Event", "Shopper", "Item", "What", "When"], [
        ["e-1", "c1", "P1", "view", "2024-01-02T10:00:00+01:00"],
        ["e-1", "c1", "P1", "cart", "2024-01-02T10:00:00+01:00"],  # same id, other content
    ])  # fmt: skip
    mapping = {"Event": "event_id", "Shopper": "customer_id", "Item": "sku", "What": "kind", "When": "occurred_at"}

    report = import_csv(kind="interactions", path=path, mapping=mapping)

    view = Interaction.objects.get()
    assert (view.event_id, view.kind, view.occurred_at) == ("e-1", "view", datetime(2024, 1, 2, 9, tzinfo=UTC))
    assert report.skipped_lines == {"duplicate_event_id": [3]}


def test_missing_required_columns_are_named(tmp_path):
    path = write_csv(tmp_path / "events.csv", ["customer_id", "sku"], [["c1", "P1"]])

    with pytest.raises(ValidationError) as error:
        import_csv(kind="interactions", path=path)

    assert "kind" in str(error.value) and "occurred_at" in str(error.value)


def test_map_to_an_unknown_field_is_refused(tmp_path):
    path = write_csv(tmp_path / "customers.csv", ["id"], [["c1"]])

    with pytest.raises(ValidationError, match="not a customers field"):
        import_csv(kind="customers", path=path, mapping={"id": "shoe_size"})


def test_a_directory_instead_of_a_file_fails_naming_the_path(tmp_path):
    with pytest.raises(ValidationError, match="is not a file"):
        import_csv(kind="customers", path=tmp_path)


def test_views_longer_than_a_day_or_not_finite_are_skipped_with_their_reason(tmp_path):
    path = write_csv(tmp_path / "events.csv", ["customer_id", "sku", "kind", "occurred_at", "value"], [
        ["c1", "P1", "view", "2024-01-02T10:00:00Z", "86400"],  # 2: one day, kept
        ["c1", "P1", "view", "2024-01-02T11:00:00Z", "1e308"],  # 3
        ["c1", "P1", "view", "2024-01-02T12:00:00Z", "86401"],  # 4
        ["c1", "P1", "view", "2024-01-02T13:00:00Z", "inf"],  # 5
    ])  # fmt: skip

    report = import_csv(kind="interactions", path=path)

    assert report.skipped_lines == {"view_duration_too_long": [3, 4], "bad_value": [5]}
    assert list(Interaction.objects.values_list("value", flat=True)) == [86_400]
