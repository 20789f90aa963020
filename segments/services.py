"""Writes: define segmentations, run them (features -> model -> segments, profiles, names -> atomic switch), rename.

A run reads the shop in a few aggregate queries, computes in pandas / scikit-learn (`segments.ml`), and writes
its segments and memberships in one transaction that also makes it the definition's active run. Anything that
goes wrong before that leaves the run failed, with its error, and the previous active run in place.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext

from config.jobs import Heartbeat, QueueUnavailable, apply_options, fail_stale, publish
from segments import selectors
from segments.ml.features import (
    CATEGORY_PREFIX,
    category_shares,
    customer_features,
    feature_matrix,
    resolve_features,
)
from segments.ml.matching import adjusted_rand, match_segments, movement
from segments.ml.profiles import describe, name_segments, segment_profiles
from segments.ml.rfm import GROUPS_BY_KEY, RFM_GROUPS, rfm_rules_table, rfm_scores
from segments.ml.rules import evaluate_rule, rule_fields
from segments.models import (
    IN_PROGRESS,
    Membership,
    NoPurchasePolicy,
    RunStatus,
    Segment,
    SegmentationDefinition,
    SegmentationMethod,
    SegmentationRun,
)
from segments.parameters import clean_parameters
from segments.rules import customers_matching, evaluable_in_database, parse_rules_parameters

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, str], None]
MEMBERSHIP_BATCH = 5000
NO_PURCHASES_KEY = "no_purchases"
NO_PURCHASES_NAME = "No purchases yet"
OUTLIERS_KEY = "outliers"
OUTLIERS_NAME = "Outliers"
NON_BUYER_FEATURES = ("views", "carts", "browsing_minutes", "tenure_days", "mean_rating", "age")
STANDARD_METRICS = ("silhouette", "davies_bouldin", "calinski_harabasz", "inertia", "noise_share", "ari_previous")


def run_time_limit() -> int:
    """Seconds a run may take before its task is stopped (and a run stuck longer counts as dead)."""
    return int(getattr(settings, "SEGMENTS_RUN_TIME_LIMIT", 1800))


# --- Definitions ------------------------------------------------------------------------------


def segmentation_definition_create(
    *,
    name: str,
    method: str,
    parameters: dict | None = None,
    features: list[str] | None = None,
    no_purchase_policy: str = NoPurchasePolicy.OWN_GROUP,
    description: str = "",
) -> SegmentationDefinition:
    definition = SegmentationDefinition(
        name=name,
        method=method,
        parameters=parameters or {},
        features=features or [],
        no_purchase_policy=no_purchase_policy,
        description=description,
    )
    definition.full_clean()
    definition.save()
    return definition


def segmentation_definition_update(*, definition: SegmentationDefinition, **changes) -> SegmentationDefinition:
    for name, value in changes.items():
        setattr(definition, name, value)
    definition.full_clean()
    definition.save()
    return definition


# --- Runs ---------------------------------------------------------------------------------------


def _fail_stale_runs(definition: SegmentationDefinition) -> None:
    """A run in progress for longer than the time limit lost its worker: mark it failed so others may start."""
    cutoff = timezone.now() - timedelta(seconds=run_time_limit() + 60)
    SegmentationRun.objects.filter(definition=definition, status__in=IN_PROGRESS, created_at__lt=cutoff).update(
        status=RunStatus.FAILED, error="Stopped: no progress within the time limit.", finished_at=timezone.now()
    )


def segmentation_runs_fail_stale() -> list[int]:
    """Fail running runs whose worker stopped beating for longer than the lease (TASK_LEASE_SECONDS), so their
    definitions are free again; their definitions keep the active run they had."""
    return fail_stale(
        SegmentationRun.objects.all(),
        running_status=RunStatus.RUNNING,
        failed_status=RunStatus.FAILED,
        what="segmentation run",
    )


def segmentation_run_claim(*, run: SegmentationRun) -> bool:
    """Take a queued run for this worker (one UPDATE: of two deliveries of its task, one runs it)."""
    now = timezone.now()
    claimed = SegmentationRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, updated_at=now
    )
    run.refresh_from_db()
    return bool(claimed)


def segmentation_run_create(*, definition: SegmentationDefinition) -> SegmentationRun:
    """A queued run of `definition`; ValidationError if one is already queued or running."""
    segmentation_runs_fail_stale()
    _fail_stale_runs(definition)
    parameters = clean_parameters(definition.method, definition.parameters)
    run = SegmentationRun(definition=definition, method=definition.method, parameters=parameters)
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        raise ValidationError(
            gettext("“%(definition)s” already has a run queued or running; wait for it to finish.")
            % {"definition": definition}
        ) from None
    return run


def segmentation_run_enqueue(*, definition: SegmentationDefinition) -> SegmentationRun:
    """Queue a run for the Celery worker (runs in-process at once when no broker is configured)."""
    from segments.tasks import run_segmentation

    run = segmentation_run_create(definition=definition)
    limit = run_time_limit()

    def send() -> None:
        # A dead broker: the run is failed with the reason (not left queued, blocking the definition).
        try:
            publish(
                lambda: run_segmentation.apply_async(
                    (definition.pk,),
                    {"run_id": run.pk},
                    soft_time_limit=limit,
                    time_limit=limit + 60,
                    **apply_options(),
                ),
                what=f"segmentation run #{run.pk} of “{definition}”",
            )
        except QueueUnavailable as exc:
            now = timezone.now()
            SegmentationRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.FAILED, error=str(exc), finished_at=now, updated_at=now
            )
            raise

    transaction.on_commit(send)
    return run


def segmentation_run_execute_leased(
    *, run: SegmentationRun, progress: ProgressCallback | None = None
) -> SegmentationRun:
    """segmentation_run_execute with a heartbeat, so the reaper can tell a live run from one whose worker died."""
    with Heartbeat(SegmentationRun.objects.all(), run.pk, running_status=RunStatus.RUNNING):
        return segmentation_run_execute(run=run, progress=progress)


def segmentation_run(
    *, definition: SegmentationDefinition, progress: ProgressCallback | None = None
) -> SegmentationRun:
    """Create and execute a run now, in this process (the management command's path)."""
    run = segmentation_run_create(definition=definition)
    segmentation_run_claim(run=run)
    return segmentation_run_execute_leased(run=run, progress=progress)


@dataclass
class _Assignment:
    """What a method decided: each customer's segment key, metrics, and names it fixes itself."""

    labels: pd.Series
    metrics: dict = field(default_factory=dict)
    fixed_names: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    extra_profile: dict[str, dict] = field(default_factory=dict)


class _Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - start, 3)


