"""Training runs, the champion gate, promotion, rollback and switching the served model."""

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError

from recommender.models import TrainingRun
from recommender.services import (
    apply_champion_gate,
    choose_algorithm,
    load_run_artifact,
    promote_model,
    rollback_model,
    train_model,
)
from recommender.serving.artifact import file_sha256
from shop.models import Interaction
from tests.recommender.factories import TrainingRunFactory

pytestmark = pytest.mark.django_db


def run_with_artifact(ndcg: float, *, active: bool = False, **fields) -> TrainingRun:
    run = TrainingRunFactory(metrics={"ndcg@10": ndcg}, **fields)
    path = Path(django_settings.MEDIA_ROOT) / "models" / f"{run.pk}-ease.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not read by the gate")
    run.artifact_path = f"models/{run.pk}-ease.npz"
    run.save()
    if active:
        promote_model(run=run)
        run.refresh_from_db()
    return run


def test_training_records_data_metrics_and_a_checksummed_artifact(trained):
    assert trained.algorithm == "ease"
    assert (trained.n_users, trained.n_items, trained.n_interactions) == (40, 24, 280)
    assert trained.max_interaction_id == max(Interaction.objects.values_list("id", flat=True))
    assert set(trained.metrics) >= {"ndcg@10", "precision@10", "recall@10", "map", "coverage"}
    assert 0 < trained.metrics["ndcg@10"] <= 1
    path = Path(django_settings.MEDIA_ROOT) / trained.artifact_path
    assert path.name.startswith(f"{trained.pk}-ease-") and path.suffix == ".npz"
    assert file_sha256(path) == trained.artifact_sha256
    assert trained.duration_seconds > 0
    assert trained.promoted_at is not None


def test_artifact_round_trips_the_model_and_top_lists(trained):
    artifact = load_run_artifact(run=trained)
    assert artifact.top_items.shape == (40, 24)
    assert artifact.model.name == "ease"
    # Nobody's precomputed list holds a product they bought.
    bought = set(Interaction.objects.filter(kind="purchase").values_list("customer_id", "product_id"))
    row_customer = artifact.user_customer_ids
    for row, items in enumerate(artifact.top_items):
        products = artifact.item_product_ids[items[items >= 0]]
        assert not {(int(row_customer[row]), int(p)) for p in products} & bought


def test_a_tampered_artifact_is_refused(trained):
    path = Path(django_settings.MEDIA_ROOT) / trained.artifact_path
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ValueError, match="sha256"):
        load_run_artifact(run=trained)


@pytest.mark.parametrize(
    ("users", "items", "interactions", "expected"),
    [
        (5, 10, 30, "popularity"),
        (1000, 800, 50_000, "ease"),
        (1000, 20_000, 10**6, "ease"),
        (10**5, 50_000, 10**7, "als"),
    ],
)
def test_algorithm_is_chosen_by_size(users, items, interactions, expected):
    assert choose_algorithm(n_users=users, n_items=items, n_interactions=interactions) == expected


def test_training_without_an_algorithm_picks_one(shop):
    run = train_model()
    assert run.status == "succeeded"
    assert run.algorithm == "ease"


def test_first_model_is_promoted(db):
    run = run_with_artifact(0.2)
    apply_champion_gate(run=run)
    run.refresh_from_db()
    assert run.is_active
    assert "no active model" in run.decision


def test_better_challenger_replaces_the_champion(db):
    champion = run_with_artifact(0.30, active=True)
    challenger = run_with_artifact(0.35)
    apply_champion_gate(run=challenger)
    champion.refresh_from_db()
    challenger.refresh_from_db()
    assert challenger.is_active and not champion.is_active


def test_challenger_within_tolerance_is_promoted(db):
    champion = run_with_artifact(0.300, active=True)
    challenger = run_with_artifact(0.295)
    apply_champion_gate(run=challenger)
    challenger.refresh_from_db()
    champion.refresh_from_db()
    assert challenger.is_active and not champion.is_active


def test_worse_challenger_stays_a_candidate(db):
    champion = run_with_artifact(0.30, active=True)
    challenger = run_with_artifact(0.25)
    apply_champion_gate(run=challenger)
    challenger.refresh_from_db()
    champion.refresh_from_db()
    assert champion.is_active and not challenger.is_active
    assert challenger.decision.startswith("kept as candidate")


def test_tolerance_comes_from_settings(db, settings):
    settings.RECOMMENDER_PROMOTION_TOLERANCE = 0.1
    run_with_artifact(0.30, active=True)
    challenger = run_with_artifact(0.25)
    apply_champion_gate(run=challenger)
    challenger.refresh_from_db()
    assert challenger.is_active


