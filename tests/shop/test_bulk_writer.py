"""The one bulk writer (shop.bulk), on whichever database the suite runs: SQLite by default, PostgreSQL with
DATABASE_URL. Values one of the databases would refuse or store differently are refused per row, with a reason,
before any SQL, so both behave the same; the good rows around them are written."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from shop import bulk, services
from shop.models import Customer, Interaction, Product

pytestmark = pytest.mark.django_db

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop_ids():
    customer = Customer.objects.create(external_id="c1")
    product = Product.objects.create(sku="p1")
    return customer.pk, product.pk


def interaction(shop_ids, event_id, **changes):
    customer_id, product_id = shop_ids
    row = {
        "customer_id": customer_id,
        "product_id": product_id,
        "kind": "purchase",
        "value": None,
        "quantity": 1,
        "amount": Decimal("2.50"),
        "order_ref": "o1",
        "source": "import",
        "occurred_at": connection.ops.adapt_datetimefield_value(WHEN),
        "event_id": event_id,
    }
    return row | changes


def insert(rows, **options):
    columns = tuple(rows[0])
    return bulk.insert_rows(Interaction, columns, [tuple(row.values()) for row in rows], **options)


def test_rows_are_written_with_every_other_column_from_the_model_defaults(shop_ids):
    result = insert([interaction(shop_ids, "e1"), interaction(shop_ids, "e2", quantity=3)])

    assert (result.written, result.inserted, result.rejected) == (2, 2, {})
    stored = Interaction.objects.get(event_id="e2")
    assert (stored.quantity, stored.amount, stored.coupon, stored.recommendation_id) == (3, Decimal("2.50"), "", "")
    assert stored.occurred_at == WHEN and stored.created_at is not None


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"order_ref": "o\x001"}, "order_ref", "nul_character_in"),
        ({"source": "web\x00"}, "source", "nul_character_in"),
        ({"quantity": 3_000_000_000}, "quantity", "out_of_range"),
        ({"quantity": -(2**31) - 1}, "quantity", "out_of_range"),
        ({"amount": Decimal("1000000000000.00")}, "amount", "out_of_range"),
        ({"amount": float("nan")}, "amount", "out_of_range"),
        ({"value": float("inf"), "kind": "view"}, "value", "not_finite"),
        ({"order_ref": "x" * 65}, "order_ref", "too_long"),
        ({"kind": None}, "kind", "missing"),
    ],
)
def test_a_value_either_database_refuses_rejects_its_row_only(shop_ids, changes, field, code):
    result = insert([interaction(shop_ids, "e1"), interaction(shop_ids, "bad", **changes), interaction(shop_ids, "e3")])

    assert list(result.rejected) == [1]
    problem = result.rejected[1]
    assert (problem.field, problem.code, problem.key) == (field, code, f"{code}_{field}")
    assert field in str(problem)
    assert result.written == 2
    assert sorted(Interaction.objects.values_list("event_id", flat=True)) == ["e1", "e3"]


def test_the_largest_values_each_column_holds_are_written(shop_ids):
    result = insert(
        [interaction(shop_ids, "e" * 100, quantity=2**31 - 1, amount=Decimal("999999999999.99"), order_ref="r" * 64)]
    )

    assert result.rejected == {}
    assert Interaction.objects.get().quantity == 2**31 - 1


def test_conflicts_on_a_unique_key_are_skipped_not_raised(shop_ids):
    insert([interaction(shop_ids, "e1")])

    result = insert(
        [interaction(shop_ids, "e1", quantity=9), interaction(shop_ids, "e2")],
        ignore_conflicts=True,
        conflict_fields=("event_id",),
    )

    assert (result.written, result.inserted) == (2, 1)
    assert Interaction.objects.get(event_id="e1").quantity == 1


def test_json_with_a_nul_character_in_a_key_or_a_value_is_refused():
    rows = [("a", {"tier": "gold"}), ("b", {"ti\x00er": 1}), ("c", {"x": ["\x00"]}), ("d", [{"y": "ok"}])]

    result = bulk.insert_rows(Customer, ("external_id", "attributes"), rows)

    assert {position: problem.key for position, problem in result.rejected.items()} == {
        1: "nul_character_in_attributes",
        2: "nul_character_in_attributes",
    }
    assert dict(Customer.objects.values_list("external_id", "attributes")) == {
        "a": {"tier": "gold"},
        "d": [{"y": "ok"}],
    }


def test_the_upsert_merges_attributes_and_replaces_other_fields():
    Customer.objects.create(external_id="c1", name="Ann", city="Oslo", attributes={"tier": "gold", "pets": 2})

    result = bulk.upsert_by_key(
        Customer, key="external_id", records={"c1": {"name": "Anna", "attributes": {"pets": 3, "vip": True}}}
    )

    customer = Customer.objects.get()
    assert (result.created, result.updated) == (set(), {"c1"})
    assert (customer.name, customer.city) == ("Anna", "Oslo")
    assert customer.attributes == {"tier": "gold", "pets": 3, "vip": True}


def test_an_unchanged_record_is_neither_created_nor_updated():
    Customer.objects.create(external_id="c1", name="Ann")

    result = bulk.upsert_by_key(Customer, key="external_id", records={"c1": {"name": "Ann"}})

    assert (result.created, result.updated, list(result.objects)) == (set(), set(), ["c1"])


def test_stamps_mark_when_a_value_was_first_given_or_changed():
    stamps = services.CONSENT_STAMPS
    bulk.upsert_by_key(Customer, key="external_id", records={"c1": {"email_consent": False}}, stamps=stamps)
    first = Customer.objects.get().email_consent_changed_at

    bulk.upsert_by_key(Customer, key="external_id", records={"c1": {"email_consent": False}}, stamps=stamps)
    assert Customer.objects.get().email_consent_changed_at == first

    bulk.upsert_by_key(Customer, key="external_id", records={"c1": {"email_consent": True}}, stamps=stamps)
    assert first is not None and Customer.objects.get().email_consent_changed_at > first


def test_the_upsert_refuses_bad_records_with_reasons_and_writes_the_others():
    records = {
        "ok": {"name": "Ann"},
        "nul": {"name": "A\x00n"},
        "long": {"city": "x" * 101},
        "json": {"attributes": {"k": "\x00"}},
        "k\x00ey": {"name": "Bob"},
        "year": {"birth_year": 70_000},
    }

    result = bulk.upsert_by_key(Customer, key="external_id", records=records)

    assert {key: set(problems) for key, problems in result.rejected.items()} == {
        "nul": {"name"},
        "long": {"city"},
        "json": {"attributes"},
        "k\x00ey": {"external_id"},
        "year": {"birth_year"},
    }
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["ok"]


def test_the_api_and_the_importers_share_one_customer_upsert(tmp_path):
    """Attributes sent by the API merge into those a CSV import stored, and the other way round."""
    from shop.importers.csv_files import import_csv

    path = tmp_path / "customers.csv"
    path.write_text("external_id,name,loyalty\nc1,Ann,gold\n")
    import_csv(kind="customers", path=path)

    services.upsert_customer(external_id="c1", data={"attributes": {"newsletter": "weekly"}})
    path.write_text("external_id,segment\nc1,b2b\n")
    import_csv(kind="customers", path=path)

    customer = Customer.objects.get()
    assert customer.name == "Ann"
    assert customer.attributes == {"loyalty": "gold", "newsletter": "weekly", "segment": "b2b"}


def test_negative_stock_is_refused_by_the_product_upsert():
    with pytest.raises(services.ValidationError) as error:
        services.upsert_product(sku="p1", data={"stock": -1})

    assert "stock" in error.value.message_dict
    assert not Product.objects.exists()
