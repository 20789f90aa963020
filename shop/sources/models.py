"""Where events come from besides our own API: Segment / RudderStack tracking, Shopify and WooCommerce webhooks.

A `Source` is one connected tool with its counters; a `SourceDelivery` is one request it sent (kept for the admin's
"last events" and, for webhooks, as the idempotency key of redeliveries); an `AnonymousProfile` is a visitor known
only by the tracking library's anonymous id until identify / alias joins it to a customer.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shop.models import ApiClient, Customer, TimeStampedModel


class SourceKind(models.TextChoices):
    SEGMENT = "segment", _("Segment / RudderStack")
    SHOPIFY = "shopify", _("Shopify webhooks")
    WOOCOMMERCE = "woocommerce", _("WooCommerce webhooks")


class Outcome(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    DUPLICATE = "duplicate", _("Duplicate")
    REJECTED = "rejected", _("Rejected")
    # Understood but not an interaction or a profile change (a page call, an unknown event name...).
    IGNORED = "ignored", _("Counted, not stored")


class Source(TimeStampedModel):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    # Segment / RudderStack: the API key used as write key (its events land on this source).
    api_client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="sources")
    # Shopify / WooCommerce: the webhook signing secret. Kept in clear because every delivery's HMAC is computed
    # with it; shown once in admin, never again.
    secret = models.CharField(max_length=200, blank=True, editable=False)
    # Shopify: the shop's myshopify.com domain; WooCommerce: the site URL. Narrows which secret is tried; blank: any.
    shop_domain = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    accepted = models.PositiveBigIntegerField(default=0)
    duplicate = models.PositiveBigIntegerField(default=0)
    rejected = models.PositiveBigIntegerField(default=0)
    ignored = models.PositiveBigIntegerField(default=0)
    last_received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "is_active"], name="source_kind_active_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["api_client"], condition=Q(kind="segment"), name="source_one_segment_per_client"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class SourceReason(models.Model):
    """How many messages of a source were rejected or ignored for one reason (or one unknown event name)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="reasons")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=200)
    count = models.PositiveBigIntegerField(default=0)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "outcome", "reason"], name="source_reason_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome}: {self.reason} ×{self.count}"


class SourceDelivery(models.Model):
    """One request a source sent: a Segment batch or a webhook delivery, with what became of its messages."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="deliveries")
    # Webhooks: X-Shopify-Webhook-Id / X-WC-Webhook-Delivery-ID, unique per source (a redelivery is a duplicate).
    delivery_id = models.CharField(max_length=100, blank=True)
    # The webhook topic, or the Segment call types and event names of the batch.
    topic = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    accepted = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    ignored = models.PositiveIntegerField(default=0)
    # Reasons of rejected or ignored messages, and for privacy topics where the result went.
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = _("source deliveries")
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["source", "-received_at"], name="source_delivery_recent_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "delivery_id"], condition=~Q(delivery_id=""), name="source_delivery_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic or 'delivery'} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class AnonymousProfile(models.Model):
    """A visitor known by a tracking library's anonymous id. Its events are kept on a stub customer whose
    external_id is `anonymous_customer_id(anonymous_id)` until identify or alias names the customer; the history
    then moves to that customer once, and later events with the anonymous id go to the customer directly."""

    anonymous_id = models.CharField(max_length=100, unique=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="anonymous_profiles"
    )
    merged_at = models.DateTimeField(null=True, blank=True)
    moved_interactions = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["customer"], name="anon_profile_customer_idx")]

    def __str__(self) -> str:
        return self.anonymous_id
