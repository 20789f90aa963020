"""Admin for import jobs: upload a file, an import task runs the same service as the command."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from shop.importers.jobs import import_job_queue, validate_upload_name
from shop.models import ImportJob


class ImportJobForm(forms.ModelForm):
    class Meta:
        model = ImportJob
        fields = ["kind", "file"]
        help_texts = {
            "file": _(
                "MovieLens: a .zip of the ml-100k or ml-1m directory. Online Retail: .csv, .csv.gz or .xlsx. "
                "Customers / products / interactions: .csv or .csv.gz with the columns listed in the README."
            ),
        }

    def clean(self):
        cleaned = super().clean()
        upload, kind = cleaned.get("file"), cleaned.get("kind")
        if upload and kind:
            try:
                validate_upload_name(kind=kind, name=upload.name)
            except ValidationError as error:
                self.add_error("file", error.messages)
        return cleaned


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    form = ImportJobForm
    list_display = ["id", "kind", "status", "rows_read", "rows_imported", "created_by", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    search_fields = ["file", "error"]
    list_select_related = ["created_by"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "status", "rows_read", "rows_imported", "skipped_by_reason", "summary_json", "error",
        "started_at", "finished_at", "created_by", "created_at",
    ]  # fmt: skip
    actions = ["run_again"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["kind", "file"]
        return ["kind", "file", *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["kind", "file", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return  # a job's file and kind are what it ran on; upload a new one instead
        import_job_queue(job=obj, user=request.user)
        self.message_user(request, _("Import queued: its status and summary appear here when it finishes."))

    @admin.action(description=_("Run the selected imports again (re-importing adds nothing already stored)"))
    def run_again(self, request, queryset):
        jobs = list(queryset.exclude(status=ImportJob.Status.RUNNING))
        for job in jobs:
            import_job_queue(job=job)
        self.message_user(
            request,
            ngettext("Queued %(n)d import.", "Queued %(n)d imports.", len(jobs)) % {"n": len(jobs)},
            messages.SUCCESS,
        )

    @admin.display(description=_("Skipped by reason"))
    def skipped_by_reason(self, obj):
        skipped = (obj.summary or {}).get("skipped_by_reason") or {}
        return ", ".join(f"{reason.replace('_', ' ')}: {count:,}" for reason, count in skipped.items()) or "-"

    @admin.display(description=_("Summary"))
    def summary_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.summary, indent=2)) if obj.summary else "-"