def _report(run: SegmentationRun, percent: int, stage: str, callback: ProgressCallback | None) -> None:
    run.progress, run.stage = percent, stage
    SegmentationRun.objects.filter(pk=run.pk).update(progress=percent, stage=stage)
    if callback:
        callback(percent, stage)


# Data whose last event is older than this is a historical import (a file from years ago): recency is measured
# from its last event, not from today, or every customer would look equally lapsed.
HISTORICAL_AFTER = timedelta(days=30)


def _as_of(parameters: dict) -> tuple[datetime, str]:
    """The moment recency and tenure are measured from, and where it came from: the as_of parameter; else now;
    else, for historical data (the latest event more than HISTORICAL_AFTER ago), the latest event."""
    value = parameters.get("as_of")
    if value:
        # A date means the end of that day (a bare date is also a valid ISO date-time: midnight at its start).
        day = parse_date(value) if len(value.strip()) == 10 else None
        parsed = datetime.combine(day, datetime.max.time()) if day else parse_datetime(value)
        return (timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed), "as_of parameter"
    now = timezone.now()
    latest = selectors.latest_event_time()
    if latest is not None and latest < now - HISTORICAL_AFTER:
        return latest, f"last event (historical data: no event in the last {HISTORICAL_AFTER.days} days)"
    return now, "now"


