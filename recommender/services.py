"""Training runs, the champion/challenger gate, promotion and rollback."""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from config.jobs import Heartbeat, QueueUnavailable, apply_options, fail_stale, publish
from recommender.ml import toplists
from recommender.ml.base import binarize
from recommender.ml.evaluation import SEARCH_SECONDS, dataset_from_matrix, holdout_metrics, search_settings
from recommender.ml.matrix import build_interaction_matrix
from recommender.ml.registry import ALGORITHMS, make_recommender
from recommender.models import ModelSwitch, TrainingRun
from recommender.selectors import training_interactions_frame
from recommender.serving.artifact import Artifact, artifact_exists, read_artifact, write_artifact
from recommender.serving.explain import BECAUSE_KINDS, KIND_CODES, because_items
from recommender.serving.lists import publish_lists
from shop.models import Interaction

logger = logging.getLogger(__name__)

ACTIVE_RUN_CACHE_KEY = "recommender:active-run"
EASE_MAX_ITEMS = 20_000
Progress = Callable[[str, float], None]


def setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def choose_algorithm(*, n_users: int, n_items: int, n_interactions: int) -> str:
    """EASE up to ~20k items (the best single model), ALS above; popularity while there is almost no data."""
    if n_interactions < setting("RECOMMENDER_MIN_INTERACTIONS", 200) or n_users < 10 or n_items < 5:
        return "popularity"
    if n_items <= setting("RECOMMENDER_EASE_MAX_ITEMS", EASE_MAX_ITEMS):
        return "ease"
    return "als"


def train_time_limit() -> int:
    """Seconds a training task may run: soft (the task is told) then hard 60 s later (the worker kills it)."""
    return int(setting("RECOMMENDER_TRAIN_TIME_LIMIT", 3600))


def queue_training(*, algorithm: str | None = None, search: bool | None = None) -> TrainingRun:
    """A queued run, trained by a worker once this transaction commits.

    Runs whose worker died are failed first (see training_runs_fail_stale). With the broker down the run is
    marked failed with the reason and QueueUnavailable is raised (at once outside a transaction, else when
    it commits): no queued row is left behind.
    """
    from recommender.tasks import train_recommender

    if algorithm and algorithm not in ALGORITHMS:
        raise ValidationError({"algorithm": f"Unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}."})
    training_runs_fail_stale()
    run = TrainingRun.objects.create(algorithm=algorithm or "", status=TrainingRun.Status.QUEUED)
    limit = train_time_limit()

    def send() -> None:
        try:
            publish(
                lambda: train_recommender.apply_async(
                    kwargs={"algorithm": algorithm, "run_id": run.pk, "search": search},
                    soft_time_limit=limit,
                    time_limit=limit + 60,
                    **apply_options(),
                ),
                what=f"training run #{run.pk}",
            )
        except QueueUnavailable as exc:
            now = timezone.now()
            TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
                status=TrainingRun.Status.FAILED, error=str(exc), finished_at=now, updated_at=now
            )
            raise

    transaction.on_commit(send)
    return run


def training_runs_fail_stale() -> list[int]:
    """Fail running runs whose worker stopped beating for longer than the lease; the active model stays."""
    return fail_stale(
        TrainingRun.objects.all(),
        running_status=TrainingRun.Status.RUNNING,
        failed_status=TrainingRun.Status.FAILED,
        what="training run",
    )


