"""Per-customer lists in the database: packing, publishing, pruning, erasure, and serving from them."""

from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import storages
from rest_framework.test import APIClient

from recommender.models import PrecomputedList, TrainingRun
from recommender.services import load_run_artifact, train_model
from recommender.serving import engine
from recommender.serving.explain import BECAUSE_KINDS
from recommender.serving.lists import pack_lists, prune_lists, publish_lists, unpack_list
from shop.models import Customer
from shop.services import create_api_client
from tests.recommender.factories import TrainingRunFactory


def test_lists_round_trip_and_stop_at_the_first_empty_slot():
    items = np.array([[3, 1, -1, -1], [0, 2, 1, 4], [-1, -1, -1, -1]], dtype=np.int32)
    scores = np.array([[0.9, 0.5, 0, 0], [0.8, 0.7, 0.6, 0.1], [0, 0, 0, 0]], dtype=np.float32)
    because = np.array([[2, -1, -1, -1], [1, 1, 0, -1], [-1, -1, -1, -1]], dtype=np.int32)
    kinds = np.array([[3, 0, 0, 0], [1, 1, 2, 0], [0, 0, 0, 0]], dtype=np.int8)

    payloads = pack_lists(items, scores, because, kinds)

    assert [len(p) for p in payloads] == [2 * 13, 4 * 13, 0]
    first, second, third = (unpack_list(p) for p in payloads)
    np.testing.assert_array_equal(first.items, [3, 1])
    np.testing.assert_allclose(first.scores, [0.9, 0.5], atol=1e-6)
    np.testing.assert_array_equal(first.because, [2, -1])
    np.testing.assert_array_equal(first.kinds, [3, 0])
    np.testing.assert_array_equal(second.items, [0, 2, 1, 4])
    assert len(third) == 0


def test_lists_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        pack_lists(np.zeros((2, 3), np.int32), np.zeros((2, 4), np.float32), np.zeros((2, 3)), np.zeros((2, 3)))


@pytest.mark.django_db
def test_training_publishes_one_list_per_customer_matching_the_artifact(trained):
    artifact = load_run_artifact(run=trained)
    rows = dict(PrecomputedList.objects.filter(run=trained).values_list("customer_id", "payload"))

    assert trained.lists_published_at is not None
    assert set(rows) == set(artifact.user_customer_ids.tolist())
    for row, customer_id in enumerate(artifact.user_customer_ids.tolist()):
        ranked = unpack_list(rows[customer_id])
        expected = artifact.top_items[row][artifact.top_items[row] >= 0]
        np.testing.assert_array_equal(ranked.items, expected)


@pytest.mark.django_db
def test_old_runs_lists_are_pruned_but_the_active_runs_are_kept(shop):
    customers = [c.pk for c in shop["customers"][:3]]
    arrays = (
        np.zeros((3, 2), np.int32),
        np.ones((3, 2), np.float32),
        np.full((3, 2), -1, np.int32),
        np.zeros((3, 2), np.int8),
    )
    active = TrainingRunFactory(is_active=True)
    newer = [TrainingRunFactory() for _ in range(4)]
    for run in [active, *newer]:
        publish_lists(run=run, customer_ids=np.array(customers), **dict(zip(ARRAY_NAMES, arrays, strict=True)))

    with_lists = set(PrecomputedList.objects.values_list("run_id", flat=True))
    assert with_lists == {active.pk, *(r.pk for r in newer[-3:])}
    assert TrainingRun.objects.get(pk=newer[0].pk).lists_published_at is None
    assert prune_lists() == []


ARRAY_NAMES = ("top_items", "top_scores", "top_because", "top_because_kind")


@pytest.mark.django_db
def test_publish_refuses_ids_that_do_not_match_the_lists(shop):
    arrays = dict(zip(ARRAY_NAMES, (np.zeros((2, 1), np.int32),) * 4, strict=True))
    with pytest.raises(ValueError, match="3 customer ids for 2 precomputed lists"):
        publish_lists(run=TrainingRunFactory(), customer_ids=np.array([1, 2, 3]), **arrays)
    assert not PrecomputedList.objects.exists()


@pytest.mark.django_db
def test_deleting_a_customer_deletes_their_lists(trained):
    customer = Customer.objects.get(external_id="c03")
    assert PrecomputedList.objects.filter(customer=customer).count() == 1

    customer.delete()

    assert not PrecomputedList.objects.filter(customer_id=customer.pk).exists()
    assert PrecomputedList.objects.filter(run=trained).count() == 39