def segmentation_run_execute(*, run: SegmentationRun, progress: ProgressCallback | None = None) -> SegmentationRun:
    """Compute the run and, if it succeeds, make it the active run. Never raises for a failed computation:
    the run comes back failed with its error, and the definition keeps its previous active run."""
    timer = _Timer()
    started = time.perf_counter()
    run.status, run.started_at = RunStatus.RUNNING, run.started_at or timezone.now()
    SegmentationRun.objects.filter(pk=run.pk).update(
        status=run.status, started_at=run.started_at, heartbeat_at=timezone.now()
    )
    definition = run.definition
    try:
        _report(run, 2, "reading the shop's data", progress)
        with timer("read"):
            inputs = selectors.feature_inputs()
            as_of, as_of_source = _as_of(run.parameters)
        _report(run, 15, "computing features", progress)
        with timer("features"):
            features = customer_features(inputs, as_of=as_of, top_categories=run.parameters.get("top_categories", 8))
        _report(run, 25, f"running {run.get_method_display()}", progress)
        assignment = _assign(run=run, definition=definition, features=features, inputs=inputs, as_of=as_of, timer=timer)
        assignment.metrics.update(as_of=as_of.isoformat(), as_of_source=as_of_source)
        _report(run, 65, "profiling segments", progress)
        with timer("profiles"):
            profiles = segment_profiles(features, assignment.labels, category_spend=inputs.category_spend)
            names = _names(run=run, definition=definition, profiles=profiles, assignment=assignment)
            members = {key: ids.tolist() for key, ids in assignment.labels.groupby(assignment.labels).groups.items()}
            top_products = selectors.top_products_by_segment(members=members, seed=run.parameters.get("seed", 0))
            for key, profile in profiles.items():
                profile["top_products"] = top_products.get(key, [])
        with timer("projection"):
            _add_projection(run=run, definition=definition, features=features, assignment=assignment, profiles=profiles)
        _report(run, 75, "writing segments and memberships", progress)
        with timer("write"):
            run = _write(run=run, definition=definition, assignment=assignment, profiles=profiles, names=names)
        run.customers_seen = len(features)
    except Exception as exc:  # any failure fails this run, never the previous active one
        logger.exception("segmentation run %s failed", run.pk)
        run.status, run.finished_at = RunStatus.FAILED, timezone.now()
        run.error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"
        run.timings = {**timer.seconds, "total": round(time.perf_counter() - started, 3)}
        SegmentationRun.objects.filter(pk=run.pk).update(
            status=run.status, finished_at=run.finished_at, error=run.error, timings=run.timings
        )
        return run
    run.timings = {**timer.seconds, "total": round(time.perf_counter() - started, 3)}
    SegmentationRun.objects.filter(pk=run.pk).update(
        timings=run.timings, customers_seen=run.customers_seen, progress=100, stage="done"
    )
    run.progress, run.stage = 100, "done"
    if progress:
        progress(100, "done")
    return run


def _add_projection(*, run, definition, features, assignment: _Assignment, profiles: dict) -> None:
    """A sample of each segment's customers on the first two principal components of the standardised features
    (the clustering's own for K-means and DBSCAN): the segment explorer's scatter, in the segments' profiles."""
    from segments.ml.projection import project_segments

    clustered = run.method in (SegmentationMethod.KMEANS, SegmentationMethod.DBSCAN)
    columns = resolve_features(features, (definition.features or None) if clustered else None)
    projection = project_segments(features, assignment.labels, columns=columns, seed=run.parameters.get("seed", 0))
    points: dict[str, list[list[float]]] = {key: [] for key in profiles}
    for key, (x, y) in zip(projection.labels, projection.xy, strict=True):
        if key in points:
            points[key].append([round(float(x), 3), round(float(y), 3)])
    for key, profile in profiles.items():
        profile["projection"] = points[key]
    assignment.metrics["projection_explained"] = [round(v, 4) for v in projection.explained]


# --- Methods ----------------------------------------------------------------------------------


def _assign(*, run, definition, features, inputs, as_of, timer) -> _Assignment:
    method = run.method
    if method in (SegmentationMethod.KMEANS, SegmentationMethod.DBSCAN):
        return _assign_clusters(run=run, definition=definition, features=features, timer=timer)
    with timer("model"):
        if method == SegmentationMethod.RFM:
            return _assign_rfm(definition=definition, features=features, inputs=inputs, as_of=as_of)
        if method == SegmentationMethod.RULES:
            return _assign_rules(run=run, features=features, inputs=inputs, as_of=as_of)
        if method == SegmentationMethod.STATIC:
            return _assign_static(run=run)
    raise ValidationError(f"Unknown method {method!r}.")


