"""The real files in ../shared/datasets import with every line accounted for (skipped where absent)."""

import pytest
from django.db import transaction

from shop.importers.movielens import import_movielens
from shop.importers.online_retail import import_online_retail
from shop.models import Category, Customer, Interaction, Product
from tests.conftest import ML100K_DIR, ONLINE_RETAIL_FILE, require_dataset

pytestmark = [pytest.mark.slow, pytest.mark.dataset, pytest.mark.django_db]


@pytest.fixture(scope="module")
def retail_import(django_db_setup, django_db_blocker):
    """Import the real Online Retail file once for the module, in a transaction rolled back afterwards.

    Each test's own transaction nests inside it (a savepoint), so the tests see the import and undo their changes.
    """
    path = require_dataset(ONLINE_RETAIL_FILE)
    with django_db_blocker.unblock(), transaction.atomic():
        report = import_online_retail(path=path)
        yield report
        transaction.set_rollback(True)


def test_online_retail_every_line_is_accounted_for(retail_import):
    report = retail_import

    assert report.rows_read == 541_909
    assert report.imported + report.skipped_total == 541_909
    assert report.duplicates == 5_268
    assert report.details["lines_without_customer"] == 135_080
    assert report.skipped["no_customer"] == 135_080
    # Duplicates among the lines that have a customer; the others were already skipped for having none.
    assert report.skipped["duplicate"] == 5_268 - 43
    assert 0 < report.skipped["price_not_positive"] < 100
    assert set(report.skipped) <= {"no_customer", "duplicate", "price_not_positive"}
    assert Interaction.objects.count() == report.imported


def test_online_retail_orders_returns_customers_and_products(retail_import):
    assert 4_300 < Customer.objects.count() <= 4_372
    assert Interaction.objects.filter(kind="return").count() == retail_import.details["returns"]
    # Cancelled invoices with a customer, less their duplicates.
    assert 8_500 < retail_import.details["returns"] < 9_288
    assert Interaction.objects.filter(kind="return", quantity__lte=0).count() == 0
    non_merchandise = set(Product.objects.filter(is_merchandise=False).values_list("sku", flat=True))
    assert {"POST", "DOT", "M", "C2", "BANK CHARGES", "AMAZONFEE", "CRUK", "D", "PADS"} <= non_merchandise
    assert Product.objects.get(sku="85123A").is_merchandise
    assert len(non_merchandise) < 60  # the rules do not swallow the catalog


def test_online_retail_reimport_adds_nothing(retail_import):
    again = import_online_retail(path=ONLINE_RETAIL_FILE)

    assert again.imported == 0
    assert again.skipped["already_imported"] == retail_import.imported
    assert Interaction.objects.count() == retail_import.imported


def test_ml100k_imports_every_rating_user_and_movie():
    report = import_movielens(directory=require_dataset(ML100K_DIR))

    assert report.details["files"] == {"u.user": 943, "u.item": 1_682, "u.data": 100_000}
    assert report.skipped_total == 0 and report.accounted
    assert Interaction.objects.filter(kind="rating").count() == 100_000
    assert Customer.objects.filter(external_id__startswith="ml100k-").count() == 943
    assert Product.objects.filter(sku__startswith="ml100k-").count() == 1_682
    assert Category.objects.filter(parent__code="movies").count() == 18
    assert not Customer.objects.filter(birth_year__isnull=True, external_id__startswith="ml100k-").exists()
