"""Property tests (hypothesis) for the importers: random bytes, random CSV rows and random values never crash
them (the only exception is the clean ValidationError for a file that cannot be read), never leave a partial row
(a customer or product stub without its event, an event without its row), and give the same answer on SQLite
and PostgreSQL: examples are derandomized, so both databases see the same ones, and the expected counts come
from an oracle that knows nothing of either database."""

import csv
import gzip
import io
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop.importers.csv_files import import_csv
from shop.importers.movielens import import_movielens
from shop.importers.online_retail import import_online_retail
from shop.models import Customer, Interaction, Product

from .conftest import RETAIL_HEADER

pytestmark = pytest.mark.django_db

PROPERTIES = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAX_INT = 2**31 - 1


@contextmanager
def scratch():
    """Each example starts from the test's empty database: its writes are rolled back to a savepoint."""
    savepoint = transaction.savepoint()
    try:
        with tempfile.TemporaryDirectory() as directory:
            yield Path(directory)
    finally:
        transaction.savepoint_rollback(savepoint)


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def check_accounted(report) -> None:
    assert report.accounted, report.as_dict()
    assert report.imported + report.skipped_total == report.rows_read


# --- random bytes ------------------------------------------------------------------------------------------


@PROPERTIES
@given(raw=st.binary(max_size=3000), packed=st.booleans(), cut=st.floats(0, 1))
def test_random_bytes_fail_cleanly_or_import_whole_rows(raw, packed, cut):
    if packed:  # a gzip file, possibly truncated
        raw = gzip.compress(raw)
        raw = raw[: max(1, int(len(raw) * cut))] if cut < 0.5 else raw
    with scratch() as directory:
        path = directory / ("data.csv.gz" if packed else "data.csv")
        path.write_bytes(raw)
        for run in (
            lambda: import_online_retail(path=path),
            lambda: import_csv(kind="interactions", path=path),
            lambda: import_csv(kind="customers", path=path),
            lambda: import_csv(kind="products", path=path),
        ):
            try:
                report = run()
            except ValidationError as error:
                assert path.name in " ".join(error.messages) or "missing required column" in str(error)
                continue
            check_accounted(report)
        assert Interaction.objects.count() == 0 or Customer.objects.exists()


# --- random interaction rows, against an oracle ------------------------------------------------------------

GOOD_TIMES = {"2024-01-01T10:00:00Z": "a", "2024-02-01 10:00": "b", "2011-03-04T05:06:07+01:00": "c"}
BAD_TIMES = ["1600-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "2300-06-01 10:00", "soon", "10000-01-01", ""]
COUNTED = {"purchase", "cart", "return"}
# Printable text of any script (no control characters: a file full of them is refused as binary).
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=70)


def field(good, bad):
    return st.one_of(st.sampled_from(good), st.sampled_from(bad))


ROWS = st.lists(
    st.tuples(
        field(["c1", "c2", " c3 "], ["", "c\x00", "x" * 65]),  # customer_id
        field(["p1", "p2"], ["", "p\x00", "s" * 65]),  # sku
        field(["view", "purchase", "CART", "return"], ["teleport", ""]),  # kind
        field(list(GOOD_TIMES), BAD_TIMES),  # occurred_at
        field(["", "1", "2", "0", "-1"], ["3000000000", "-3000000000", "1e400", "x", "1.5"]),  # quantity
        field(["", "2.50", "0"], ["-1", "1e20", "abc"]),  # amount
        st.one_of(st.sampled_from(["", "o1", "o\x00"]), TEXT),  # order_ref
    ),
    max_size=25,
)


def oracle(row) -> tuple | None:
    """The canonical content of a row the importer must store, or None for a row it must skip."""
    customer, sku, kind, when, quantity, amount, order_ref = (value.replace("\r", "\n").strip() for value in row)
    kind = kind.lower()
    if any("\x00" in value for value in (customer, sku, order_ref)):
        return None
    if not customer or not sku or len(customer) > 64 or len(sku) > 64 or len(order_ref) > 64:
        return None
    if kind not in {"view", "purchase", "cart", "return", "rating"} or when not in GOOD_TIMES:
        return None
    number = {"": 1, "1": 1, "2": 2, "0": 0, "-1": -1}.get(quantity)
    if number is None or (kind in COUNTED and number <= 0):
        return None
    if amount not in {"", "2.50", "0"}:
        return None
    return customer, sku, kind, GOOD_TIMES[when], number, amount, order_ref


@PROPERTIES
@given(rows=ROWS)
def test_random_interaction_rows_import_exactly_the_valid_ones(rows):
    header = ["customer_id", "sku", "kind", "occurred_at", "quantity", "amount", "order_ref"]
    expected = {key for key in map(oracle, rows) if key is not None}
    with scratch() as directory:
        path = directory / "events.csv"
        path.write_text(csv_text(header, [list(row) for row in rows]), encoding="utf-8")

        report = import_csv(kind="interactions", path=path)

        check_accounted(report)
        assert report.imported == len(expected) == Interaction.objects.count(), (rows, report.as_dict())
        # No partial rows: stubs exist exactly for the customers and products of stored events.
        assert set(Customer.objects.values_list("external_id", flat=True)) == {key[0] for key in expected}
        assert set(Product.objects.values_list("sku", flat=True)) == {key[1] for key in expected}
        stored = set(Interaction.objects.values_list("customer__external_id", "kind"))
        assert stored == {(key[0], key[2]) for key in expected}


