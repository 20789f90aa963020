"""Factories for segmentations, runs, segments and memberships."""

import factory
from factory.django import DjangoModelFactory

from segments.models import Membership, RunStatus, Segment, SegmentationDefinition, SegmentationMethod, SegmentationRun
from tests.factories import CustomerFactory


class SegmentationDefinitionFactory(DjangoModelFactory):
    class Meta:
        model = SegmentationDefinition
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"segmentation-{n}")
    method = SegmentationMethod.KMEANS
    parameters = factory.LazyFunction(dict)


class SegmentationRunFactory(DjangoModelFactory):
    class Meta:
        model = SegmentationRun

    definition = factory.SubFactory(SegmentationDefinitionFactory)
    method = factory.LazyAttribute(lambda o: o.definition.method)
    status = RunStatus.SUCCEEDED
    progress = 100


class SegmentFactory(DjangoModelFactory):
    class Meta:
        model = Segment

    run = factory.SubFactory(SegmentationRunFactory)
    key = factory.Sequence(lambda n: f"k{n}")
    name = factory.Sequence(lambda n: f"Segment {n}")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    customer = factory.SubFactory(CustomerFactory)
    segment = factory.SubFactory(SegmentFactory)


def activate(run: SegmentationRun) -> SegmentationRun:
    """Make `run` the active run of its definition (what a successful run does)."""
    SegmentationDefinition.objects.filter(pk=run.definition_id).update(active_run=run)
    run.definition.refresh_from_db()
    return run


def build_shop(*, seed: int = 0, big: int = 30, small: int = 30, browsers: int = 10):
    """A small shop with three kinds of customers, bulk-created: `big` frequent big spenders (category A),
    `small` one-off small buyers long ago (category B), and `browsers` who view but never buy.
    Returns {"customers": {kind: [Customer]}, "products": [Product]}.
    """
    import random
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from shop.models import Category, Customer, Interaction, InteractionKind, Product

    rng = random.Random(seed)
    end = datetime(2025, 12, 31, tzinfo=UTC)
    cat_a = Category.objects.create(code=f"gadgets-{seed}", name="Gadgets")
    cat_b = Category.objects.create(code=f"books-{seed}", name="Books")
    products = Product.objects.bulk_create(
        [Product(sku=f"A{seed}-{i}", name=f"Gadget {i}", category=cat_a, price=Decimal("50")) for i in range(5)]
        + [Product(sku=f"B{seed}-{i}", name=f"Book {i}", category=cat_b, price=Decimal("8")) for i in range(5)]
        + [Product(sku=f"POST{seed}", name="Postage", is_merchandise=False, price=Decimal("4"))]
    )
    gadgets, books, postage = products[:5], products[5:10], products[10]
    groups = {"big": big, "small": small, "browser": browsers}
    customers = {
        kind: Customer.objects.bulk_create(
            [
                Customer(
                    external_id=f"s{seed}-{kind}-{i}", attributes={"persona": kind}, country="UK" if i % 2 else "FR"
                )
                for i in range(n)
            ]
        )
        for kind, n in groups.items()
    }
    events: list[Interaction] = []
    counter = 0

    def add(customer, product, kind, at, amount=None, order=""):
        nonlocal counter
        counter += 1
        events.append(
            Interaction(
                customer=customer,
                product=product,
                kind=kind,
                occurred_at=at,
                amount=None if amount is None else Decimal(str(round(amount, 2))),
                order_ref=order,
                value=30.0 if kind == InteractionKind.VIEW else None,
                event_id=f"e{seed}-{counter}",
            )
        )

    for c in customers["big"]:
        for o in range(rng.randint(8, 12)):
            at = end - timedelta(days=rng.randint(1, 40), hours=o)
            add(c, rng.choice(gadgets), InteractionKind.VIEW, at)
            add(c, rng.choice(gadgets), InteractionKind.PURCHASE, at, rng.uniform(150, 250), f"o{c.pk}-{o}")
    for c in customers["small"]:
        at = end - timedelta(days=rng.randint(200, 300))
        for _ in range(6):
            add(c, rng.choice(books), InteractionKind.VIEW, at)
        add(c, rng.choice(books), InteractionKind.PURCHASE, at, rng.uniform(5, 12), f"o{c.pk}")
        add(c, postage, InteractionKind.PURCHASE, at, 4.0, f"o{c.pk}")
    for c in customers["browser"]:
        for _ in range(rng.randint(20, 30)):
            add(c, rng.choice(products[:10]), InteractionKind.VIEW, end - timedelta(days=rng.randint(1, 60)))
    Interaction.objects.bulk_create(events, batch_size=2000)
    return {"customers": customers, "products": products}
