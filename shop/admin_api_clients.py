"""Admin for API clients (keys are shown once, stored hashed)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import format_html

from shop import services
from shop.api.authentication import forget_api_key
from shop.models import ApiClient


class ApiClientForm(forms.ModelForm):
    class Meta:
        model = ApiClient
        fields = ["name", "throttle_rate", "is_active"]

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
    list_display = ["name", "key_prefix", "is_active", "throttle_rate", "last_used_at", "created_at", "created_by"]
    list_filter = ["is_active"]
    search_fields = ["name", "key_prefix"]
    list_select_related = ["created_by"]
    readonly_fields = ["key_prefix", "last_used_at", "created_by", "created_at", "updated_at"]
    actions = ["deactivate", "rotate_key"]

    def get_fields(self, request, obj=None):
        if obj is None:  # the key is generated on save and shown once
            return ["name", "throttle_rate"]
        return ["name", "key_prefix", "is_active", "throttle_rate", "last_used_at", "created_by", "created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            # The authentication cache holds the client (active flag, rate): re-read it once this is committed.
            key_hash = obj.key_hash
            transaction.on_commit(lambda: forget_api_key(key_hash))
            return
        obj.created_by = request.user
        raw_key = services.issue_api_key(client=obj)
        self._show_key_once(request, obj, raw_key)

    @admin.action(description="Deactivate selected clients (their keys stop working)")
    def deactivate(self, request, queryset):
        clients = list(queryset.filter(is_active=True))
        for client in clients:
            services.deactivate_api_client(client=client)
        self.message_user(request, f"Deactivated {len(clients)} client(s).", messages.SUCCESS)

    @admin.action(description="Rotate key of selected clients (new key shown once, old key stops working)")
    def rotate_key(self, request, queryset):
        for client in queryset:
            raw_key = services.rotate_api_client_key(client=client)
            self._show_key_once(request, client, raw_key)

    def _show_key_once(self, request, client: ApiClient, raw_key: str) -> None:
        self.message_user(
            request,
            format_html(
                "API key for <strong>{}</strong>: <code>{}</code> — copy it now, it is not stored and will not be "
                "shown again. Send it as <code>Authorization: Api-Key &lt;key&gt;</code>.",
                client.name,
                raw_key,
            ),
            messages.WARNING,
        )
