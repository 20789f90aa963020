"""Admin side of privacy: export and erase selected customers (both audited), and the audit trail itself."""

import json

from django.contrib import admin, messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from shop import privacy
from shop.models import PrivacyRequest

# Erasing is one transaction per customer; a larger selection should go through the API in a script.
MAX_ERASE_SELECTION = 100


@admin.action(description=_("Export personal data of selected customers (JSON download)"))
def export_personal_data(modeladmin, request, queryset):
    documents = [privacy.export_customer(customer=customer, user=request.user) for customer in queryset]
    response = HttpResponse(json.dumps(documents, cls=DjangoJSONEncoder, indent=2), content_type="application/json")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="customer-export-{stamp}.json"'
    return response


@admin.action(description=_("Erase selected customers and all their data (asks first)"))
def erase_customers(modeladmin, request, queryset):
    count = queryset.count()
    if count > MAX_ERASE_SELECTION:
        modeladmin.message_user(
            request,
            _("Select at most %(max)d customers to erase at once; got %(count)d.")
            % {"max": MAX_ERASE_SELECTION, "count": count},
            messages.ERROR,
        )
        return None
    if request.POST.get("confirm") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": _("Erase customers?"),
            "customers": queryset,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/shop/customer/erase_confirmation.html", context)
    for customer in queryset:
        privacy.erase_customer(customer=customer, user=request.user)
    modeladmin.message_user(
        request,
        ngettext("Erased %(n)d customer and their data.", "Erased %(n)d customers and their data.", count)
        % {"n": count},
        messages.SUCCESS,
    )
    return None


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "api_client", "user", "counts"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor"]
    list_select_related = ["api_client", "user"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