def _no_purchase_group(definition, features: pd.DataFrame) -> pd.Series:
    if definition.no_purchase_policy != NoPurchasePolicy.OWN_GROUP:
        return pd.Series(dtype=object)
    non_buyers = features.index[~features["has_purchase"]]
    return pd.Series(NO_PURCHASES_KEY, index=non_buyers, dtype=object)


def _assign_clusters(*, run, definition, features, timer) -> _Assignment:
    # scikit-learn is loaded here, not at import: every process (web, RFM and rules runs) starts faster.
    from segments.ml.clustering import NOISE, fit_dbscan, fit_kmeans

    params = run.parameters
    buyers = features[features["has_purchase"]]
    columns = resolve_features(buyers, definition.features or None)
    with timer("matrix"):
        matrix = feature_matrix(buyers, columns)
    with timer("model"):
        if run.method == SegmentationMethod.KMEANS:
            result = fit_kmeans(
                matrix,
                k=params.get("k"),
                k_max=params.get("k_max", 10),
                random_state=params.get("seed", 42),
                sample_size=params.get("sample_size", 5000),
                previous_labels=_previous_clusters(definition=definition, customer_ids=buyers.index),
            )
        else:
            result = fit_dbscan(
                matrix,
                eps=params.get("eps"),
                min_samples=params.get("min_samples", 10),
                sample_size=params.get("sample_size", 20000),
                random_state=params.get("seed", 42),
            )
    keys = [OUTLIERS_KEY if label == NOISE else f"cluster_{label}" for label in result.labels]
    labels = pd.concat([pd.Series(keys, index=buyers.index, dtype=object), _no_purchase_group(definition, features)])
    metrics = {**result.metrics, "features": columns, "customers_clustered": len(buyers)}
    return _Assignment(labels=labels, metrics=metrics)


def _previous_clusters(*, definition, customer_ids: pd.Index):
    """Each customer's K-means cluster (0, 1, ...) in the definition's active run, -1 where none; None if that run
    was not K-means. Lets the next run keep its k and its clusters unless others are clearly better."""
    previous = definition.active_run
    if previous is None or previous.method != SegmentationMethod.KMEANS:
        return None
    labels = pd.Series(selectors.run_labels(run_id=previous.pk), dtype=object)
    clusters = labels[labels.astype(str).str.startswith("cluster_")].str.slice(len("cluster_")).astype(int)
    return clusters.reindex(customer_ids).fillna(-1).astype(int).to_numpy()


def _assign_rfm(*, definition, features, inputs, as_of) -> _Assignment:
    returns = inputs.activity.set_index("customer_id")["returned_amount"] if not inputs.activity.empty else None
    scores = rfm_scores(inputs.orders, today=as_of, returns=returns)
    labels = pd.concat([scores["group"].astype(object), _no_purchase_group(definition, features)])
    fixed = {g.key: (g.name, g.description) for g in RFM_GROUPS}
    fixed[NO_PURCHASES_KEY] = (NO_PURCHASES_NAME, None)
    means = scores.groupby("group")[["r", "f", "m"]].mean().round(2)
    extra = {
        key: {
            "rfm_rule": next(row for row in rfm_rules_table() if row["group"] == GROUPS_BY_KEY[key].name),
            "mean_scores": means.loc[key].to_dict(),
        }
        for key in means.index
    }
    metrics = {"customers_scored": len(scores), "as_of": as_of.isoformat()}
    return _Assignment(labels=labels, metrics=metrics, fixed_names=fixed, extra_profile=extra)


