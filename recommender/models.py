"""The model registry (training runs and the one active model) and the log of served recommendations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from shop.models import Customer, TimeStampedModel


class TrainingRunQuerySet(models.QuerySet):
    def succeeded(self):
        return self.filter(status=TrainingRun.Status.SUCCEEDED)

    def active(self):
        return self.filter(is_active=True)


class TrainingRun(TimeStampedModel):
    """One training of a recommendation model: its data, offline metrics, artifact and whether it serves."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    # Blank while queued without a choice: the service picks one by catalog and data size.
    algorithm = models.CharField(verbose_name=_("algorithm"), max_length=50, blank=True)
    parameters = models.JSONField(verbose_name=_("parameters"), default=dict, blank=True)
    # Where the parameters came from: {"source": "search", "params", "validation_ndcg", ...} when a search on
    # validation splits of this run's data picked them; {"source": "run", "run": id} when reused from that
    # run's search; {"source": "given"} when the caller named them; empty: the algorithm's defaults.
    search = models.JSONField(verbose_name=_("parameter search"), default=dict, blank=True)
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    n_users = models.PositiveIntegerField(verbose_name=_("customers"), default=0)
    n_items = models.PositiveIntegerField(verbose_name=_("products"), default=0)
    n_interactions = models.PositiveIntegerField(verbose_name=_("interactions"), default=0)
    # The newest interaction the model learnt from; later ones are folded in at serving time.
    max_interaction_id = models.BigIntegerField(verbose_name=_("newest interaction learnt from"), default=0)
    data_until = models.DateTimeField(verbose_name=_("data until"), null=True, blank=True)
    # Offline metrics on a per-customer holdout: ndcg@10, precision@10, recall@10, map, coverage.
    metrics = models.JSONField(verbose_name=_("metrics"), default=dict, blank=True)
    duration_seconds = models.FloatField(verbose_name=_("duration"), null=True, blank=True)
    # A name in the default file storage (STORAGES["default"]: local MEDIA_ROOT or an S3-compatible bucket):
    # models/<run id>-<algorithm>-<uuid>.npz, unique across databases sharing the storage.
    artifact_path = models.CharField(verbose_name=_("artifact path"), max_length=500, blank=True)
    artifact_sha256 = models.CharField(verbose_name=_("artifact SHA-256"), max_length=64, blank=True)
    # When every customer's precomputed list was written to PrecomputedList (null: not there, or pruned;
    # serving then scores the customer's history with the model instead).
    lists_published_at = models.DateTimeField(verbose_name=_("lists published at"), null=True, blank=True)
    is_active = models.BooleanField(verbose_name=_("active"), default=False)
    # When it was last promoted (a rollback re-activates a run without moving it here, so the history keeps
    # its order) and when it was rolled back from (a rollback never returns to it; promoting it again clears it).
    promoted_at = models.DateTimeField(verbose_name=_("promoted at"), null=True, blank=True)
    rolled_back_at = models.DateTimeField(verbose_name=_("rolled back at"), null=True, blank=True)
    # Why the champion/challenger gate promoted it or kept it as a candidate.
    decision = models.CharField(verbose_name=_("decision"), max_length=300, blank=True)
    error = models.TextField(verbose_name=_("error"), blank=True)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)
    # Refreshed by the training worker while it runs: a running run whose heartbeat is older than the lease
    # (TASK_LEASE_SECONDS) lost its worker, and the reaper marks it failed.
    heartbeat_at = models.DateTimeField(verbose_name=_("heartbeat at"), null=True, blank=True)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        verbose_name = _("training run")
        verbose_name_plural = _("training runs")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="trainingrun_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="trainingrun_one_active_model"
            ),
            models.CheckConstraint(
                condition=Q(is_active=False) | Q(status="succeeded"), name="trainingrun_active_means_succeeded"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.algorithm or 'auto'} ({self.status}{', active' if self.is_active else ''})"

    @property
    def ndcg(self) -> float | None:
        return self.metrics.get("ndcg@10")

    @property
    def serving_state(self) -> str:
        """Whether it serves now, served before, was rolled back from, or never served (no query)."""
        if self.is_active:
            return gettext("serving")
        if self.rolled_back_at is not None:
            when = f"{timezone.localtime(self.rolled_back_at):%Y-%m-%d %H:%M}"
            return gettext("rolled back on %(when)s (no longer served)") % {"when": when}
        if self.promoted_at is not None:
            return gettext("served before, since replaced")
        if self.status == self.Status.SUCCEEDED:
            return gettext("candidate, never served")
        return "—"


