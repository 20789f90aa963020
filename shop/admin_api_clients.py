"""Admin for API clients (keys are shown once, stored hashed)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from shop import services
from shop.models import ApiClient, ApiScope

# A new key starts with least privilege: what a storefront needs (send events, read recommendations). Staff tick
# the rest on purpose, privacy:write above all, which exports and erases customers.
NEW_KEY_SCOPES = [ApiScope.EVENTS_WRITE.value, ApiScope.RECOMMENDATIONS_READ.value]


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=NEW_KEY_SCOPES,
        required=False,
        help_text=_(
            "What this key may do (none ticked: nothing). A new key may only send events and read recommendations: "
            "tick more only for a server you trust — “Export and erase customers” lets it remove customers' data. "
            "Unticking a scope takes effect on save."
        ),
    )

    class Meta:
        model = ApiClient
        fields = ["name", "throttle_rate", "scopes", "is_active"]

    def clean_scopes(self):
        try:
            return services.validate_api_scopes(self.cleaned_data["scopes"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["scopes"]) from exc

    def clean_throttle_rate(self):
        rate = self.cleaned_data["throttle_rate"].strip()
        try:
            services.validate_throttle_rate(rate)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["throttle_rate"]) from exc
        return rate


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = [
        "name",
        "key_prefix",
        "is_active",
        "scope_list",
        "throttle_rate",
        "last_used_at",
        "created_at",
        "created_by",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "key_prefix"]
    list_select_related = ["created_by"]
    readonly_fields = ["key_prefix", "last_used_at", "created_by", "created_at", "updated_at"]
    actions = ["deactivate", "rotate_key"]

    def get_fields(self, request, obj=None):
        if obj is None:  # the key is generated on save and shown once
            return ["name", "throttle_rate", "scopes"]
        return [
            "name",
            "key_prefix",
            "is_active",
            "scopes",
            "throttle_rate",
            "last_used_at",
            "created_by",
            "created_at",
        ]

    @admin.display(description=_("scopes"))
    def scope_list(self, obj: ApiClient) -> str:
        return ", ".join(obj.scopes) or "none"

    def save_model(self, request, obj, form, change):
        if change:
            # Saving drops the key from the shared cache (shop.api.authentication), so a change counts at once.
            super().save_model(request, obj, form, change)
            return
        obj.created_by = request.user
        raw_key = services.issue_api_key(client=obj)
        self._show_key_once(request, obj, raw_key)

    @admin.action(description=_("Deactivate selected clients (their keys stop working)"))
    def deactivate(self, request, queryset):
        clients = list(queryset.filter(is_active=True))
        for client in clients:
            services.deactivate_api_client(client=client)
        self.message_user(
            request,
            ngettext("Deactivated %(n)d client.", "Deactivated %(n)d clients.", len(clients)) % {"n": len(clients)},
            messages.SUCCESS,
        )

    @admin.action(description=_("Rotate key of selected clients (new key shown once, old key stops working)"))
    def rotate_key(self, request, queryset):
        for client in queryset:
            raw_key = services.rotate_api_client_key(client=client)
            self._show_key_once(request, client, raw_key)

    def _show_key_once(self, request, client: ApiClient, raw_key: str) -> None:
        self.message_user(
            request,
            format_html(
                _(
                    "API key for <strong>{}</strong>: <code>{}</code> — copy it now, it is not stored and will not "
                    "be shown again. Send it as <code>Authorization: Api-Key &lt;key&gt;</code>."
                ),
                client.name,
                raw_key,
            ),
            messages.WARNING,
        )