def _rule_frame(*, named_rules, features: pd.DataFrame, inputs, top_categories: int) -> pd.DataFrame:
    """The features plus what the rules name beyond them: shares of categories outside the top ones (0 for a
    category nobody bought from, or that does not exist) and customer fields and attributes."""
    needed = sorted({f for _, rule in named_rules for f in rule_fields(rule)} - set(features.columns))
    shares = [f for f in needed if f.startswith(CATEGORY_PREFIX)]
    fields = [f for f in needed if not f.startswith(CATEGORY_PREFIX)]
    frame = features
    if shares:
        extra = category_shares(
            inputs.category_spend, top=top_categories, include=[f[len(CATEGORY_PREFIX) :] for f in shares]
        )
        frame = frame.join(extra[shares].reindex(frame.index).fillna(0.0))
    if fields:
        frame = frame.join(selectors.customer_frame(fields=fields))
    return frame


def _assign_rules(*, run, features, inputs, as_of) -> _Assignment:
    """First matching rule wins, in the order given; customers matching none are in no segment."""
    named_rules = parse_rules_parameters(run.parameters)
    taken: set[int] = set()
    labels: dict[int, str] = {}
    fixed, extra, evaluated_in = {}, {}, {}
    frame: pd.DataFrame | None = None
    for position, (name, rule) in enumerate(named_rules):
        key = f"rule_{position + 1}"
        if evaluable_in_database(rule):
            matched = set(customers_matching(rule, as_of=as_of).iterator(chunk_size=20000))
            evaluated_in[key] = "database"
        else:
            if frame is None:
                frame = _rule_frame(
                    named_rules=named_rules,
                    features=features,
                    inputs=inputs,
                    top_categories=run.parameters.get("top_categories", 8),
                )
            mask = evaluate_rule(rule, frame, today=as_of)
            matched = set(frame.index[mask.to_numpy()])
            evaluated_in[key] = "pandas"
        for customer_id in matched - taken:
            labels[customer_id] = key
        taken |= matched
        fixed[key] = (name, None)
        extra[key] = {"rule": run.parameters["segments"][position]["rule"], "evaluated_in": evaluated_in[key]}
    series = pd.Series(labels, dtype=object)
    return _Assignment(labels=series, metrics={"matched": len(series)}, fixed_names=fixed, extra_profile=extra)


def _assign_static(*, run) -> _Assignment:
    wanted = run.parameters["external_ids"]
    found = selectors.customer_ids_by_external_id(wanted)
    labels = pd.Series("list", index=sorted(found.values()), dtype=object)
    unknown = len(set(wanted)) - len(found)
    name = run.definition.name
    fixed = {"list": (name, f"uploaded list: {len(found)} customers ({unknown} ids not found)")}
    return _Assignment(labels=labels, metrics={"matched": len(found), "unknown_ids": unknown}, fixed_names=fixed)


def _names(*, run, definition, profiles: dict, assignment: _Assignment) -> dict[str, tuple[str, str]]:
    generated_for = [
        k for k in profiles if k not in assignment.fixed_names and k not in (NO_PURCHASES_KEY, OUTLIERS_KEY)
    ]
    names = name_segments({k: profiles[k] for k in generated_for})
    for key in profiles:
        if key in names:
            continue
        if key == NO_PURCHASES_KEY:
            # What they do instead of buying: purchase features say nothing here.
            browsing = {c: f for c, f in profiles[key]["features"].items() if c in NON_BUYER_FEATURES}
            names[key] = (NO_PURCHASES_NAME, "never bought; " + describe({**profiles[key], "features": browsing}))
        elif key == OUTLIERS_KEY:
            names[key] = (OUTLIERS_NAME, "unlike any dense group: " + describe(profiles[key]))
        else:
            name, meaning = assignment.fixed_names[key]
            generated = describe(profiles[key])
            names[key] = (name, f"{meaning}; {generated}" if meaning else generated)
    return names


# --- Writing ---------------------------------------------------------------------------------


