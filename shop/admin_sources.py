"""Admin for the sources: one page per connected tool with its endpoint, its key or secret (shown once), the
last deliveries and the counts of accepted / duplicate / rejected / ignored messages with their reasons."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from shop import services as shop_services
from shop.models import ApiScope
from shop.sources import services
from shop.sources.models import AnonymousProfile, Source, SourceDelivery, SourceKind, SourceReason

LAST_DELIVERIES = 20
ENDPOINTS = {
    SourceKind.SEGMENT: "v1:sources-segment-batch",
    SourceKind.SHOPIFY: "v1:sources-shopify",
    SourceKind.WOOCOMMERCE: "v1:sources-woocommerce",
}


class SourceAddForm(forms.ModelForm):
    secret_given = forms.CharField(
        required=False,
        label=_("Signing secret"),
        help_text=_(
            "Webhooks: the secret the shop signs with (Shopify shows it under Notifications > Webhooks; "
            "WooCommerce lets you type one). Blank: a new random secret, shown once, to paste into the shop."
        ),
    )

    class Meta:
        model = Source
        fields = ["name", "kind", "shop_domain", "api_client"]
        help_texts = {
            "api_client": "Segment / RudderStack: the API key to use as write key. Blank: a new key with the "
            "events:write scope, shown once.",
        }


class SourceReasonInline(admin.TabularInline):
    model = SourceReason
    fields = ["outcome", "reason", "count", "last_seen_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-count"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_active", "accepted", "duplicate", "rejected", "ignored", "last_received_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "shop_domain"]
    list_select_related = ["api_client"]
    autocomplete_fields = ["api_client"]
    inlines = [SourceReasonInline]
    actions = ["rotate_secret"]
    readonly_fields = [
        "endpoint",
        "how_to_connect",
        "key_or_secret",
        "accepted",
        "duplicate",
        "rejected",
        "ignored",
        "last_received_at",
        "last_deliveries",
        "created_at",
    ]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SourceAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "kind", "shop_domain", "api_client", "secret_given"]
        return [
            "name",
            "kind",
            "is_active",
            "shop_domain",
            "api_client",
            "endpoint",
            "how_to_connect",
            "key_or_secret",
            ("accepted", "duplicate", "rejected", "ignored"),
            "last_received_at",
            "last_deliveries",
            "created_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "kind"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        if obj.kind == SourceKind.SEGMENT:
            raw_key = ""
            if obj.api_client is None:
                obj.api_client, raw_key = shop_services.create_api_client(
                    name=f"{obj.name} write key"[:100], created_by=request.user, scopes=[ApiScope.EVENTS_WRITE]
                )
            super().save_model(request, obj, form, change)
            if raw_key:
                self._show_once(request, obj, "Write key", raw_key)
            return
        given = form.cleaned_data.get("secret_given") or ""
        obj.secret = given or services.new_source_secret()
        super().save_model(request, obj, form, change)
        if not given:
            self._show_once(request, obj, "Signing secret", obj.secret)

    @admin.action(description=_("New signing secret / write key for selected sources (shown once)"))
    def rotate_secret(self, request, queryset):
        for source in queryset.select_related("api_client"):
            if source.kind == SourceKind.SEGMENT:
                if source.api_client is not None:
                    raw_key = shop_services.rotate_api_client_key(client=source.api_client)
                    self._show_once(request, source, "Write key", raw_key)
            else:
                self._show_once(request, source, "Signing secret", services.rotate_source_secret(source=source))

    def _show_once(self, request, source: Source, what: str, value: str) -> None:
        self.message_user(
            request,
            format_html(
                _("{} for <strong>{}</strong>: <code>{}</code> — copy it now, it will not be shown again."),
                what,
                source.name,
                value,
            ),
            messages.WARNING,
        )

    @admin.display(description=_("endpoint"))
    def endpoint(self, obj: Source) -> str:
        url = self.request_url(reverse(ENDPOINTS[obj.kind]))
        if obj.kind == SourceKind.SEGMENT:
            url = url.removesuffix("/v1/batch")
        return format_html("<code>{}</code>", url)

    @admin.display(description=_("how to connect"))
    def how_to_connect(self, obj: Source) -> str:
        if obj.kind == SourceKind.SEGMENT:
            return "SDK host = the endpoint above; write key = this source's API key (sent as HTTP Basic user name)."
        if obj.kind == SourceKind.SHOPIFY:
            return "Shopify admin > Settings > Notifications > Webhooks: JSON format, URL = the endpoint above."
        return "WooCommerce > Settings > Advanced > Webhooks: delivery URL = the endpoint above, secret = this secret."

    @admin.display(description=_("write key / secret"))
    def key_or_secret(self, obj: Source) -> str:
        if obj.kind == SourceKind.SEGMENT:
            prefix = obj.api_client.key_prefix if obj.api_client else "?"
            return f"API key {prefix}… (shown once when made; rotate with the action to get a new one)"
        return "set (shown once when made; rotate with the action to get a new one)" if obj.secret else "not set"

    @admin.display(description=_("last deliveries"))
    def last_deliveries(self, obj: Source) -> str:
        rows = SourceDelivery.objects.filter(source=obj).order_by("-received_at")[:LAST_DELIVERIES]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{d.received_at:%Y-%m-%d %H:%M:%S}",
                    d.topic,
                    d.accepted,
                    d.duplicate,
                    d.rejected,
                    d.ignored,
                    "; ".join(d.detail.get("reasons", []) + d.detail.get("notes", [])),
                )
                for d in rows
            ),
        )
        if not body:
            return "nothing received yet"
        return format_html(
            "<table><tr><th>received</th><th>what</th><th>accepted</th><th>duplicate</th><th>rejected</th>"
            "<th>ignored</th><th>reasons</th></tr>{}</table>",
            body,
        )

    def request_url(self, path: str) -> str:
        request = getattr(self, "_request", None)
        return request.build_absolute_uri(path) if request is not None else path

    def changeform_view(self, request, *args, **kwargs):
        self._request = request  # the endpoint is shown with this server's scheme and host
        return super().changeform_view(request, *args, **kwargs)


@admin.register(SourceDelivery)
class SourceDeliveryAdmin(admin.ModelAdmin):
    list_display = ["received_at", "source", "topic", "accepted", "duplicate", "rejected", "ignored"]
    list_filter = ["source__kind", "source"]
    search_fields = ["topic", "delivery_id"]
    list_select_related = ["source"]
    readonly_fields = [f.name for f in SourceDelivery._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AnonymousProfile)
class AnonymousProfileAdmin(admin.ModelAdmin):
    list_display = ["anonymous_id", "customer", "merged_at", "moved_interactions", "created_at"]
    list_filter = [("customer", admin.EmptyFieldListFilter)]
    search_fields = ["anonymous_id", "customer__external_id"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["merged_at", "moved_interactions", "created_at"]
