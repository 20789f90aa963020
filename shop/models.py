"""The shop's own data: customers, the catalog and what customers did with it."""

import hashlib
import secrets
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class Gender(models.TextChoices):
    FEMALE = "f", _("Female")
    MALE = "m", _("Male")
    OTHER = "o", _("Other")
    UNKNOWN = "", _("Unknown")


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    PUSH = "push", _("Push")


class Customer(TimeStampedModel):
    """A customer of the shop, keyed by the shop's own id. Not a Django login."""

    external_id = models.CharField(verbose_name=_("external ID"), max_length=64, unique=True)
    email = models.EmailField(verbose_name=_("email"), blank=True)
    name = models.CharField(verbose_name=_("name"), max_length=200, blank=True)
    gender = models.CharField(
        verbose_name=_("gender"), max_length=1, choices=Gender.choices, blank=True, default=Gender.UNKNOWN
    )
    birth_year = models.PositiveSmallIntegerField(verbose_name=_("birth year"), null=True, blank=True)
    city = models.CharField(verbose_name=_("city"), max_length=100, blank=True)
    postal_code = models.CharField(verbose_name=_("postal code"), max_length=20, blank=True)
    country = models.CharField(verbose_name=_("country"), max_length=100, blank=True)
    signed_up_at = models.DateTimeField(verbose_name=_("signed up at"), null=True, blank=True)
    # Anything else the shop knows (occupation, loyalty tier, the demo persona...).
    attributes = models.JSONField(verbose_name=_("attributes"), default=dict, blank=True)
    # Created on the fly from an event naming an unknown customer; details arrive later.
    is_stub = models.BooleanField(verbose_name=_("placeholder (details not yet received)"), default=False)

    email_consent = models.BooleanField(verbose_name=_("email consent"), default=False)
    email_consent_changed_at = models.DateTimeField(verbose_name=_("email consent changed at"), null=True, blank=True)
    sms_consent = models.BooleanField(verbose_name=_("SMS consent"), default=False)
    sms_consent_changed_at = models.DateTimeField(verbose_name=_("SMS consent changed at"), null=True, blank=True)
    push_consent = models.BooleanField(verbose_name=_("push consent"), default=False)
    push_consent_changed_at = models.DateTimeField(verbose_name=_("push consent changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["email"], name="customer_email_idx"),
            models.Index(fields=["signed_up_at"], name="customer_signed_up_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(birth_year__isnull=True) | Q(birth_year__gte=1900, birth_year__lte=2100),
                name="customer_birth_year_plausible",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id

    def has_consent(self, channel: str) -> bool:
        return bool(getattr(self, f"{channel}_consent"))


class Category(TimeStampedModel):
    code = models.SlugField(verbose_name=_("code"), max_length=100, unique=True)
    name = models.CharField(verbose_name=_("name"), max_length=200)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(TimeStampedModel):
    sku = models.CharField(verbose_name=_("SKU"), max_length=64, unique=True)
    name = models.CharField(verbose_name=_("name"), max_length=300, blank=True)
    description = models.TextField(verbose_name=_("description"), blank=True)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    price = models.DecimalField(verbose_name=_("price"), max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(verbose_name=_("currency"), max_length=3, default="EUR")
    # None means the shop does not track stock for this product.
    stock = models.IntegerField(verbose_name=_("stock"), null=True, blank=True)
    is_active = models.BooleanField(verbose_name=_("active"), default=True)
    # Postage, fees, discounts, adjustments...: kept for revenue, never recommended or used as a feature.
    is_merchandise = models.BooleanField(verbose_name=_("merchandise"), default=True)
    attributes = models.JSONField(verbose_name=_("attributes"), default=dict, blank=True)
    is_stub = models.BooleanField(verbose_name=_("placeholder (details not yet received)"), default=False)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        indexes = [
            models.Index(fields=["category", "is_active"], name="product_category_active_idx"),
            models.Index(fields=["is_merchandise", "is_active"], name="product_recommendable_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__isnull=True) | Q(price__gte=0), name="product_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}".strip()

    @property
    def is_in_stock(self) -> bool:
        return self.stock is None or self.stock > 0


class InteractionKind(models.TextChoices):
    VIEW = "view", _("View")
    CART = "cart", _("Add to cart")
    PURCHASE = "purchase", _("Purchase")
    RETURN = "return", _("Return")
    RATING = "rating", _("Rating")


class InteractionSource(models.TextChoices):
    WEB = "web", _("Web")
    APP = "app", _("App")
    STORE = "store", _("Store")
    EMAIL = "email", _("Email")
    IMPORT = "import", _("Import")
    OTHER = "other", _("Other")


class InteractionQuerySet(models.QuerySet):
    def with_related(self):
        return self.select_related("customer", "product")

    def purchases(self):
        return self.filter(kind=InteractionKind.PURCHASE)


class Interaction(models.Model):
    """One thing a customer did with a product. Purchases and returns carry quantity and amount."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="interactions"
    )
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="interactions"
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=10, choices=InteractionKind.choices)
    # The rating for a rating; seconds spent for a view.
    value = models.FloatField(verbose_name=_("value"), null=True, blank=True)
    quantity = models.IntegerField(verbose_name=_("quantity"), default=1)
    # Line total in the product's currency; positive for returns too (revenue = purchases - returns).
    amount = models.DecimalField(verbose_name=_("amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    order_ref = models.CharField(verbose_name=_("order reference"), max_length=64, blank=True)
    source = models.CharField(
        verbose_name=_("source"), max_length=10, choices=InteractionSource.choices, default=InteractionSource.WEB
    )
    occurred_at = models.DateTimeField(verbose_name=_("occurred at"))
    # Idempotency key: the same event sent or imported twice is stored once.
    event_id = models.CharField(verbose_name=_("event ID"), max_length=100, unique=True)
    # The recommendation this event followed, for attribution.
    recommendation_id = models.CharField(verbose_name=_("recommendation ID"), max_length=64, blank=True)
    # The offer code a purchase carried, for redemption and campaign attribution.
    coupon = models.CharField(verbose_name=_("coupon"), max_length=64, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    objects = InteractionQuerySet.as_manager()

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [
            models.Index(fields=["customer", "occurred_at"], name="interaction_customer_time_idx"),
            models.Index(fields=["product", "kind"], name="interaction_product_kind_idx"),
            models.Index(fields=["kind", "occurred_at"], name="interaction_kind_time_idx"),
            models.Index(fields=["order_ref"], name="interaction_order_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=InteractionKind.RATING) | Q(value__isnull=False, value__gte=0.5, value__lte=5),
                name="interaction_rating_in_range",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=[InteractionKind.PURCHASE, InteractionKind.RETURN, InteractionKind.CART])
                | Q(quantity__gt=0),
                name="interaction_quantity_positive",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=Decimal("0")),
                name="interaction_amount_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(kind=InteractionKind.VIEW) | Q(value__isnull=True) | Q(value__gte=0, value__lte=86400),
                name="interaction_view_duration_within_a_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.product_id} by {self.customer_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


def hash_api_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiScope(models.TextChoices):
    """What a key may do; each API operation needs one of these."""

    EVENTS_WRITE = "events:write", _("Send events")
    CATALOG_WRITE = "catalog:write", _("Upsert customers and products, read products back")
    RECOMMENDATIONS_READ = "recommendations:read", _("Read recommendations, similar and popular products")
    CUSTOMERS_READ = "customers:read", _("Read customers and their segments")
    PRIVACY_WRITE = "privacy:write", _("Export and erase customers")
    OFFERS_READ = "offers:read", _("Read a customer's offers")


def all_api_scopes() -> list[str]:
    return [scope.value for scope in ApiScope]


class ApiClient(TimeStampedModel):
    """A client application (the shop frontend, a mobile app) calling the API with its own key."""

    name = models.CharField(verbose_name=_("name"), max_length=100, unique=True)
    key_prefix = models.CharField(verbose_name=_("key prefix"), max_length=8, editable=False)
    # sha256 of the key: keys are long random strings, so a fast hash is enough and cacheable.
    key_hash = models.CharField(verbose_name=_("key hash (SHA-256)"), max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(verbose_name=_("active"), default=True)
    throttle_rate = models.CharField(
        verbose_name=_("throttle rate"),
        max_length=30,
        blank=True,
        help_text=_("Override like '600/minute'; blank uses the default rate."),
    )
    # The ApiScope values this key may use; keys made before scopes existed were given all of them.
    scopes = models.JSONField(verbose_name=_("scopes"), default=all_api_scopes, blank=True)
    last_used_at = models.DateTimeField(verbose_name=_("last used at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name_plural = _("API clients")
        verbose_name = _("API client")

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def generate_key() -> str:
        return secrets.token_urlsafe(32)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class PrivacyAction(models.TextChoices):
    EXPORT = "export", _("Export")
    ERASURE = "erasure", _("Erasure")


class PrivacyRequest(models.Model):
    """Audit trail of customer exports and erasures: who asked and when, never whose data it was."""

    action = models.CharField(verbose_name=_("action"), max_length=10, choices=PrivacyAction.choices)
    # Exactly one of the two: the API client that called, or the staff member who acted in admin.
    api_client = models.ForeignKey(
        ApiClient, verbose_name=_("API client"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The actor's name at the time (kept when the client or user is deleted later).
    actor = models.CharField(verbose_name=_("actor"), max_length=150)
    # Rows exported or erased per kind of data, e.g. {"interactions": 12}: counts only.
    counts = models.JSONField(verbose_name=_("counts"), default=dict, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("privacy request")
        verbose_name_plural = _("privacy requests")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["action", "created_at"], name="privacy_action_time_idx")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor} at {self.created_at:%Y-%m-%d %H:%M}"


class ImportJob(TimeStampedModel):
    """An import started from admin, run by a Celery task, with its summary."""

    class Kind(models.TextChoices):
        MOVIELENS = "movielens", _("MovieLens directory")
        ONLINE_RETAIL = "online_retail", _("Online Retail file")
        CUSTOMERS = "customers", _("Customers CSV")
        PRODUCTS = "products", _("Products CSV")
        INTERACTIONS = "interactions", _("Interactions CSV")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    kind = models.CharField(verbose_name=_("kind"), max_length=20, choices=Kind.choices)
    file = models.FileField(verbose_name=_("file"), upload_to="imports/%Y/%m/")
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows_read = models.PositiveIntegerField(verbose_name=_("rows read"), default=0)
    rows_imported = models.PositiveIntegerField(verbose_name=_("rows imported"), default=0)
    summary = models.JSONField(verbose_name=_("summary"), default=dict, blank=True)
    error = models.TextField(verbose_name=_("error"), blank=True)
    started_at = models.DateTimeField(verbose_name=_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} import #{self.pk} ({self.status})"


# Interactions and sign-ups per day, kept up to date for the staff pages; the sources' models (Segment, Shopify,
# WooCommerce, anonymous visitors) live beside their code.
from shop.counts.models import CountWatermark, DailyCount  # noqa: E402, F401
from shop.sources.models import AnonymousProfile, Source, SourceDelivery, SourceReason  # noqa: E402, F401
