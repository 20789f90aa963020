"""Request and response shapes of the shop API. Validation of field formats lives here; rules live in services."""

from django.conf import settings
from rest_framework import serializers

from shop.api.limits import limit_attributes
from shop.bulk import has_nul
from shop.models import Customer, Gender, InteractionKind, InteractionSource, Product
from shop.services import EventStatus


def refuse_nul_characters(value):
    """PostgreSQL cannot store U+0000 in text or JSON; refused on every database alike, naming the field."""
    if has_nul(value):
        raise serializers.ValidationError("Must not contain NUL characters (\\u0000), in keys or values.")


# --- Events ---------------------------------------------------------------------------------


class EventSerializer(serializers.Serializer):
    """One event as the frontend sends it. Documentation only: `record_events` checks each event itself,
    so that a bad event is rejected with its reason while the rest of its batch is stored."""

    event_id = serializers.CharField(max_length=100, help_text="Client-generated idempotency key (e.g. a UUID).")
    customer_id = serializers.CharField(
        max_length=64,
        required=False,
        help_text="The shop's customer id; unknown ids become stubs. Required unless `anonymous_id` is sent.",
    )
    anonymous_id = serializers.CharField(
        max_length=100,
        required=False,
        help_text="A visitor not signed in yet (the browser client's visitor id): the event goes to the visitor's "
        "profile, which a `login` event joins to the customer. Ignored when `customer_id` is sent, but by `login`.",
    )
    sku = serializers.CharField(
        max_length=64, required=False, help_text="The product's SKU; unknown SKUs become stubs. Not for `login`."
    )
    kind = serializers.ChoiceField(
        choices=[*InteractionKind.choices, ("login", "login: joins `anonymous_id`'s history to `customer_id`")]
    )
    value = serializers.FloatField(
        required=False, allow_null=True, help_text="A rating's value (0.5-5, required for ratings); a view's seconds."
    )
    quantity = serializers.IntegerField(
        required=False, default=1, help_text="Must be positive for purchases, returns and carts."
    )
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        help_text="Line total, >= 0; more than two decimals are rounded to the cent (half up).",
    )
    currency = serializers.CharField(
        min_length=3, max_length=3, required=False, help_text="ISO 4217; must match the product's currency."
    )
    order_ref = serializers.CharField(max_length=64, required=False, allow_blank=True)
    source = serializers.ChoiceField(choices=InteractionSource.choices, required=False, default=InteractionSource.WEB)
    occurred_at = serializers.DateTimeField(
        required=False, help_text="ISO 8601; default now; more than 5 minutes ahead is rejected. Naive means UTC."
    )
    recommendation_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="The recommendation this event followed."
    )
    coupon = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="The offer code a purchase carried, if any."
    )


class EventBatchInputSerializer(serializers.Serializer):
    """The envelope: a JSON list of events, or {"events": [...]}, with 1 to EVENTS_MAX_BATCH items.

    Deliberately does not validate each item (see EventSerializer): that is one pass in `record_events`.
    """

    def run_validation(self, data=serializers.empty):
        # No "may not be null" / "no data" shortcuts: every bad envelope gets the same answer on `events`.
        return self.to_internal_value(data)

    def to_internal_value(self, data):
        if isinstance(data, dict) and "events" in data:
            data = data["events"]
        if not isinstance(data, list):
            raise serializers.ValidationError({"events": ['Send a JSON list of events, or {"events": [...]}.']})
        limit = settings.EVENTS_MAX_BATCH
        if not data:
            raise serializers.ValidationError({"events": ["Send at least one event."]})
        if len(data) > limit:
            raise serializers.ValidationError({"events": [f"At most {limit} events per batch; got {len(data)}."]})
        return {"events": data}


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the batch.")
    event_id = serializers.CharField()
    status = serializers.ChoiceField(choices=[(status.value, status.value) for status in EventStatus])
    reason = serializers.CharField(required=False, help_text="Why it was a duplicate or rejected.")
    errors = serializers.DictField(
        child=serializers.CharField(), required=False, help_text="Rejected events: the message for each bad field."
    )


class EventBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventResultSerializer(many=True, help_text="One answer per event, in the order sent.")


# --- Customers ------------------------------------------------------------------------------


class CustomerInputSerializer(serializers.Serializer):
    """Every field is optional: the ones you leave out keep their stored values."""

    email = serializers.EmailField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, allow_blank=True)
    birth_year = serializers.IntegerField(min_value=1900, max_value=2100, required=False, allow_null=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=100, required=False, allow_blank=True)
    signed_up_at = serializers.DateTimeField(required=False, allow_null=True)
    attributes = serializers.DictField(
        required=False,
        validators=[refuse_nul_characters, limit_attributes],
        help_text="Anything else the shop knows (loyalty tier...). Merged into the stored attributes: a key sent "
        "replaces that key, keys not sent are kept.",
    )
    email_consent = serializers.BooleanField(required=False, help_text="A change stamps email_consent_changed_at.")
    sms_consent = serializers.BooleanField(required=False, help_text="A change stamps sms_consent_changed_at.")
    push_consent = serializers.BooleanField(required=False, help_text="A change stamps push_consent_changed_at.")


class CustomerBatchItemSerializer(CustomerInputSerializer):
    external_id = serializers.CharField(max_length=64)


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "external_id",
            "email",
            "name",
            "gender",
            "birth_year",
            "city",
            "postal_code",
            "country",
            "signed_up_at",
            "attributes",
            "is_stub",
            "email_consent",
            "email_consent_changed_at",
            "sms_consent",
            "sms_consent_changed_at",
            "push_consent",
            "push_consent_changed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- Products -------------------------------------------------------------------------------


class ProductInputSerializer(serializers.Serializer):
    """Every field is optional: the ones you leave out keep their stored values."""

    name = serializers.CharField(max_length=300, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.SlugField(
        max_length=100,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Category code; created when new. Null or empty removes the category.",
    )
    category_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Name for a category created by this call."
    )
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, help_text="ISO 4217 code.")
    stock = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, allow_null=True, help_text="Null: not tracked."
    )
    is_active = serializers.BooleanField(required=False)
    is_merchandise = serializers.BooleanField(
        required=False, help_text="False for postage, fees, discounts...: never recommended."
    )
    attributes = serializers.DictField(
        required=False,
        validators=[refuse_nul_characters, limit_attributes],
        help_text="Merged into the stored attributes: a key sent replaces that key, keys not sent are kept.",
    )

    def validate_currency(self, value: str) -> str:
        return value.upper()


class ProductBatchItemSerializer(ProductInputSerializer):
    sku = serializers.CharField(max_length=64)


class ProductSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.code", allow_null=True, read_only=True)
    category_name = serializers.CharField(source="category.name", allow_null=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "sku",
            "name",
            "description",
            "category",
            "category_name",
            "price",
            "currency",
            "stock",
            "is_active",
            "is_merchandise",
            "attributes",
            "is_stub",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class UpsertSummarySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