@pytest.fixture
def reader(db):
    _, raw = create_api_client(name="reader", scopes=["recommendations:read"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


def collection_sizes(state) -> dict[str, int]:
    return {name: len(value) for name, value in vars(state).items() if hasattr(value, "__len__")}


@pytest.mark.django_db
def test_serving_every_customer_grows_nothing_in_the_process(reader, trained, settings):
    settings.RECOMMENDER_REFRESH_SECONDS = 3600  # one state object throughout
    assert reader.get("/api/v1/recommendations/c00?n=5").json()["strategy"] == "personal"
    state = engine.current_state()
    before = collection_sizes(state)

    answers = [reader.get(f"/api/v1/recommendations/c{i:02d}?n=5").json() for i in range(40)]

    assert engine.current_state() is state
    assert {a["strategy"] for a in answers} == {"personal"}
    after = collection_sizes(state)
    # Only the rendered "because you ..." texts are added, and they are bounded by products x kinds.
    assert {k: v for k, v in after.items() if k != "reasons"} == {k: v for k, v in before.items() if k != "reasons"}
    assert after["reasons"] <= len(state.item_products) * len(BECAUSE_KINDS)


@pytest.mark.django_db
def test_a_run_without_lists_in_the_database_still_personalises_by_scoring_the_history(reader, trained):
    personal = reader.get("/api/v1/recommendations/c05?n=5").json()
    PrecomputedList.objects.filter(run=trained).delete()
    TrainingRun.objects.filter(pk=trained.pk).update(lists_published_at=None)

    rescored = reader.get("/api/v1/recommendations/c05?n=5").json()

    assert personal["strategy"] == "personal"
    assert rescored["strategy"] == "fold_in"
    # The same model scoring the same history: the same products.
    assert [r["sku"] for r in rescored["results"]] == [r["sku"] for r in personal["results"]]


@pytest.mark.django_db
def test_a_second_process_serves_the_model_another_process_trained(reader, shop):
    first = reader.get("/api/v1/recommendations/c05?n=5").json()
    run = train_model(algorithm="ease", params={"l2": 10.0})  # as a worker would, elsewhere
    engine.reset()  # a web process that has loaded nothing yet

    second = reader.get("/api/v1/recommendations/c05?n=5").json()

    assert first["strategy"] == "popular"
    assert second["strategy"] == "personal" and second["model"] == run.pk


@pytest.mark.django_db
def test_artifacts_go_to_the_configured_storage_and_a_remote_one_is_copied_once(reader, shop, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    settings.RECOMMENDER_ARTIFACT_CACHE = str(tmp_path / "cache")

    run = train_model(algorithm="ease", params={"l2": 10.0})
    engine.reset()
    answer = reader.get("/api/v1/recommendations/c05?n=5").json()

    assert storages["default"].exists(run.artifact_path)
    assert not (Path(settings.MEDIA_ROOT) / run.artifact_path).exists()
    assert answer["strategy"] == "personal" and answer["model"] == run.pk
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{run.artifact_sha256}.npz"]


@pytest.mark.django_db
def test_a_publish_that_fails_midway_leaves_no_lists_and_the_run_unpublished(shop, monkeypatch):
    from recommender.serving import lists

    run = TrainingRunFactory()
    customers = np.array([c.pk for c in shop["customers"][:5]])
    arrays = dict(zip(ARRAY_NAMES, (np.zeros((5, 2), np.int32),) * 4, strict=True))
    publish_lists(run=run, customer_ids=customers, **arrays)
    written = []
    real_insert = lists.insert_columns

    def insert_then_fail(model, data, **options):
        if written:
            raise OSError("disk full")
        written.append(real_insert(model, data, **options))
        return written[-1]

    monkeypatch.setattr(lists, "WRITE_BATCH", 2)
    monkeypatch.setattr(lists, "insert_columns", insert_then_fail)
    with pytest.raises(OSError, match="disk full"):
        publish_lists(run=run, customer_ids=customers, **arrays)

    assert written and not PrecomputedList.objects.filter(run=run).exists()
    assert TrainingRun.objects.get(pk=run.pk).lists_published_at is None