@transaction.atomic
def _write(*, run, definition, assignment: _Assignment, profiles: dict, names: dict) -> SegmentationRun:
    definition = SegmentationDefinition.objects.select_for_update().get(pk=definition.pk)
    if not SegmentationRun.objects.select_for_update().filter(pk=run.pk, status=RunStatus.RUNNING).exists():
        # The reaper failed it (its heartbeat lapsed): never switch a run it gave up on.
        raise RuntimeError(f"run #{run.pk} was marked failed while it ran (worker lost); not made active")
    previous = definition.active_run
    labels = assignment.labels
    segments = Segment.objects.bulk_create(
        [
            Segment(
                run=run,
                key=key,
                name=names[key][0][:200],
                description=names[key][1][:500],
                size=profile["size"],
                share=profile["share"],
                profile={**profile, **assignment.extra_profile.get(key, {})},
            )
            for key, profile in sorted(profiles.items(), key=lambda item: -item[1]["size"])
        ]
    )
    by_key = {segment.key: segment for segment in segments}
    if not all(segment.pk for segment in segments):  # backends that do not return ids from bulk_create
        by_key = {segment.key: segment for segment in Segment.objects.filter(run=run)}
    segment_ids = labels.map({key: segment.pk for key, segment in by_key.items()})
    rows = (Membership(customer_id=int(c), segment_id=int(s)) for c, s in segment_ids.items())
    Membership.objects.bulk_create(rows, batch_size=MEMBERSHIP_BATCH)

    metrics = dict.fromkeys(STANDARD_METRICS) | assignment.metrics
    if previous is not None:
        previous_labels = pd.Series(selectors.run_labels(run_id=previous.pk), dtype=object)
        metrics["ari_previous"] = adjusted_rand(previous_labels, labels)
        _carry_renames(previous=previous, previous_labels=previous_labels, labels=labels, by_key=by_key)
        run.movement = _movement(previous=previous, previous_labels=previous_labels, labels=labels, by_key=by_key)
    reachable = selectors.reachable_members(segment_ids=[segment.pk for segment in by_key.values()])
    for segment in by_key.values():
        segment.reachable = reachable.get(segment.pk, 0)
    Segment.objects.bulk_update(
        list(by_key.values()), ["name", "name_is_custom", "profile", "reachable"], batch_size=500
    )

    run.metrics = metrics
    run.previous_run = previous
    run.status, run.finished_at, run.error = RunStatus.SUCCEEDED, timezone.now(), ""
    run.save(update_fields=["metrics", "previous_run", "movement", "status", "finished_at", "error", "updated_at"])
    definition.active_run = run
    definition.save(update_fields=["active_run", "updated_at"])
    return run


def _carry_renames(*, previous, previous_labels: pd.Series, labels: pd.Series, by_key: dict) -> None:
    renamed = {s.key: s.name for s in previous.segments.filter(name_is_custom=True)}
    if not renamed:
        return
    for new_key, old_key in match_segments(previous_labels, labels).items():
        if old_key in renamed and new_key in by_key:
            by_key[new_key].name = renamed[old_key]
            by_key[new_key].name_is_custom = True


def _movement(*, previous, previous_labels: pd.Series, labels: pd.Series, by_key: dict) -> list[dict]:
    old = {s.key: s for s in previous.segments.only("pk", "key", "name")}
    rows = []
    for old_key, new_key, customers in movement(previous_labels, labels):
        before, after = old.get(old_key), by_key.get(new_key)
        rows.append(
            {
                "from": before.pk if before else None,
                "from_name": before.name if before else None,
                "to": after.pk if after else None,
                "to_name": after.name if after else None,
                "customers": customers,
            }
        )
    return sorted(rows, key=lambda r: -r["customers"])


# --- Segments ---------------------------------------------------------------------------------


def segments_reachable_store(*, segments: list[Segment]) -> list[Segment]:
    """Count and store the members with email consent of segments from runs that finished before the count was
    kept (their `reachable` is empty); the others are left as their run stored them."""
    missing = [segment for segment in segments if segment.reachable is None]
    if missing:
        counts = selectors.reachable_members(segment_ids=[segment.pk for segment in missing])
        for segment in missing:
            segment.reachable = counts.get(segment.pk, 0)
        Segment.objects.bulk_update(missing, ["reachable"], batch_size=500)
    return segments


def segment_rename(*, segment: Segment, name: str) -> Segment:
    """A marketer's name for the segment; later runs give it to the segment with the most shared members."""
    segment.name = name.strip()
    segment.name_is_custom = True
    segment.full_clean()
    segment.save(update_fields=["name", "name_is_custom"])
    return segment