# --- random Online Retail lines ----------------------------------------------------------------------------


RETAIL_LINES = st.lists(
    st.tuples(
        st.sampled_from(["536365", "C536379", "", "536366"]),
        st.sampled_from(["85123A", "POST", "", "22423"]),
        TEXT,
        st.one_of(st.integers(-(2**40), 2**40).map(str), st.sampled_from(["0", "x", "1e400", "2.5"])),
        st.one_of(
            st.datetimes(datetime(1500, 1, 1), datetime(2400, 1, 1)).map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
            st.sampled_from(["12/1/2010 8:26", "not a date"]),
        ),
        st.one_of(st.floats(-1e12, 1e12, allow_nan=False).map(lambda x: f"{x:.2f}"), st.sampled_from(["nan", ""])),
        st.sampled_from(["17850", "13047.0", "", "1\x0023"]),
        TEXT,
    ),
    max_size=25,
)


@PROPERTIES
@given(lines=RETAIL_LINES)
def test_random_online_retail_lines_never_crash_and_store_only_whole_valid_lines(lines):
    with scratch() as directory:
        path = directory / "retail.csv"
        path.write_text(csv_text(RETAIL_HEADER, [list(line) for line in lines]), encoding="utf-8")

        report = import_online_retail(path=path)

        check_accounted(report)
        assert Interaction.objects.count() == report.imported
        stored = list(Interaction.objects.values_list("quantity", "amount", "occurred_at", "customer__external_id"))
        now = timezone.now()
        for quantity, amount, occurred_at, customer in stored:
            assert 0 < quantity <= MAX_INT and amount >= 0
            assert datetime(1900, 1, 1, tzinfo=UTC) <= occurred_at <= now
            assert customer in {"17850", "13047"}
        # Customers only for lines that were imported (products may come from lines without a customer).
        assert set(Customer.objects.values_list("external_id", flat=True)) == {row[3] for row in stored}


# --- random customer and product values --------------------------------------------------------------------

OFFSETS = st.sampled_from(["", "Z", "+05:00", "-11:30"])
ANY_TIME = st.builds(
    lambda moment, offset: moment.isoformat() + offset, st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31)), OFFSETS
)
NUMBER_TEXT = st.one_of(
    st.integers(-(10**30), 10**30).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str), TEXT
)


@PROPERTIES
@given(
    customers=st.lists(st.tuples(TEXT, st.one_of(ANY_TIME, TEXT), NUMBER_TEXT, TEXT, TEXT), max_size=15),
    products=st.lists(st.tuples(TEXT, NUMBER_TEXT, NUMBER_TEXT, TEXT), max_size=15),
)
def test_random_customer_and_product_values_never_crash_and_store_whole_rows(customers, products):
    with scratch() as directory:
        path = directory / "customers.csv"
        path.write_text(csv_text(["external_id", "signed_up_at", "birth_year", "email", "tier"], customers))
        try:
            report = import_csv(kind="customers", path=path)
        except ValidationError as error:  # e.g. every row blank: only a clean error is allowed
            assert "customers.csv" in str(error)
        else:
            check_accounted(report)
            assert Customer.objects.count() == report.objects.get("customers", {}).get("created", 0)
            for customer in Customer.objects.all():
                assert "\x00" not in customer.external_id and len(customer.external_id) <= 64
                assert customer.birth_year is None or 1900 <= customer.birth_year <= 2100

        path = directory / "products.csv"
        path.write_text(csv_text(["sku", "price", "stock", "colour"], products))
        try:
            report = import_csv(kind="products", path=path)
        except ValidationError as error:
            assert "products.csv" in str(error)
        else:
            check_accounted(report)
            for product in Product.objects.all():
                assert product.stock is None or 0 <= product.stock <= MAX_INT
                assert product.price is None or product.price >= 0


# --- random MovieLens lines --------------------------------------------------------------------------------

ML_FIELD = st.one_of(st.integers(-(10**20), 10**20).map(str), st.sampled_from(["1", "2", "5", "M", "F", ""]), TEXT)


@PROPERTIES
@given(
    users=st.lists(st.lists(ML_FIELD, min_size=5, max_size=5), max_size=6),
    ratings=st.lists(st.lists(ML_FIELD, min_size=4, max_size=4), max_size=10),
    extra=st.binary(max_size=200),
)
def test_random_movielens_lines_never_crash_and_store_only_known_users_ratings(users, ratings, extra):
    with scratch() as directory:
        (directory / "users.dat").write_text("1::F::1::10::48067\n" + "".join("::".join(u) + "\n" for u in users))
        (directory / "movies.dat").write_text("1::Toy Story (1995)::Animation|Comedy\n")
        (directory / "ratings.dat").write_bytes(
            ("1::1::5::978300760\n" + "".join("::".join(r) + "\n" for r in ratings)).encode() + extra
        )

        report = import_movielens(directory=directory)

        check_accounted(report)
        stored_customers = set(Customer.objects.values_list("external_id", flat=True))
        assert set(Interaction.objects.values_list("customer__external_id", flat=True)) <= stored_customers
        assert Interaction.objects.count() == report.objects["interactions"]["created"]
        for value, occurred_at in Interaction.objects.values_list("value", "occurred_at"):
            assert 0.5 <= value <= 5 and occurred_at <= timezone.now()