def train_model(
    *,
    algorithm: str | None = None,
    params: dict[str, Any] | None = None,
    run: TrainingRun | None = None,
    search: bool | None = False,
    progress: Progress | None = None,
) -> TrainingRun:
    """Train, evaluate on a holdout, write the artifact, then let the champion gate decide.

    Parameters, unless `params` names them: `search=True` searches them now on validation splits of
    the data (`search_parameters`); False reuses those the latest search for the algorithm picked
    (the algorithm's defaults when there was none); None searches when that search is missing or
    stale (`search_is_stale`), else reuses it. The run records where they came from (`run.search`).

    Never raises for a training failure: the run is marked failed with the error and the active
    model stays as it was (the switch happens only after a complete, checksummed artifact exists).
    """
    report = progress or (lambda step, fraction: None)
    if algorithm and algorithm not in ALGORITHMS:
        raise ValidationError({"algorithm": f"Unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}."})
    now = timezone.now()
    if run is None:
        run = TrainingRun.objects.create(
            algorithm=algorithm or "",
            parameters=params or {},
            status=TrainingRun.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
        )
    else:
        # Claim the queued run in one UPDATE: a task delivered twice (acks_late) must neither retrain a finished
        # run over its artifact nor touch the active one; whichever delivery claims it first trains it.
        claimed = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now, error="", updated_at=now
        )
        run.refresh_from_db()
        if not claimed:
            logger.warning("training run %s is %s, not queued: not training it again", run.pk, run.status)
            return run
    started = time.perf_counter()
    try:
        # The heartbeat tells the reaper this run's worker is alive (a killed worker's run is failed).
        with Heartbeat(TrainingRun.objects.all(), run.pk, running_status=TrainingRun.Status.RUNNING):
            _train(
                run,
                algorithm=algorithm or run.algorithm or None,
                params=params or run.parameters or {},
                search=search,
                report=report,
            )
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the run, with its traceback
        # One line here (the command prints it as is); the traceback is kept on the run for the admin.
        logger.error("training run %s failed: %s: %s", run.pk, type(exc).__name__, str(exc).split("\n")[0])
        run.status = TrainingRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"[-20000:]
        run.finished_at = timezone.now()
        run.duration_seconds = time.perf_counter() - started
        _finish(run)
        return run
    run.duration_seconds = time.perf_counter() - started
    run.finished_at = timezone.now()
    run.status = TrainingRun.Status.SUCCEEDED
    if not _finish(run):
        return run
    report("champion gate", 0.99)
    apply_champion_gate(run=run)
    report("done", 1.0)
    run.refresh_from_db()
    return run


def _finish(run: TrainingRun) -> bool:
    """Save the finished run, unless the reaper failed it meanwhile (its heartbeat lapsed): then the run is
    left failed, reloaded, and never promoted. True when saved."""
    with transaction.atomic():
        if not TrainingRun.objects.select_for_update().filter(pk=run.pk, status=TrainingRun.Status.RUNNING).exists():
            logger.error("training run %s was failed by the reaper while it ran; its result is discarded", run.pk)
            run.refresh_from_db()
            return False
        run.save()
    return True


def _train(
    run: TrainingRun, *, algorithm: str | None, params: dict[str, Any], search: bool | None, report: Progress
) -> None:
    report("reading interactions", 0.0)
    # The newest event first: anything arriving while we read is folded in at serving time.
    max_id = Interaction.objects.aggregate(m=Max("id"))["m"] or 0
    frame = training_interactions_frame()
    if frame.empty:
        raise ValueError("no interactions to learn from")
    report("building the matrix", 0.15)
    data = interaction_matrix(frame)
    matrix = data.matrix.tocsr()
    n_users, n_items = matrix.shape
    name = algorithm or choose_algorithm(n_users=n_users, n_items=n_items, n_interactions=len(frame))
    model_params, run.search = _parameters(name, params, matrix, search=search, report=report)
    run.algorithm = name
    run.parameters = model_params
    run.n_users, run.n_items, run.n_interactions = n_users, n_items, len(frame)
    run.max_interaction_id = max_id
    run.data_until = frame["occurred_at"].max().to_pydatetime()
    run.save(
        update_fields=[
            "algorithm",
            "parameters",
            "n_users",
            "n_items",
            "n_interactions",
            "max_interaction_id",
            "data_until",
            "search",
            "updated_at",
        ]
    )

    report("offline evaluation", 0.25)
    fit_kwargs = _fit_inputs(name, data.item_ids)
    run.metrics = offline_metrics(
        name, model_params, matrix, seed=setting("RECOMMENDER_EVAL_SEED", 42), fit_kwargs=fit_kwargs
    )
    report(f"fitting {name}", 0.45)
    model = make_recommender(name, **model_params).fit(matrix, **fit_kwargs)
    run.parameters = model.get_params()

    report("precomputing top-N lists", 0.65)
    excluded = _excluded_cells(frame, data.user_ids, data.item_ids)
    kinds = toplists.kind_code_matrix(frame, data.user_ids, data.item_ids, codes=KIND_CODES)
    top_items, top_scores, because, because_kind = toplists.precompute_top(
        model,
        matrix,
        excluded=excluded,
        kinds=kinds,
        n=setting("RECOMMENDER_PRECOMPUTED_N", 50),
        because_items=because_items,
    )
    report("popular lists", 0.85)
    positives = binarize(matrix)
    popular = toplists.ranked(np.bincount(positives.indices, minlength=n_items))
    trending = toplists.trending_items(frame, data.item_ids, days=setting("RECOMMENDER_TRENDING_DAYS", 7))
    segment_ids, segment_popular = _segment_popular(positives, data.user_ids)
    bought_together = _bought_together(frame, data.item_ids)

    report("writing the artifact", 0.92)
    # Run ids restart at 1 in every database: a uuid keeps two environments sharing a storage from writing
    # over each other's models (which serving would then refuse on its checksum).
    relative = f"models/{run.pk}-{name}-{uuid.uuid4().hex}.npz"
    artifact = Artifact(
        header={
            "run_id": run.pk,
            "algorithm": name,
            "max_interaction_id": max_id,
            "because_kinds": list(BECAUSE_KINDS),
            "exclude_kinds": list(exclude_kinds()),
        },
        model=model,
        bought_together=bought_together,
        item_product_ids=np.asarray(data.item_ids, dtype=np.int64),
        user_customer_ids=np.asarray(data.user_ids, dtype=np.int64),
        top_items=top_items,
        top_scores=top_scores,
        top_because=because,
        top_because_kind=because_kind,
        popular_items=popular,
        trending_items=trending,
        segment_ids=segment_ids,
        segment_popular=segment_popular,
    )
    run.artifact_path, run.artifact_sha256 = write_artifact(relative, artifact)
    report("writing every customer's list", 0.95)
    publish_lists(
        run=run,
        customer_ids=artifact.user_customer_ids,
        top_items=top_items,
        top_scores=top_scores,
        top_because=because,
        top_because_kind=because_kind,
    )