def test_promote_and_roll_back(db):
    first = run_with_artifact(0.3, active=True)
    second = run_with_artifact(0.2)
    promote_model(run=second)
    assert list(TrainingRun.objects.filter(is_active=True)) == [second]
    restored = rollback_model()
    assert restored == first
    assert list(TrainingRun.objects.filter(is_active=True)) == [first]


def test_rollback_without_a_previous_model_is_refused(db):
    run_with_artifact(0.3, active=True)
    with pytest.raises(ValidationError):
        rollback_model()


def test_failed_or_artifactless_runs_cannot_be_promoted(db):
    with pytest.raises(ValidationError):
        promote_model(run=TrainingRunFactory(status=TrainingRun.Status.FAILED))
    with pytest.raises(ValidationError):
        promote_model(run=TrainingRunFactory(artifact_path="models/missing.npz"))


def test_a_failed_training_keeps_the_active_model(trained):
    failed = train_model(algorithm="ease", params={"l2": -1.0})
    assert failed.status == "failed"
    assert "l2" in failed.error
    assert not failed.is_active
    assert TrainingRun.objects.get(is_active=True) == trained


def test_unknown_algorithm_is_refused(db):
    with pytest.raises(ValidationError):
        train_model(algorithm="magic")


def test_serving_switches_to_a_promoted_model_without_restart(api_client, trained):
    assert api_client.get("/api/v1/recommendations/c00").json()["model"] == trained.pk
    second = train_model(algorithm="item_knn")
    assert second.is_active or second.decision.startswith("kept")
    promote_model(run=second)
    assert api_client.get("/api/v1/recommendations/c00").json()["model"] == second.pk
    rollback_model()
    assert api_client.get("/api/v1/recommendations/c00").json()["model"] == trained.pk


def test_top_lists_explain_each_slot_with_a_history_item(trained):
    artifact = load_run_artifact(run=trained)
    # The top of every list comes from the customer's own taste group, so some history item explains it.
    assert (artifact.top_because[:, :5] >= 0).all()
    assert np.isin(artifact.top_because_kind[artifact.top_because >= 0], [1, 4]).all()  # viewed or bought


def test_training_reader_returns_the_same_frame_as_interactions_frame(shop):
    import pandas as pd

    from recommender.selectors import interactions_frame, training_interactions_frame
    from shop.models import Product

    Product.objects.filter(sku="P03").update(is_merchandise=False)
    keys = ["customer", "product", "kind", "occurred_at"]
    expected = interactions_frame().sort_values(keys).reset_index(drop=True)
    actual = training_interactions_frame().sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(actual, expected)
    assert not actual.loc[actual["product"] == Product.objects.get(sku="P03").pk, "is_merchandise"].any()


def test_an_artifact_of_another_database_with_the_same_run_id_is_never_overwritten(shop):
    run = TrainingRunFactory(status=TrainingRun.Status.QUEUED, algorithm="ease", parameters={"l2": 10.0})
    theirs = Path(django_settings.MEDIA_ROOT) / "models" / f"{run.pk}-ease.npz"
    theirs.parent.mkdir(parents=True, exist_ok=True)
    theirs.write_bytes(b"another environment's model")
    run = train_model(run=run)
    assert run.status == "succeeded", run.error
    assert theirs.read_bytes() == b"another environment's model"
    assert run.artifact_path != f"models/{run.pk}-ease.npz"
    assert file_sha256(Path(django_settings.MEDIA_ROOT) / run.artifact_path) == run.artifact_sha256


def test_writing_an_artifact_never_replaces_an_existing_file(trained, tmp_path):
    from django.core.files.storage import FileSystemStorage

    from recommender.serving.artifact import write_artifact

    path = tmp_path / "model.npz"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        write_artifact("model.npz", load_run_artifact(run=trained), storage=FileSystemStorage(location=tmp_path))
    assert path.read_bytes() == b"keep me"
    assert list(tmp_path.iterdir()) == [path]


def test_successive_rollbacks_walk_back_through_the_promotion_history(db):
    one, two, three, four = (run_with_artifact(0.3) for _ in range(4))
    for run in (one, four, three):
        promote_model(run=run)
    assert rollback_model() == four
    assert rollback_model() == one
    with pytest.raises(ValidationError):
        rollback_model()
    assert TrainingRun.objects.get(is_active=True) == one
    promote_model(run=two)
    assert rollback_model() == one  # three and four were rolled back from: skipped
    promote_model(run=three)  # promoting again makes it part of the history anew
    promote_model(run=two)
    assert rollback_model() == three
