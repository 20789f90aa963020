"""A small shop with two taste groups, and a trained model over it."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from recommender.serving import engine, log
from shop.models import Interaction, InteractionKind
from tests.factories import CategoryFactory, CustomerFactory, ProductFactory

T0 = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_serving(settings):
    """Each test starts with nothing loaded, refreshes on every request (active model, new events, catalog)
    and never flushes the served-recommendation log mid-test."""
    settings.RECOMMENDER_REFRESH_SECONDS = 0
    settings.RECOMMENDER_CATALOG_REFRESH_SECONDS = 0
    settings.RECOMMENDER_LOG_FLUSH_SECONDS = 3600
    settings.RECOMMENDER_LOG_BATCH = 100_000
    settings.RECOMMENDER_MIN_INTERACTIONS = 50
    engine.reset()
    log._buffer.clear()
    yield
    engine.reset()
    log._buffer.clear()


@pytest.fixture
def shop(db):
    """40 customers in two groups; group A (cust 0-19) likes products 0-11, group B products 12-23.

    Categories alternate "books", "games", "music" by product position.
    """
    categories = [CategoryFactory(code=code, name=code.title()) for code in ("books", "games", "music")]
    products = [ProductFactory(sku=f"P{i:02d}", name=f"Product {i:02d}", category=categories[i % 3]) for i in range(24)]
    customers = [CustomerFactory(external_id=f"c{i:02d}") for i in range(40)]
    rng = random.Random(3)
    rows = []
    for ci, customer in enumerate(customers):
        liked = products[:12] if ci < 20 else products[12:]
        for j, product in enumerate(rng.sample(liked, 7)):
            kind = InteractionKind.PURCHASE if j < 2 else InteractionKind.VIEW
            rows.append(
                Interaction(
                    customer=customer,
                    product=product,
                    kind=kind,
                    quantity=1,
                    order_ref=f"o{ci}" if kind == InteractionKind.PURCHASE else "",
                    occurred_at=T0 + timedelta(hours=ci, minutes=j),
                    event_id=f"seed-{ci}-{product.pk}-{j}",
                )
            )
    Interaction.objects.bulk_create(rows)
    return {"products": products, "customers": customers, "categories": categories}


@pytest.fixture
def trained(shop):
    from recommender.services import train_model

    run = train_model(algorithm="ease", params={"l2": 10.0})
    assert run.status == "succeeded", run.error
    assert run.is_active
    return run