def _parameters(
    name: str, given: dict[str, Any], matrix: sp.csr_matrix, *, search: bool | None, report: Progress
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parameters to train with, where they came from): given, searched now, or reused from the last search."""
    if given:
        return dict(given), {"source": "given"}
    previous = latest_search(algorithm=name)
    if search or (search is None and search_is_stale(previous, n_interactions=matrix.nnz)):
        report(f"searching {name}'s settings", 0.2)
        found = search_parameters(name=name, matrix=matrix)
        return (dict(found["params"]), found) if found else ({}, {})
    if previous is not None:
        return dict(previous.search["params"]), {"source": "run", "run": previous.pk}
    return {}, {}


def latest_search(*, algorithm: str) -> TrainingRun | None:
    """The newest succeeded run of `algorithm` whose parameters a search picked."""
    return (
        TrainingRun.objects.succeeded()
        .filter(algorithm=algorithm, search__source="search")
        .order_by("-finished_at", "-pk")
        .first()
    )


def search_is_stale(previous: TrainingRun | None, *, n_interactions: int) -> bool:
    """Search again when there was no search, it is older than RECOMMENDER_SEARCH_MAX_AGE_DAYS, or the data
    has grown or shrunk by more than RECOMMENDER_SEARCH_DATA_CHANGE times since (settings scale with it)."""
    if previous is None or previous.finished_at is None:
        return True
    age = timezone.now() - previous.finished_at
    if age.total_seconds() > float(setting("RECOMMENDER_SEARCH_MAX_AGE_DAYS", 7)) * 86_400:
        return True
    change = float(setting("RECOMMENDER_SEARCH_DATA_CHANGE", 1.5))
    before = max(int(previous.search.get("interactions", 0)), 1)
    return not (before / change <= max(n_interactions, 1) <= before * change)


def search_parameters(*, name: str, matrix: sp.csr_matrix) -> dict[str, Any]:
    """The settings of `name` picked on validation splits of `matrix`, and what the search found.

    The same search as `evaluate_recommender` runs (recommender.ml.evaluation.search_settings), within
    RECOMMENDER_SEARCH_SECONDS CPU seconds. Empty for algorithms without settings to search (popularity).
    """
    started = time.process_time()
    chosen, tuning = search_settings(
        dataset_from_matrix(matrix),
        algorithms=[name],
        seed=setting("RECOMMENDER_EVAL_SEED", 42),
        validation_users=setting("RECOMMENDER_EVAL_USERS", 5000),
        search_seconds=float(setting("RECOMMENDER_SEARCH_SECONDS", SEARCH_SECONDS)),
        log=logger.info,
    )
    if name not in chosen:
        return {}
    found = {key: value for key, value in tuning[name].items() if key != "params"}
    parts = {part: tuning[part] for part in chosen["blend"]["components"]} if name == "blend" else {}
    return {
        "source": "search",
        "params": chosen[name],
        **found,
        **({"parts": parts} if parts else {}),
        "interactions": int(matrix.nnz),
        "cpu_seconds": round(time.process_time() - started, 1),
    }


def _fit_inputs(name: str, item_ids) -> dict[str, Any]:
    """What an algorithm needs beside the matrix: the content model, each product's text and category."""
    if name != "content":
        return {}
    from shop.models import Product

    rows = {
        pid: (" ".join(part for part in (title, description, category) if part), category_id)
        for pid, title, description, category, category_id in Product.objects.values_list(
            "id", "name", "description", "category__name", "category_id"
        ).iterator(chunk_size=10_000)
    }
    described = [rows.get(int(pid), ("", None)) for pid in item_ids]
    return {"item_text": [text for text, _ in described], "item_category": [cat for _, cat in described]}


