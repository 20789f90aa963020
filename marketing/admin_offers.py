"""Admin for offers and their coupons (imported by marketing/admin.py)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from marketing.models import Coupon, Offer
from marketing.offers import validate_offer

_OFFER_FIELDS = ("name", "kind", "value", "currency", "min_basket", "valid_from", "valid_until", "code_mode", "code")


class OfferForm(forms.ModelForm):
    class Meta:
        model = Offer
        fields = (*_OFFER_FIELDS, "bundle_products")

    def clean(self):
        cleaned = super().clean()
        candidate = Offer(**{f: cleaned.get(f) for f in _OFFER_FIELDS if f in cleaned})
        try:
            validate_offer(offer=candidate, bundle_products=list(cleaned.get("bundle_products") or []))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    form = OfferForm
    list_display = ("name", "kind", "value", "code_mode", "code", "valid_from", "valid_until", "issued", "redeemed")
    list_filter = ("kind", "code_mode")
    search_fields = ("name", "code")
    autocomplete_fields = ("bundle_products",)
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "kind", "value", "currency", "bundle_products")}),
        (_("Conditions"), {"fields": ("min_basket", "valid_from", "valid_until")}),
        (
            _("Codes"),
            {"fields": ("code_mode", "code"), "description": _("Shared: the code itself. Unique: its prefix.")},
        ),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _issued=Count("coupons"),
                _redeemed=Count("coupons", filter=Q(coupons__redeemed_at__isnull=False)),
            )
        )

    @admin.display(description=_("Coupons issued"), ordering="_issued")
    def issued(self, obj):
        return obj._issued

    @admin.display(description=_("Redeemed"), ordering="_redeemed")
    def redeemed(self, obj):
        return obj._redeemed


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ("code", "offer", "customer", "issued_at", "redeemed_at")
    list_filter = ("offer", ("redeemed_at", admin.EmptyFieldListFilter))
    search_fields = ("code", "customer__external_id", "customer__email")
    list_select_related = ("offer", "customer")
    autocomplete_fields = ("offer", "customer")
    readonly_fields = ("issued_at", "redeemed_at", "redeemed_by")
    date_hierarchy = "issued_at"

    def has_add_permission(self, request):
        return False  # coupons come from campaigns (issue_coupons), one per recipient
