"""The model registry's audit trail: every switch of the served model records who, when, from, to and why."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError

from recommender.models import ModelSwitch, TrainingRun
from recommender.services import apply_champion_gate, promote_model, rollback_model
from tests.recommender.factories import TrainingRunFactory

pytestmark = pytest.mark.django_db


def run_with_artifact(ndcg: float, **fields) -> TrainingRun:
    run = TrainingRunFactory(metrics={"ndcg@10": ndcg}, **fields)
    path = Path(django_settings.MEDIA_ROOT) / "models" / f"{run.pk}-{run.algorithm}-registry.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not read by the registry")
    run.artifact_path = str(path.relative_to(django_settings.MEDIA_ROOT))
    run.save()
    return run


def test_the_champion_gate_records_an_automatic_switch_without_a_user():
    first = run_with_artifact(0.3)
    apply_champion_gate(run=first)
    second = run_with_artifact(0.31)
    apply_champion_gate(run=second)
    newest, oldest = ModelSwitch.objects.all()
    assert (oldest.kind, oldest.from_run, oldest.to_run, oldest.acting_user) == ("automatic", None, first, None)
    assert (newest.from_run, newest.to_run) == (first, second)
    assert newest.reason.startswith("passed the champion gate: nDCG@10 0.31")
    assert newest.actor == "champion gate (automatic)"


def test_a_candidate_kept_by_the_gate_leaves_no_switch():
    apply_champion_gate(run=run_with_artifact(0.3))
    apply_champion_gate(run=run_with_artifact(0.1))
    assert ModelSwitch.objects.count() == 1


def test_manual_promote_records_user_time_runs_and_reason(django_user_model):
    user = django_user_model.objects.create_user(username="dana")
    first = run_with_artifact(0.3)
    promote_model(run=first, acting_user=user, reason="first model")
    second = run_with_artifact(0.2)
    promote_model(run=second, acting_user=user, reason="try the cheaper model")
    switch = ModelSwitch.objects.first()
    assert (switch.kind, switch.from_run, switch.to_run) == ("promote", first, second)
    assert (switch.acting_user, switch.acting_user_name, switch.reason) == (user, "dana", "try the cheaper model")
    second.refresh_from_db()
    assert switch.switched_at == second.promoted_at


def test_promoting_the_active_model_records_nothing():
    run = run_with_artifact(0.3)
    promote_model(run=run)
    promote_model(run=run)
    assert ModelSwitch.objects.count() == 1


def test_rollback_to_a_chosen_run_and_the_audit_row_outlives_the_user(django_user_model):
    user = django_user_model.objects.create_user(username="sam")
    knn, als, ease = (run_with_artifact(0.3, algorithm=name) for name in ("item_knn", "als", "ease"))
    for run in (knn, als, ease):
        promote_model(run=run)
    assert rollback_model(run=als, acting_user=user, reason="ease regressed") == als
    assert TrainingRun.objects.get(is_active=True) == als
    switch = ModelSwitch.objects.first()
    assert (switch.kind, switch.from_run, switch.to_run, switch.reason) == ("rollback", ease, als, "ease regressed")
    user.delete()
    switch.refresh_from_db()
    assert switch.acting_user is None and switch.actor == "sam"


def test_rollback_never_overwrites_the_gate_decision():
    first = run_with_artifact(0.3)
    apply_champion_gate(run=first)
    second = run_with_artifact(0.3)
    apply_champion_gate(run=second)
    rollback_model(run=second)  # the active run selected: back to the one before it
    first.refresh_from_db()
    assert first.is_active and first.decision == "passed the champion gate: no active model"
    assert "rolled back to" not in first.decision


def test_rollback_to_a_run_that_never_served_is_refused():
    promote_model(run=run_with_artifact(0.3))
    candidate = run_with_artifact(0.5)
    with pytest.raises(ValidationError, match="never served"):
        rollback_model(run=candidate)
    assert not ModelSwitch.objects.filter(kind="rollback").exists()


def test_a_failed_switch_writes_no_audit_row():
    with pytest.raises(ValidationError):
        promote_model(run=TrainingRunFactory(status=TrainingRun.Status.FAILED))
    assert not ModelSwitch.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_rewords_old_verdicts_and_records_past_promotions():
    from datetime import timedelta

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    before, after = (
        [("recommender", "0004_trainingrun_heartbeat_at_modelswitch")],
        [("recommender", "0005_model_history_backfill")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    # The models as they were at each step (later migrations add fields the rows of then did not have).
    old = executor.loader.project_state(before).apps.get_model("recommender", "TrainingRun")
    now = timezone.now()
    fields = {"algorithm": "ease", "status": "succeeded"}
    first = old.objects.create(
        decision="rolled back to from #9", promoted_at=now - timedelta(days=2), is_active=True, **fields
    )
    second = old.objects.create(
        decision="promoted: nDCG@10 0.3 vs active #1 0.29", promoted_at=now - timedelta(days=1), **fields
    )
    kept = old.objects.create(decision="kept as candidate: nDCG@10 0.1 is more than 0.01 below active #1 0.3", **fields)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    try:
        executor.migrate(after)
        apps = executor.loader.project_state(after).apps
        runs = apps.get_model("recommender", "TrainingRun").objects
        first, second, kept = (runs.get(pk=run.pk) for run in (first, second, kept))
        assert first.decision == "" and second.decision == "passed the champion gate: nDCG@10 0.3 vs active #1 0.29"
        assert kept.decision.startswith("kept as candidate")
        later, earlier = apps.get_model("recommender", "ModelSwitch").objects.order_by("-switched_at")
        assert (earlier.from_run_id, earlier.to_run_id, earlier.kind) == (None, first.pk, "promote")
        assert (later.from_run_id, later.to_run_id, later.kind) == (first.pk, second.pk, "automatic")
        assert later.switched_at == second.promoted_at and "who and why unknown" in later.reason
    finally:
        # Back to the latest schema for the tests that follow.
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