def interaction_matrix(frame: pd.DataFrame, **kwargs):
    """The weighted customers x products matrix, built the same way for training and for fold-in."""
    return build_interaction_matrix(frame, **kwargs)


def exclude_kinds() -> tuple[str, ...]:
    """Interaction kinds whose products are never recommended back to that customer (default: purchases)."""
    return tuple(setting("RECOMMENDER_EXCLUDE_KINDS", ("purchase",)))


def offline_metrics(
    name: str, params: dict[str, Any], matrix: sp.csr_matrix, *, seed: int, fit_kwargs: dict[str, Any] | None = None
) -> dict[str, float]:
    """nDCG@10, precision@10, recall@10, MAP and coverage on a per-customer 75/25 holdout of the matrix cells.

    At most RECOMMENDER_EVAL_USERS customers are scored (a seeded sample), so evaluation stays
    bounded in time and memory on large data.
    """
    return holdout_metrics(
        name, params, matrix, seed=seed, max_users=setting("RECOMMENDER_EVAL_USERS", 5000), fit_kwargs=fit_kwargs
    )


def _excluded_cells(frame: pd.DataFrame, user_ids, item_ids) -> sp.csr_matrix:
    return toplists.excluded_cells(frame, user_ids, item_ids, kinds=exclude_kinds())


