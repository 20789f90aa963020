"""The broker unreachable: the shop keeps working (events accepted, recommendations served, nothing lost),
queuing fails fast with a message and no queued row, and /health/ready says which dependency is down."""
# ruff: noqa: F811 - dead_broker is a fixture imported from tests.brokers

import pytest
from django.urls import reverse

from recommender.models import TrainingRun
from recommender.services import train_model
from recommender.serving import log
from segments import services as segment_services
from segments.models import SegmentationRun
from shop.demo.services import generate_demo_data
from shop.models import Customer, Interaction, Product
from tests.brokers import dead_broker  # noqa: F401 - a fixture

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def running_shop(transactional_db):
    generate_demo_data(customers=300, seed=5)
    model = train_model(algorithm="ease")
    definition = segment_services.segmentation_definition_create(name="RFM", method="rfm")
    segment_services.segmentation_run(definition=definition)
    return {"model": model, "definition": definition}


def test_with_the_broker_down_the_shop_serves_and_queuing_fails_fast(
    running_shop, dead_broker, api_client, admin_client
):
    customers = list(Customer.objects.filter(interactions__isnull=False).distinct()[:10])
    products = list(Product.objects.filter(is_active=True)[:5])
    before = Interaction.objects.count()
    events = [
        {"event_id": f"dead-broker-{c.pk}-{p.pk}", "customer_id": c.external_id, "sku": p.sku, "kind": "view"}
        for c in customers
        for p in products
    ]
    accepted = api_client.post("/api/v1/events", events, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["accepted"] == len(events) == 50
    assert Interaction.objects.count() == before + 50  # nothing lost

    for customer in customers:
        served = api_client.get(f"/api/v1/recommendations/{customer.external_id}", {"n": 5})
        assert served.status_code == 200 and served.json()["model"] == running_shop["model"].pk
    assert log.flush() == len(customers)  # every served list logged

    run_now = admin_client.post(
        "/admin/segments/segmentationdefinition/",
        {"action": "run_now", "_selected_action": [running_shop["definition"].pk]},
        follow=True,
    )
    assert "Could not queue segmentation run" in run_now.content.decode()
    assert not SegmentationRun.objects.in_progress().exists()
    train_now = admin_client.post(reverse("admin:recommender_trainingrun_train"), {}, follow=True)
    assert "Could not queue training run" in train_now.content.decode()
    assert not TrainingRun.objects.filter(status__in=["queued", "running"]).exists()
    assert TrainingRun.objects.get(is_active=True) == running_shop["model"]

    ready = api_client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"].startswith("error:")
    assert ready.json()["checks"]["database"] == "ok"