class ModelSwitch(models.Model):
    """One change of the served model: who made it, when, from which run to which, and why (the audit trail)."""

    class Kind(models.TextChoices):
        AUTOMATIC = "automatic", _("Automatic promotion (champion gate)")
        PROMOTE = "promote", _("Manual promotion")
        ROLLBACK = "rollback", _("Rollback")

    kind = models.CharField(verbose_name=_("kind"), max_length=10, choices=Kind.choices)
    # The model that served before (null: none did) and the one that serves after.
    from_run = models.ForeignKey(
        TrainingRun,
        verbose_name=_("from run"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="switches_from",
    )
    to_run = models.ForeignKey(
        TrainingRun, verbose_name=_("to run"), null=True, on_delete=models.SET_NULL, related_name="switches_to"
    )
    # Null for the champion gate (no person). The name is kept too: the audit survives the user's deletion.
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acting user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acting_user_name = models.CharField(verbose_name=_("acting user's name"), max_length=150, blank=True)
    reason = models.TextField(verbose_name=_("reason"), blank=True)
    switched_at = models.DateTimeField(verbose_name=_("switched at"), db_index=True)

    class Meta:
        ordering = ["-switched_at", "-id"]
        verbose_name = _("model switch")
        verbose_name_plural = _("model switches (history)")

    def __str__(self) -> str:
        before = f"#{self.from_run_id}" if self.from_run_id else "no model"
        return f"{self.get_kind_display()}: {before} → #{self.to_run_id}"

    @property
    def actor(self) -> str:
        return self.acting_user_name or "champion gate (automatic)"


class PrecomputedList(models.Model):
    """One customer's precomputed top-N list of one training run, read per request by the serving processes.

    Kept in the database rather than in each web process's memory, so a process's memory does not grow with
    the number of customers. `payload` packs the list as records of (item index, score, explaining item,
    kind) — see recommender.serving.lists — in the run's item indexes.
    """

    run = models.ForeignKey(TrainingRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="+")
    # No database constraint (bulk writes of millions of rows); a customer's erasure deletes their lists.
    # Indexed by the unique constraint below, which starts with it.
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    payload = models.BinaryField(verbose_name=_("payload"))

    class Meta:
        verbose_name = _("precomputed list")
        verbose_name_plural = _("precomputed lists")
        # Customer first: serves the per-request lookup (customer, run) and an erasure's (customer) alike.
        constraints = [models.UniqueConstraint(fields=["customer", "run"], name="precomputed_customer_run_uniq")]

    def __str__(self) -> str:
        return f"run #{self.run_id}, customer #{self.customer_id}"


class ServedRecommendation(models.Model):
    """What was recommended to whom and when, keyed by the id the shop sends back with its events.

    Written in bulk by the serving processes (see recommender.serving.ServedLog), not per request.
    """

    class Surface(models.TextChoices):
        RECOMMENDATIONS = "recommendations", _("Recommendations")
        SIMILAR = "similar", _("Similar products")
        BOUGHT_TOGETHER = "bought_together", _("Bought together")
        POPULAR = "popular", _("Popular")

    recommendation_id = models.CharField(verbose_name=_("recommendation ID"), max_length=64, unique=True)
    # No database constraint: a batch written after a model or customer was deleted must not fail.
    run = models.ForeignKey(
        TrainingRun,
        verbose_name=_("run"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
    )
    surface = models.CharField(
        verbose_name=_("surface"), max_length=20, choices=Surface.choices, default=Surface.RECOMMENDATIONS
    )
    skus = models.JSONField(verbose_name=_("SKUs"), default=list)
    reasons = models.JSONField(verbose_name=_("reasons"), default=list)
    served_at = models.DateTimeField(verbose_name=_("served at"))

    class Meta:
        verbose_name = _("served recommendation")
        verbose_name_plural = _("served recommendations")
        ordering = ["-served_at"]
        # Only the time is indexed: a (customer, time) index made every logged request a random B-tree insert
        # (three times the cost of the row). Attribution looks rows up by recommendation_id, and the id
        # itself names the customer; an erasure's cascade scans this table, which is rare.
        indexes = [models.Index(fields=["served_at"], name="served_time_idx")]

    def __str__(self) -> str:
        return self.recommendation_id
