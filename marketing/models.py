"""Campaigns: offers, who a campaign reaches (recipients, with their control group), what it sent and what followed.

A campaign targets segments, keeps a holdout (control) group chosen by hashing customer and campaign, and
stores one row per customer it considered: sent, held out as control, or left out with the reason. The
measurement (attribution, uplift) reads those rows; it never needs the messages themselves.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from segments.models import Segment
from shop.models import Customer, Interaction, Product, TimeStampedModel


class Offer(TimeStampedModel):
    """What a campaign gives: a discount, free shipping or a bundle price, with one shared code or one per recipient."""

    class Kind(models.TextChoices):
        PERCENT = "percent", _("Percentage off")
        FIXED = "fixed", _("Fixed amount off")
        FREE_SHIPPING = "free_shipping", _("Free shipping")
        BUNDLE = "bundle", _("Bundle price")

    class CodeMode(models.TextChoices):
        SHARED = "shared", _("One shared code")
        UNIQUE = "unique", _("A unique coupon per recipient")

    name = models.CharField(verbose_name=_("name"), max_length=200, unique=True)
    kind = models.CharField(verbose_name=_("kind"), max_length=20, choices=Kind.choices)
    # Percent (0-100) for PERCENT, an amount for FIXED, the bundle's price for BUNDLE; unused for FREE_SHIPPING.
    value = models.DecimalField(verbose_name=_("value"), max_digits=12, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(verbose_name=_("currency"), max_length=3, default="EUR")
    min_basket = models.DecimalField(
        verbose_name=_("minimum basket"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Smallest basket the offer applies to."),
    )
    bundle_products = models.ManyToManyField(
        Product, verbose_name=_("bundle products"), blank=True, related_name="bundle_offers"
    )
    valid_from = models.DateTimeField(verbose_name=_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(verbose_name=_("valid until"), null=True, blank=True)
    code_mode = models.CharField(
        verbose_name=_("code mode"), max_length=10, choices=CodeMode.choices, default=CodeMode.UNIQUE
    )
    # The code every recipient gets in SHARED mode; the prefix of generated codes in UNIQUE mode.
    code = models.CharField(verbose_name=_("code"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="offer_value_not_negative"),
            models.CheckConstraint(condition=~Q(kind="percent") | Q(value__lte=100), name="offer_percent_at_most_100"),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_until__isnull=True) | Q(valid_until__gt=F("valid_from")),
                name="offer_valid_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    """One redeemable code. A redemption is a purchase event carrying the code, counted once."""

    offer = models.ForeignKey(Offer, verbose_name=_("offer"), on_delete=models.CASCADE, related_name="coupons")
    code = models.CharField(verbose_name=_("code"), max_length=64, unique=True)
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), null=True, blank=True, on_delete=models.CASCADE, related_name="coupons"
    )
    issued_at = models.DateTimeField(verbose_name=_("issued at"))
    redeemed_at = models.DateTimeField(verbose_name=_("redeemed at"), null=True, blank=True)
    redeemed_by = models.ForeignKey(
        Interaction, verbose_name=_("redeemed by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        indexes = [models.Index(fields=["customer"], name="coupon_customer_idx")]

    def __str__(self) -> str:
        return self.code


class Campaign(TimeStampedModel):
    """A message (or on-site offer) to some segments, with variants, a control group and an attribution window."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS (webhook)")
        PUSH = "push", _("Push (webhook)")
        ONSITE = "onsite", _("On-site")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    class Objective(models.TextChoices):
        CONVERSION = "conversion", _("Drive purchases")
        CROSS_SELL = "cross_sell", _("Cross-sell")
        WIN_BACK = "win_back", _("Win back lapsed customers")
        WELCOME = "welcome", _("Welcome new customers")
        RETENTION = "retention", _("Retain loyal customers")
        AWARENESS = "awareness", _("Awareness")

    class Trigger(models.TextChoices):
        NONE = "", _("None (a one-off send)")
        SEGMENT_ENTRY = "segment_entry", _("Entered a segment")
        ABANDONED_CART = "abandoned_cart", _("Abandoned cart")
        BROWSE_ABANDONMENT = "browse_abandonment", _("Browse abandonment")
        WIN_BACK = "win_back", _("No purchase for a while")
        WELCOME = "welcome", _("First seen")

    class Origin(models.TextChoices):
        NATIVE = "native", _("Sent by this product")
        IMPORTED = "imported", _("Imported results of an experiment run elsewhere")

    name = models.CharField(verbose_name=_("name"), max_length=200, unique=True)
    objective = models.CharField(
        verbose_name=_("objective"), max_length=20, choices=Objective.choices, default=Objective.CONVERSION
    )
    channel = models.CharField(verbose_name=_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    origin = models.CharField(verbose_name=_("origin"), max_length=10, choices=Origin.choices, default=Origin.NATIVE)

    # Audience: members of the included segments, minus the excluded ones, narrowed by a rule (segments' rule
    # language, e.g. {"all": [{"field": "monetary", "op": ">", "value": 100}]}).
    included_segments = models.ManyToManyField(
        Segment, verbose_name=_("included segments"), blank=True, related_name="campaigns_including"
    )
    excluded_segments = models.ManyToManyField(
        Segment, verbose_name=_("excluded segments"), blank=True, related_name="campaigns_excluding"
    )
    audience_rule = models.JSONField(verbose_name=_("audience rule"), default=dict, blank=True)
    # Send only to this share of the audience with the highest predicted uplift (from an uplift model).
    uplift_model = models.ForeignKey(
        "UpliftModel",
        verbose_name=_("uplift model"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="targeted_campaigns",
    )
    uplift_target_share = models.FloatField(
        verbose_name=_("share targeted by uplift"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.01), MaxValueValidator(1.0)],
    )

    # One-off sends go at send_at; on-site campaigns show between starts_at and ends_at.
    send_at = models.DateTimeField(verbose_name=_("send at"), null=True, blank=True)
    starts_at = models.DateTimeField(verbose_name=_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(verbose_name=_("ends at"), null=True, blank=True)

    holdout_share = models.FloatField(
        verbose_name=_("holdout share"),
        default=0.10,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.9)],
        help_text=_("Percent of the audience held out as the control group: sent nothing, compared against."),
    )
    offer = models.ForeignKey(
        Offer, verbose_name=_("offer"), null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    recommendations_count = models.PositiveSmallIntegerField(
        verbose_name=_("recommended products per message"),
        default=4,
        validators=[MaxValueValidator(20)],
        help_text=_("Recommended products embedded per recipient."),
    )
    attribution_window_days = models.PositiveSmallIntegerField(
        verbose_name=_("attribution window (days)"), default=7, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    # Messages of this campaign per customer (triggered campaigns); the global cap across campaigns still applies.
    frequency_cap = models.PositiveSmallIntegerField(verbose_name=_("frequency cap"), null=True, blank=True)
    # Send in waves and move the rest of the audience toward the better variant (control stays fixed): each wave
    # is this share of the audience, released this many hours after the one before (marketing.waves).
    adaptive = models.BooleanField(verbose_name=_("adaptive"), default=False)
    wave_share = models.FloatField(
        verbose_name=_("wave share"),
        default=0.2,
        validators=[MinValueValidator(0.05), MaxValueValidator(1.0)],
        help_text=_("Adaptive sends: the percent of the audience in each wave (20 %: five waves)."),
    )
    wave_interval_hours = models.PositiveSmallIntegerField(
        verbose_name=_("hours between waves"),
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(720)],
        help_text=_("Adaptive sends: hours between one wave and the next (time for conversions to arrive)."),
    )
    # Adaptive sends: one entry per wave released after the first (when, how it was shared and on what evidence).
    wave_log = models.JSONField(verbose_name=_("wave log"), default=list, blank=True)

    # Triggered (automation) campaigns: which event makes a customer enter, its parameters
    # (hours, views, days, segment id), and how long before the same customer may enter again.
    trigger = models.CharField(
        verbose_name=_("trigger"), max_length=20, choices=Trigger.choices, default=Trigger.NONE, blank=True
    )
    trigger_parameters = models.JSONField(verbose_name=_("trigger settings"), default=dict, blank=True)
    cooldown_days = models.PositiveSmallIntegerField(verbose_name=_("cooldown (days)"), default=30)

    # The build: progress, stage, counts of who was left out and why, the estimate shown before launch.
    progress = models.PositiveSmallIntegerField(verbose_name=_("progress"), default=0)
    stage = models.CharField(verbose_name=_("stage"), max_length=100, blank=True)
    audience_counts = models.JSONField(verbose_name=_("audience counts"), default=dict, blank=True)
    estimate = models.JSONField(verbose_name=_("estimate"), default=dict, blank=True)
    error = models.TextField(verbose_name=_("error"), blank=True)

    launched_at = models.DateTimeField(verbose_name=_("launched at"), null=True, blank=True)
    completed_at = models.DateTimeField(verbose_name=_("completed at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        permissions = [("launch_campaign", "Can launch, pause, resume and cancel campaigns")]
        indexes = [
            models.Index(fields=["status", "channel"], name="campaign_status_channel_idx"),
            models.Index(fields=["trigger", "status"], name="campaign_trigger_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_share__gte=0) & Q(holdout_share__lte=0.9), name="campaign_holdout_share_range"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="campaign_progress_percent"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="campaign_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_triggered(self) -> bool:
        return bool(self.trigger)

    def can_move_to(self, status: str) -> bool:
        return status in LEGAL_TRANSITIONS[self.status]


S = Campaign.Status
# draft -> scheduled -> sending -> running (measuring through the attribution window) -> completed, or cancelled.
# On-site and triggered campaigns go from scheduled straight to running. Paused resumes where it stopped.
LEGAL_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.DRAFT, S.SENDING, S.RUNNING, S.CANCELLED}),
    S.SENDING: frozenset({S.RUNNING, S.PAUSED, S.CANCELLED}),
    S.RUNNING: frozenset({S.COMPLETED, S.PAUSED, S.CANCELLED}),
    S.PAUSED: frozenset({S.SENDING, S.RUNNING, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}


class Variant(models.Model):
    """One version of the content; recipients outside the control group are split across variants by share."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="variants"
    )
    name = models.CharField(verbose_name=_("name"), max_length=100, default="A")
    split_share = models.FloatField(
        verbose_name=_("split share"), default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    # Jinja2 templates rendered in a sandbox: email uses all three; SMS / push use text (and subject as title);
    # on-site uses subject as the headline and html / text as the body.
    subject = models.CharField(verbose_name=_("subject"), max_length=300, blank=True)
    html_template = models.TextField(verbose_name=_("HTML template"), blank=True)
    text_template = models.TextField(verbose_name=_("text template"), blank=True)
    position = models.PositiveSmallIntegerField(verbose_name=_("position"), default=0)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["campaign", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "name"], name="variant_name_unique_in_campaign")]

    def __str__(self) -> str:
        return f"{self.campaign} / {self.name}"


class Recipient(models.Model):
    """A customer a campaign considered: treated (a variant), held out (control), or left out with a reason.

    Imported experiments store one row per recipient of the file, with or without a known customer.
    """

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting for its wave")
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CONTROL = "control", _("Control (held out)")
        EXCLUDED = "excluded", _("Left out")

    class Exclusion(models.TextChoices):
        NONE = "", "—"
        NO_CONSENT = "no_consent", _("No consent for the channel")
        SUPPRESSED = "suppressed", _("On the suppression list")
        FREQUENCY_CAP = "frequency_cap", _("Over the frequency cap")
        QUIET_HOURS = "quiet_hours", _("Quiet hours")
        NO_ADDRESS = "no_address", _("No address for the channel")
        NOT_TARGETED = "not_targeted", _("Low predicted uplift")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed before the send")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="recipients"
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # A triggered campaign may reach the same customer again after its cooldown: entry 1, 2, ...
    entry = models.PositiveIntegerField(verbose_name=_("entry"), default=1)
    variant = models.ForeignKey(
        Variant, verbose_name=_("variant"), null=True, blank=True, on_delete=models.SET_NULL, related_name="recipients"
    )
    is_control = models.BooleanField(verbose_name=_("in the control group"), default=False)
    # Adaptive sends: the wave (1, 2, ...) the row goes out in; a later wave's rows wait without a variant.
    wave = models.PositiveSmallIntegerField(verbose_name=_("wave"), null=True, blank=True)
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    exclusion = models.CharField(
        verbose_name=_("exclusion"), max_length=20, choices=Exclusion.choices, default=Exclusion.NONE, blank=True
    )
    # The customer's segment (in the campaign's first included segmentation) when the audience was built.
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    segment_name = models.CharField(verbose_name=_("segment name"), max_length=200, blank=True)
    # Imported experiments: the recipient's id in the file and its attribute columns (spend band, channel...).
    external_ref = models.CharField(verbose_name=_("external reference"), max_length=100, blank=True)
    attributes = models.JSONField(verbose_name=_("attributes"), default=dict, blank=True)

    # What the message carried.
    coupon_code = models.CharField(verbose_name=_("coupon code"), max_length=64, blank=True)
    recommendation_id = models.CharField(verbose_name=_("recommendation ID"), max_length=64, blank=True)
    recommended_skus = models.JSONField(verbose_name=_("recommended products"), default=list, blank=True)
    subject = models.CharField(verbose_name=_("subject"), max_length=300, blank=True)
    body_html = models.TextField(verbose_name=_("HTML body"), blank=True)
    body_text = models.TextField(verbose_name=_("text body"), blank=True)

    # What happened. Control rows get sent_at too: when their message would have gone (the attribution start).
    sent_at = models.DateTimeField(verbose_name=_("sent at"), null=True, blank=True)
    # When a sender claimed the row (PENDING -> SENDING); a row left SENDING past the lease lost its sender.
    claimed_at = models.DateTimeField(verbose_name=_("claimed at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(verbose_name=_("attempts"), default=0)
    last_error = models.CharField(verbose_name=_("last error"), max_length=500, blank=True)
    impression_at = models.DateTimeField(verbose_name=_("shown at"), null=True, blank=True)
    opened_at = models.DateTimeField(verbose_name=_("opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(verbose_name=_("clicked at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(verbose_name=_("unsubscribed at"), null=True, blank=True)
    converted_at = models.DateTimeField(verbose_name=_("converted at"), null=True, blank=True)
    conversions = models.PositiveIntegerField(verbose_name=_("conversions"), default=0)
    revenue = models.DecimalField(verbose_name=_("revenue"), max_digits=14, decimal_places=2, default=Decimal("0"))
    # A conversion carried this campaign's coupon or recommendation id (shown; uplift never depends on it).
    directly_attributed = models.BooleanField(verbose_name=_("directly attributed"), default=False)

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer", "entry"],
                condition=Q(customer__isnull=False),
                name="recipient_once_per_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="recipient_campaign_status_idx"),
            models.Index(fields=["customer", "sent_at"], name="recipient_customer_sent_idx"),
            models.Index(fields=["coupon_code"], name="recipient_coupon_idx"),
            models.Index(fields=["recommendation_id"], name="recipient_recommendation_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.customer_id or self.external_ref} ({self.status})"


class Conversion(models.Model):
    """A purchase counted for a recipient: within the attribution window, or carrying the campaign's code or id."""

    recipient = models.ForeignKey(
        Recipient, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="conversion_events"
    )
    interaction = models.ForeignKey(
        Interaction, verbose_name=_("interaction"), on_delete=models.CASCADE, related_name="+"
    )
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    amount = models.DecimalField(verbose_name=_("amount"), max_digits=14, decimal_places=2, default=Decimal("0"))
    direct = models.BooleanField(verbose_name=_("direct"), default=False)

    class Meta:
        verbose_name = _("conversion")
        verbose_name_plural = _("conversions")
        constraints = [
            models.UniqueConstraint(fields=["recipient", "interaction"], name="conversion_once_per_interaction")
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.amount}"


class CampaignSummary(models.Model):
    """A campaign's report figures as of `computed_at`, worked out by the jobs that change them (attribution,
    completion) so the staff pages read them instead of aggregating every recipient per request
    (`marketing.report_summaries`)."""

    campaign = models.OneToOneField(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, primary_key=True, related_name="summary"
    )
    computed_at = models.DateTimeField(verbose_name=_("computed at"))
    # The report list's columns: treated and converted recipients not left out, and every control recipient.
    treated = models.PositiveIntegerField(verbose_name=_("treated"), default=0)
    control = models.PositiveIntegerField(verbose_name=_("control"), default=0)
    converted = models.PositiveIntegerField(verbose_name=_("converted"), default=0)
    # The dashboard's best-variant uplift: {"control": [converted, n] | null, "variants": [[name, converted, n]]}.
    uplift_arms = models.JSONField(verbose_name=_("uplift arms"), default=dict, blank=True)
    # The next-best-campaign evidence: [[segmentation id, segment key, is control, n, converted], ...].
    segment_arms = models.JSONField(verbose_name=_("segment arms"), default=list, blank=True)
    # The report page: reports (overall, per segment), funnel, revenue per quarter hour, power inputs.
    report = models.JSONField(verbose_name=_("report"), default=dict, blank=True)

    class Meta:
        verbose_name = _("campaign summary")
        verbose_name_plural = _("campaign summaries")

    def __str__(self) -> str:
        return f"{self.campaign_id} as of {self.computed_at:%Y-%m-%d %H:%M}"


class Suppression(TimeStampedModel):
    """Never message this customer or address (on one channel, or on every channel when blank)."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # An address (email or phone) for people the shop may not know as customers yet.
    address = models.CharField(verbose_name=_("address"), max_length=254, blank=True)
    channel = models.CharField(verbose_name=_("channel"), max_length=10, choices=Campaign.Channel.choices, blank=True)
    reason = models.CharField(verbose_name=_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        indexes = [
            models.Index(fields=["customer"], name="suppression_customer_idx"),
            models.Index(fields=["address"], name="suppression_address_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(customer__isnull=False) | ~Q(address=""), name="suppression_names_someone"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id or self.address} ({self.channel or 'all channels'})"


class CampaignAction(models.Model):
    """Who launched, paused, resumed or cancelled a campaign, and when (the audit trail)."""

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(verbose_name=_("action"), max_length=30)
    from_status = models.CharField(verbose_name=_("from status"), max_length=10, blank=True)
    to_status = models.CharField(verbose_name=_("to status"), max_length=10, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.SET_NULL
    )
    note = models.CharField(verbose_name=_("note"), max_length=500, blank=True)
    at = models.DateTimeField(verbose_name=_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign action")
        verbose_name_plural = _("campaign actions")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.action} at {self.at:%Y-%m-%d %H:%M}"


class UpliftModel(TimeStampedModel):
    """A model of each customer's incremental response to a campaign (one variant against control)."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="uplift_models"
    )
    variant_name = models.CharField(verbose_name=_("variant"), max_length=100)
    outcome = models.CharField(verbose_name=_("outcome"), max_length=20, default="conversion")
    learner = models.CharField(verbose_name=_("learner"), max_length=50)
    # Feature columns the model reads, in order (segment features for native campaigns, attributes otherwise).
    features = models.JSONField(verbose_name=_("features"), default=list, blank=True)
    # qini, auuc, uplift_at_10, uplift_at_30, random_uplift, holdout_recipients...
    metrics = models.JSONField(verbose_name=_("metrics"), default=dict, blank=True)
    artifact_path = models.CharField(verbose_name=_("artifact path"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("uplift model")
        verbose_name_plural = _("uplift models")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign} / {self.variant_name} ({self.learner})"
