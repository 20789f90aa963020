"""Segmentations: what to compute (definition), each computation (run), its segments and their members."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shop.models import Customer, TimeStampedModel


class SegmentationMethod(models.TextChoices):
    KMEANS = "kmeans", _("K-means")
    DBSCAN = "dbscan", _("DBSCAN")
    RFM = "rfm", _("RFM")
    RULES = "rules", _("Rules")
    STATIC = "static", _("Static list")


class NoPurchasePolicy(models.TextChoices):
    OWN_GROUP = "own_group", _("Own segment")
    EXCLUDE = "exclude", _("Left out")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


IN_PROGRESS = (RunStatus.QUEUED, RunStatus.RUNNING)


class SegmentationDefinitionQuerySet(models.QuerySet):
    def with_active_run(self):
        return self.filter(active_run__isnull=False).select_related("active_run")


class SegmentationDefinition(TimeStampedModel):
    """What to segment and how: the method, its parameters and the features it looks at."""

    name = models.CharField(verbose_name=_("name"), max_length=200, unique=True)
    description = models.TextField(verbose_name=_("description"), blank=True)
    method = models.CharField(verbose_name=_("method"), max_length=10, choices=SegmentationMethod.choices)
    # Method-specific: k / max_k / sample_size (kmeans), eps / min_samples (dbscan),
    # segments with their rules (rules), external_ids (static), as_of, seed (all).
    parameters = models.JSONField(verbose_name=_("parameters"), default=dict, blank=True)
    # Feature names the learned methods use; empty means the method's default set.
    features = models.JSONField(verbose_name=_("features"), default=list, blank=True)
    no_purchase_policy = models.CharField(
        verbose_name=_("customers without a purchase"),
        max_length=10,
        choices=NoPurchasePolicy.choices,
        default=NoPurchasePolicy.OWN_GROUP,
        help_text=_("Customers without a purchase: a segment of their own, or left out of the segmentation."),
    )
    active_run = models.OneToOneField(
        "SegmentationRun",
        verbose_name=_("active run"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    objects = SegmentationDefinitionQuerySet.as_manager()

    class Meta:
        verbose_name = _("segmentation definition")
        verbose_name_plural = _("segmentation definitions")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from segments.parameters import clean_features, clean_parameters

        if self.method:
            self.parameters = clean_parameters(self.method, self.parameters)
        clean_features(self.features)


class SegmentationRunQuerySet(models.QuerySet):
    def in_progress(self):
        return self.filter(status__in=IN_PROGRESS)


class SegmentationRun(TimeStampedModel):
    """One computation of a definition. Kept after it is replaced, so runs can be compared."""

    definition = models.ForeignKey(
        SegmentationDefinition, verbose_name=_("definition"), on_delete=models.CASCADE, related_name="runs"
    )
    # The method and parameters as they were when the run started.
    method = models.CharField(verbose_name=_("method"), max_length=10, choices=SegmentationMethod.choices)
    parameters = models.JSONField(verbose_name=_("parameters"), default=dict, blank=True)
    status = models.CharField(
        verbose_name=_("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(verbose_name=_("progress"), default=0, help_text=_("Percent done."))
    stage = models.CharField(verbose_name=_("stage"), max_length=100, blank=True)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)
    # Seconds per stage (read, features, model, write, ...).
    timings = models.JSONField(verbose_name=_("timings"), default=dict, blank=True)
    customers_seen = models.PositiveIntegerField(verbose_name=_("customers seen"), default=0)
    # silhouette, davies_bouldin, calinski_harabasz, inertia, noise_share, ari_previous, k, silhouette_by_k...
    metrics = models.JSONField(verbose_name=_("metrics"), default=dict, blank=True)
    previous_run = models.ForeignKey(
        "self", verbose_name=_("previous run"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # [{"from": segment id or null, "to": segment id or null, "customers": n}]
    movement = models.JSONField(verbose_name=_("movement"), default=list, blank=True)
    error = models.TextField(verbose_name=_("error"), blank=True)
    # Refreshed by the worker while the run executes: a running run whose heartbeat is older than the lease
    # (TASK_LEASE_SECONDS) lost its worker, and the reaper marks it failed so the definition is free again.
    heartbeat_at = models.DateTimeField(verbose_name=_("heartbeat at"), null=True, blank=True)

    objects = SegmentationRunQuerySet.as_manager()

    class Meta:
        verbose_name = _("segmentation run")
        verbose_name_plural = _("segmentation runs")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["definition", "status"], name="segrun_definition_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["definition"], condition=Q(status__in=IN_PROGRESS), name="segrun_one_in_progress"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="segrun_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.definition_id} run #{self.pk} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class SegmentQuerySet(models.QuerySet):
    def active(self):
        return self.filter(run__definition__active_run=models.F("run"))

    def with_definition(self):
        return self.select_related("run", "run__definition")


class Segment(models.Model):
    run = models.ForeignKey(SegmentationRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="segments")
    # Stable within a run: the cluster label, RFM group or rule name it came from.
    key = models.CharField(verbose_name=_("key"), max_length=100)
    name = models.CharField(verbose_name=_("name"), max_length=200)
    # True once a marketer renamed it: the name then carries over to the matching segment of later runs.
    name_is_custom = models.BooleanField(verbose_name=_("name given by a marketer"), default=False)
    description = models.CharField(verbose_name=_("description"), max_length=500, blank=True)
    size = models.PositiveIntegerField(verbose_name=_("size"), default=0)
    share = models.FloatField(verbose_name=_("share"), default=0.0)
    # Feature means and z-scores, revenue share, top categories and products, rules that define it.
    profile = models.JSONField(verbose_name=_("profile"), default=dict, blank=True)
    # Members with email consent (a campaign's default channel) when the run finished: the next-best campaign's
    # audience. Empty for runs from before it was kept, until a page first needs it.
    reachable = models.PositiveIntegerField(verbose_name=_("reachable by email"), null=True, blank=True)

    objects = SegmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["run", "-size", "key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="segment_key_unique_in_run")]

    def __str__(self) -> str:
        return self.name

    @property
    def definition(self) -> SegmentationDefinition:
        return self.run.definition


class Membership(models.Model):
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="segment_memberships"
    )
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="memberships"
    )

    class Meta:
        verbose_name = _("segment membership")
        verbose_name_plural = _("segment memberships")
        constraints = [models.UniqueConstraint(fields=["segment", "customer"], name="membership_unique")]
        indexes = [models.Index(fields=["customer", "segment"], name="membership_customer_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"
