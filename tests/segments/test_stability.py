"""Segments stay put: the same k and segments for other seeds, and after a few new events; runs say their as-of."""

from datetime import timedelta
from itertools import combinations

import pandas as pd
import pytest
from django.utils import timezone
from sklearn.metrics import adjusted_rand_score

from segments import selectors, services
from segments.models import RunStatus
from shop.demo.services import generate_demo_data
from shop.models import Interaction, Product
from shop.services import record_events
from tests.segments.factories import build_shop

pytestmark = pytest.mark.django_db


def _labels(run) -> pd.Series:
    return pd.Series(selectors.run_labels(run_id=run.pk)).sort_index()


def _kmeans(name: str, **parameters):
    definition = services.segmentation_definition_create(name=name, method="kmeans", parameters=parameters)
    run = services.segmentation_run(definition=definition)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return definition, run


@pytest.fixture
def live_demo():
    """A small demo shop whose year of events ended an hour ago (pinned, so the data is the same every time)."""
    end = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    generate_demo_data(customers=500, seed=3, end=end)
    return end


def test_other_seeds_choose_the_same_k_and_segments_and_a_few_events_move_almost_no_one(live_demo):
    runs = {seed: _kmeans(f"Seed {seed}", seed=seed) for seed in (1, 2, 3)}
    ks = {seed: run.metrics["k"] for seed, (_, run) in runs.items()}
    assert len(set(ks.values())) == 1, ks
    for a, b in combinations(runs, 2):
        ari = adjusted_rand_score(_labels(runs[a][1]), _labels(runs[b][1]))
        assert ari >= 0.9, (a, b, ari)

    definition, first = runs[1]
    assert first.metrics["as_of_source"] == "now"
    buyers = list(Interaction.objects.filter(kind="purchase").values_list("customer__external_id", flat=True)[:4])
    sku = Product.objects.filter(is_merchandise=True).values_list("sku", flat=True).first()
    now = timezone.now().isoformat()
    events = [
        {"event_id": "new-1", "customer_id": buyers[0], "sku": sku, "kind": "view", "occurred_at": now},
        {"event_id": "new-2", "customer_id": buyers[1], "sku": sku, "kind": "cart", "occurred_at": now},
        {"event_id": "new-3", "customer_id": buyers[2], "sku": sku, "kind": "view", "occurred_at": now},
        {
            "event_id": "new-4",
            "customer_id": buyers[3],
            "sku": sku,
            "kind": "purchase",
            "amount": "25.00",
            "order_ref": "new-order",
            "occurred_at": now,
        },
    ]
    assert [r.status for r in record_events(events=events)] == ["accepted"] * 4
    again = services.segmentation_run(definition=definition)
    assert again.status == RunStatus.SUCCEEDED, again.error
    assert again.metrics["k"] == first.metrics["k"]
    assert again.metrics["ari_previous"] >= 0.95
    assert again.metrics["warm_started"] is True
    assert again.movement  # who moved from which segment to which, as the run page shows


def test_the_k_of_every_candidate_is_kept_with_the_run(live_demo):
    _, run = _kmeans("Scores", seed=5)
    assert set(run.metrics["silhouette_by_k"]) == set(run.metrics["stability_by_k"]) == {str(k) for k in range(2, 11)}
    assert run.metrics["k_choice"]


def test_live_data_is_measured_from_now():
    before = timezone.now()
    generate_demo_data(customers=60, seed=4, end=before - timedelta(hours=2))
    _, run = _kmeans("Live", k=2)
    assert run.metrics["as_of_source"] == "now"
    assert before <= pd.Timestamp(run.metrics["as_of"]) <= timezone.now()


def test_historical_data_is_measured_from_its_last_event():
    build_shop(big=10, small=10, browsers=2)  # its events end in 2025
    _, run = _kmeans("Historical", k=2)
    latest = Interaction.objects.latest("occurred_at").occurred_at
    assert pd.Timestamp(run.metrics["as_of"]) == pd.Timestamp(latest)
    assert run.metrics["as_of_source"].startswith("last event (historical data")


def test_an_as_of_date_means_the_end_of_that_day():
    build_shop(big=10, small=10, browsers=2)
    _, run = _kmeans("Pinned", k=2, as_of="2025-12-01")
    assert run.metrics["as_of"] == "2025-12-01T23:59:59.999999+00:00"
    assert run.metrics["as_of_source"] == "as_of parameter"
