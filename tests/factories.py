"""factory_boy factories for the shop data and beyond."""

from datetime import UTC, datetime
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from shop.models import Category, Customer, Interaction, InteractionKind, Product


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("external_id",)

    external_id = factory.Sequence(lambda n: f"cust-{n}")
    email = factory.LazyAttribute(lambda o: f"{o.external_id}@example.com")
    name = factory.Faker("name")
    country = "United Kingdom"
    signed_up_at = factory.LazyFunction(lambda: datetime(2024, 1, 1, tzinfo=UTC))


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"category-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU{n:05d}")
    name = factory.Faker("catch_phrase")
    category = factory.SubFactory(CategoryFactory)
    price = Decimal("9.99")
    currency = "EUR"
    stock = 10


class InteractionFactory(DjangoModelFactory):
    class Meta:
        model = Interaction

    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory)
    kind = InteractionKind.VIEW
    quantity = 1
    occurred_at = factory.LazyFunction(lambda: datetime(2025, 6, 1, 12, 0, tzinfo=UTC))
    event_id = factory.Sequence(lambda n: f"evt-{n}")


class PurchaseFactory(InteractionFactory):
    kind = InteractionKind.PURCHASE
    amount = Decimal("9.99")
    order_ref = factory.Sequence(lambda n: f"order-{n}")
