from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from shop.models import InteractionKind
from tests.factories import CustomerFactory, InteractionFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", [0.0, 0.4, 5.5, None])
def test_rating_outside_half_to_five_is_refused(value):
    with pytest.raises(IntegrityError), transaction.atomic():
        InteractionFactory(kind=InteractionKind.RATING, value=value)


@pytest.mark.parametrize("value", [0.5, 3, 5])
def test_rating_within_range_is_stored(value):
    assert InteractionFactory(kind=InteractionKind.RATING, value=value).pk


@pytest.mark.parametrize("kind", [InteractionKind.PURCHASE, InteractionKind.RETURN, InteractionKind.CART])
def test_quantity_must_be_positive_for_baskets(kind):
    with pytest.raises(IntegrityError), transaction.atomic():
        InteractionFactory(kind=kind, quantity=0)


def test_negative_amount_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        InteractionFactory(kind=InteractionKind.PURCHASE, amount=Decimal("-1"))


def test_event_id_is_unique():
    InteractionFactory(event_id="e-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        InteractionFactory(event_id="e-1")


def test_sku_and_external_id_are_unique():
    from shop.models import Customer, Product

    ProductFactory(sku="A1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(sku="A1")
    CustomerFactory(external_id="c1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(external_id="c1")


def test_negative_price_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(price=Decimal("-0.01"))


def test_stock_none_means_untracked_and_in_stock():
    assert ProductFactory(stock=None).is_in_stock
    assert not ProductFactory(stock=0).is_in_stock


@pytest.mark.parametrize("seconds", [-1, 86400.5])
def test_view_duration_must_be_within_a_day(seconds):
    with pytest.raises(IntegrityError), transaction.atomic():
        InteractionFactory(kind=InteractionKind.VIEW, value=seconds)