def _segment_popular(positives: sp.csr_matrix, user_ids, limit: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Per segment of the active segmentations: its members' most popular items (-1 padded)."""
    from segments.selectors import active_segment_ids_by_customer

    by_customer = active_segment_ids_by_customer(customer_ids=[int(u) for u in user_ids])
    return toplists.segment_popular(positives, user_ids, by_customer, limit=limit)


def _bought_together(frame: pd.DataFrame, item_ids):
    """Fit the bought-together model on order baskets when the ml package has one and there are orders."""
    if "bought_together" not in ALGORITHMS:
        return None
    baskets = toplists.order_baskets(frame, item_ids)
    return None if baskets is None else make_recommender("bought_together").fit(baskets)


# --- the registry -----------------------------------------------------------------------------------


def apply_champion_gate(*, run: TrainingRun) -> TrainingRun:
    """Promote `run` unless its nDCG@10 is worse than the active model's by more than the tolerance."""
    tolerance = float(setting("RECOMMENDER_PROMOTION_TOLERANCE", 0.01))
    with transaction.atomic():
        active = TrainingRun.objects.select_for_update().filter(is_active=True).exclude(pk=run.pk).first()
        new = run.metrics.get("ndcg@10")
        # Worded as the gate's verdict at training time: whether the run serves now is its serving state.
        if active is None:
            decision = "passed the champion gate: no active model"
        elif active.ndcg is None or (new is not None and new >= active.ndcg - tolerance):
            decision = (
                f"passed the champion gate: nDCG@10 {new} vs active #{active.pk} {active.ndcg} (tolerance {tolerance})"
            )
        else:
            run.decision = (
                f"kept as candidate: nDCG@10 {new} is more than {tolerance} below active #{active.pk} {active.ndcg}"
            )
            run.save(update_fields=["decision", "updated_at"])
            return run
        run.decision = decision
        run.save(update_fields=["decision", "updated_at"])
        return _switch_to(run, kind=ModelSwitch.Kind.AUTOMATIC, acting_user=None, reason=decision)


@transaction.atomic
def promote_model(*, run: TrainingRun, acting_user=None, reason: str = "") -> TrainingRun:
    """Make `run` the one active model (an atomic switch; serving processes pick it up within seconds).

    Recorded in the model history with the acting user and the reason; promoting the active model changes
    nothing.
    """
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.is_active:  # nothing switches, so nothing to record
        return run
    return _switch_to(run, kind=ModelSwitch.Kind.PROMOTE, acting_user=acting_user, reason=reason)


@transaction.atomic
def rollback_model(*, run: TrainingRun | None = None, acting_user=None, reason: str = "") -> TrainingRun:
    """Make a model that served before active again, and mark the current one rolled back from.

    `run` is the model to return to. When it is the active model itself (or None), the model promoted
    before the current one is chosen, skipping those already rolled back from, so successive rollbacks
    walk back through the promotion history (promoted 1, 4, 3: rollbacks give 4, then 1). The model
    returned to keeps its promotion time. Recorded in the model history with the acting user and reason.
    """
    current = TrainingRun.objects.select_for_update().filter(is_active=True).first()
    if run is not None and (current is None or run.pk != current.pk):
        target = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if target.promoted_at is None:
            raise ValidationError(
                gettext("Run #%(run)s has never served, so there is nothing to roll back to; promote it instead.")
                % {"run": target.pk}
            )
    else:
        previous = (
            TrainingRun.objects.succeeded()
            .filter(promoted_at__isnull=False, rolled_back_at__isnull=True, is_active=False)
            .exclude(artifact_path="")
            .order_by("-promoted_at", "-pk")
        )
        if current is not None and current.promoted_at is not None:
            previous = previous.filter(promoted_at__lt=current.promoted_at)
        target = previous.select_for_update().first()
        if target is None:
            raise ValidationError(gettext("There is no previously active model to roll back to."))
    return _switch_to(target, kind=ModelSwitch.Kind.ROLLBACK, acting_user=acting_user, reason=reason)


def _switch_to(run: TrainingRun, *, kind: str, acting_user, reason: str) -> TrainingRun:
    """Deactivate the active model, activate `run` and write the audit row, in the caller's transaction."""
    if run.status != TrainingRun.Status.SUCCEEDED or not run.artifact_path:
        raise ValidationError(gettext("Only a succeeded run with an artifact can be promoted."))
    if not artifact_exists(run.artifact_path):
        raise ValidationError(
            gettext("The artifact of run #%(run)s is missing (%(path)s).") % {"run": run.pk, "path": run.artifact_path}
        )
    now = timezone.now()
    current = TrainingRun.objects.select_for_update().filter(is_active=True).exclude(pk=run.pk).first()
    if current is not None:
        changes = {"is_active": False, "updated_at": now}
        if kind == ModelSwitch.Kind.ROLLBACK:
            changes["rolled_back_at"] = now  # a later rollback never returns to it; promoting it again clears it
        TrainingRun.objects.filter(pk=current.pk).update(**changes)
    run.is_active = True
    run.rolled_back_at = None
    fields = ["is_active", "rolled_back_at", "updated_at"]
    if kind != ModelSwitch.Kind.ROLLBACK:
        run.promoted_at = now  # a rollback keeps the promotion time, so the history keeps its order
        fields.append("promoted_at")
    run.save(update_fields=fields)
    user_name = acting_user.get_username() if acting_user is not None else ""
    ModelSwitch.objects.create(
        kind=kind,
        from_run=current,
        to_run=run,
        acting_user=acting_user,
        acting_user_name=user_name[:150],
        reason=reason.strip()[:2000],
        switched_at=now,
    )
    logger.info(
        "model switch (%s) by %s: #%s -> #%s: %s",
        kind,
        user_name or "the champion gate",
        current.pk if current else None,
        run.pk,
        reason,
    )
    transaction.on_commit(lambda: cache.set(ACTIVE_RUN_CACHE_KEY, run.pk, None))
    return run


def load_run_artifact(*, run: TrainingRun) -> Artifact:
    return read_artifact(run.artifact_path, sha256=run.artifact_sha256 or None)
