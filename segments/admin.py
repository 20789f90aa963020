"""Admin: define segmentations (a form per method), run them, read runs and segments, export members."""

from __future__ import annotations

import csv
import itertools
import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.functional import lazy
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import format_lazy, slugify
from django.utils.translation import gettext_lazy as _

from config.admin_display import PercentFieldsMixin, ReadOnlyAdminMixin, mapping_table, seconds_text, value_text
from config.jobs import QueueUnavailable
from segments import services
from segments.ml.features import ALL_BASE_FEATURES, DEFAULT_CLUSTER_FEATURES, FEATURE_LABELS
from segments.ml.rfm import rfm_rules_table
from segments.models import Membership, Segment, SegmentationDefinition, SegmentationMethod, SegmentationRun
from segments.naming import translate_feature_label
from segments.parameters import DEFAULTS
from segments.rules import parse_rules_parameters
from segments.static_lists import external_ids_from_csv

# Feature labels in the reader's language (segments.naming translates them as the staff pages do).
FEATURE_CHOICES = [
    (name, lazy(translate_feature_label, str)(FEATURE_LABELS.get(name, name))) for name in ALL_BASE_FEATURES
]
FEATURE_CHOICES += [("category_shares", _("share of spend per top category"))]
RULES_HELP = _(
    'JSON: {"segments": [{"name": "VIP", "rule": {"all": [{"field": "monetary", "op": ">", "value": 1000}, '
    '{"field": "last_purchase_at", "op": "within_last_days", "value": 90}]}}]}. Operators: =, ≠, <, ≤, >, ≥, in, '
    "between, contains, within_last_days; groups: all (AND), any (OR). First matching rule wins."
)


class SegmentationDefinitionForm(forms.ModelForm):
    """One form for every method; the fields of the chosen method become its parameters."""

    features = forms.MultipleChoiceField(
        label=_("Features"),
        choices=FEATURE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=format_lazy(
            _("K-means / DBSCAN. None ticked: the default set ({features})."),
            features=", ".join(DEFAULT_CLUSTER_FEATURES),
        ),
    )
    as_of = forms.DateField(
        required=False,
        label=_("As of"),
        help_text=_(
            "Measure recency and tenure from the end of this day; empty: now (for historical data with no "
            "event in the last 30 days, its last event)."
        ),
    )
    k = forms.IntegerField(
        required=False,
        min_value=2,
        max_value=50,
        label="k",
        help_text=_("K-means: empty chooses k by silhouette and stability."),
    )
    k_max = forms.IntegerField(
        required=False,
        min_value=2,
        max_value=30,
        initial=10,
        label=_("Largest k"),
        help_text=_("K-means: largest k tried."),
    )
    sample_size = forms.IntegerField(
        required=False,
        label=_("Sample size"),
        min_value=100,
        help_text=_("K-means: sample for choosing k; DBSCAN: sample the model is fitted on."),
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        initial=42,
        label=_("Seed"),
        help_text=_("Random seed: the same seed gives the same segments."),
    )
    eps = forms.FloatField(
        required=False, min_value=0.0, label="eps", help_text=_("DBSCAN: empty takes eps from the k-distance knee.")
    )
    min_samples = forms.IntegerField(
        required=False,
        min_value=2,
        initial=10,
        label=_("Smallest neighbourhood"),
        help_text=_("DBSCAN: min_samples, the neighbours a core point needs."),
    )
    rules = forms.CharField(
        required=False,
        label=_("Rules"),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 100}),
        help_text=RULES_HELP,
    )
    customer_csv = forms.FileField(
        required=False,
        label=_("Customer ids (CSV)"),
        help_text=_("Static list: a CSV with a column external_id / customer_id (or ids in the first column)."),
    )

    class Meta:
        model = SegmentationDefinition
        fields = ["name", "description", "method", "no_purchase_policy", "features"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        params = self.instance.parameters or {}
        for key in ("k", "k_max", "sample_size", "seed", "eps", "min_samples", "as_of"):
            if params.get(key) is not None:
                self.initial[key] = params[key]
        if params.get("segments"):
            self.initial["rules"] = json.dumps({"segments": params["segments"]}, indent=2, ensure_ascii=False)

    def _update_errors(self, errors):
        # The model reports bad parameters under "parameters", which the form shows as a whole-form error.
        if hasattr(errors, "error_dict") and "parameters" in errors.error_dict:
            errors.error_dict.setdefault(NON_FIELD_ERRORS, []).extend(errors.error_dict.pop("parameters"))
        super()._update_errors(errors)

    def clean_features(self):
        return list(self.cleaned_data.get("features") or [])

    def clean(self):
        data = super().clean()
        method = data.get("method")
        if not method:
            return data
        params = {key: value for key, value in (self.instance.parameters or {}).items() if key in DEFAULTS[method]}
        if data.get("as_of"):
            params["as_of"] = data["as_of"].isoformat()
        if method == SegmentationMethod.KMEANS:
            params.update(k=data.get("k"))
            for key in ("k_max", "sample_size", "seed"):
                if data.get(key) is not None:
                    params[key] = data[key]
        elif method == SegmentationMethod.DBSCAN:
            params.update(eps=data.get("eps"))
            for key in ("min_samples", "sample_size", "seed"):
                if data.get(key) is not None:
                    params[key] = data[key]
        elif method == SegmentationMethod.RULES:
            params["segments"] = self._rules(data.get("rules") or "")
        elif method == SegmentationMethod.STATIC:
            upload = data.get("customer_csv")
            if upload:
                try:
                    params["external_ids"] = external_ids_from_csv(line.decode("utf-8-sig") for line in upload)
                except (UnicodeDecodeError, ValueError) as exc:
                    self.add_error("customer_csv", _("Cannot read customer ids: %(error)s") % {"error": exc})
            elif not params.get("external_ids"):
                self.add_error("customer_csv", _("Upload the CSV of customer ids."))
        if not self.errors:
            self.instance.parameters = params
        return data

    def _rules(self, text: str) -> list:
        if not text.strip():
            self.add_error("rules", _("A rules segmentation needs rules."))
            return []
        try:
            data = json.loads(text)
        except ValueError as exc:
            self.add_error("rules", _("Not valid JSON: %(error)s") % {"error": exc})
            return []
        segments = (
            data["segments"]
            if isinstance(data, dict) and "segments" in data
            else [{"name": "Matching customers", "rule": data}]
        )
        try:
            parse_rules_parameters({"segments": segments})
        except ValidationError as exc:
            self.add_error("rules", exc.messages[0])
        return segments


def _rule_text(rule) -> str:
    """A stored rule in words: {"all": [{"field": "monetary", "op": ">", "value": 1000}, ...]} ->
    'monetary > 1,000 and ...'; groups in parentheses."""
    if isinstance(rule, dict) and ("all" in rule or "any" in rule):
        joiner = " and " if "all" in rule else " or "
        parts = [_rule_text(r) for r in rule.get("all") or rule.get("any") or []]
        return "(" + joiner.join(parts) + ")" if len(parts) > 1 else "".join(parts)
    if isinstance(rule, dict) and "field" in rule:
        op = str(rule.get("op", "")).replace("_", " ")
        return f"{rule['field']} {op} {value_text(rule.get('value'))}".strip()
    return value_text(rule)


def _table(headers: list[str], rows: list[list]) -> str:
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


@admin.register(SegmentationDefinition)
class SegmentationDefinitionAdmin(admin.ModelAdmin):
    form = SegmentationDefinitionForm
    list_display = ["name", "method", "active_run_link", "active_run_finished", "no_purchase_policy", "updated_at"]
    list_filter = ["method", "no_purchase_policy"]
    list_select_related = ["active_run"]
    search_fields = ["name", "description"]
    readonly_fields = ["active_run_link", "saved_parameters", "rfm_score_rules", "runs_link"]
    actions = ["run_now"]
    fieldsets = [
        (None, {"fields": ["name", "description", "method", "no_purchase_policy", "as_of"]}),
        (_("K-means"), {"fields": ["k", "k_max", "sample_size", "seed"], "classes": ["collapse"]}),
        (_("DBSCAN"), {"fields": ["eps", "min_samples"], "classes": ["collapse"]}),
        (_("K-means and DBSCAN features"), {"fields": ["features"], "classes": ["collapse"]}),
        (_("Rules"), {"fields": ["rules"], "classes": ["collapse"]}),
        (_("Static list"), {"fields": ["customer_csv"], "classes": ["collapse"]}),
        (_("RFM score rules"), {"fields": ["rfm_score_rules"], "classes": ["collapse"]}),
        (_("State"), {"fields": ["active_run_link", "saved_parameters", "runs_link"]}),
    ]

    @admin.display(description=_("active run"))
    def active_run_link(self, obj):
        if not obj.active_run_id:
            return "—"
        url = reverse("admin:segments_segmentationrun_change", args=[obj.active_run_id])
        return format_html('<a href="{}">{}</a>', url, _("run #%(run)s") % {"run": obj.active_run_id})

    @admin.display(description=_("active since"))
    def active_run_finished(self, obj):
        return obj.active_run.finished_at if obj.active_run else None

    @admin.display(description=_("parameters"))
    def saved_parameters(self, obj):
        return mapping_table(obj.parameters)

    @admin.display(description=_("RFM groups (R = recency score, FM = rounded mean of frequency and monetary scores)"))
    def rfm_score_rules(self, obj):
        rows = [[r["group"], r["r"], r["fm"], r["meaning"]] for r in rfm_rules_table()]
        note = _(
            "Scores are quintiles 1–5 (5 = most recent / most orders / most spend); the first matching row names the "
            "group."
        )
        return format_html("<p>{}</p>{}", note, _table([_("group"), "R", "FM", _("meaning")], rows))

    @admin.display(description=_("runs"))
    def runs_link(self, obj):
        if not obj.pk:
            return "—"
        url = reverse("admin:segments_segmentationrun_changelist") + "?" + urlencode({"definition__id__exact": obj.pk})
        return format_html('<a href="{}">{}</a>', url, _("all runs"))

    @admin.action(description=_("Run now"))
    def run_now(self, request, queryset):
        for definition in queryset:
            try:
                run = services.segmentation_run_enqueue(definition=definition)
            except ValidationError as exc:
                self.message_user(request, f"{definition}: {exc.messages[0]}", messages.WARNING)
                continue
            except QueueUnavailable as exc:  # the broker is down: the run was failed, say so and stop trying
                self.message_user(request, f"{definition}: {exc}", messages.ERROR)
                return
            self.message_user(
                request,
                _("%(definition)s: run #%(run)s queued.") % {"definition": definition, "run": run.pk},
                messages.SUCCESS,
            )


class SegmentInline(PercentFieldsMixin, admin.TabularInline):
    model = Segment
    fields = ["name", "size", "share", "description"]
    readonly_fields = [*fields, "share_percent"]
    percent_fields = ("share",)
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SegmentationRun)
class SegmentationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "definition",
        "method",
        "status",
        "progress",
        "customers_seen",
        "k",
        "silhouette",
        "created_at",
    ]
    list_filter = ["status", "method", "definition"]
    list_select_related = ["definition"]
    search_fields = ["definition__name", "error"]
    date_hierarchy = "created_at"
    inlines = [SegmentInline]
    fields = [
        "definition",
        "method",
        "status",
        "progress",
        "stage",
        "started_at",
        "finished_at",
        "took",
        "customers_seen",
        "previous_run",
        "metrics_table",
        "silhouette_by_k",
        "timings_table",
        "movement_table",
        "parameters_table",
        "error",
    ]
    readonly_fields = fields

    @admin.display(description=_("took"))
    def took(self, obj):
        return seconds_text(obj.duration_seconds)

    @admin.display(description=_("k"))
    def k(self, obj):
        return obj.metrics.get("k")

    @admin.display(description=_("silhouette"))
    def silhouette(self, obj):
        value = obj.metrics.get("silhouette")
        return f"{value:.3f}" if isinstance(value, float) else "—"

    @admin.display(description=_("metrics"))
    def metrics_table(self, obj):
        rows = [[k, value_text(v)] for k, v in obj.metrics.items() if not isinstance(v, dict | list)]
        return _table([_("metric"), _("value")], rows) if rows else "—"

    @admin.display(description=_("scores by k (on a sample)"))
    def silhouette_by_k(self, obj):
        scores = obj.metrics.get("silhouette_by_k") or {}
        stability = obj.metrics.get("stability_by_k") or {}
        rows = [
            [k, value_text(v), value_text(stability.get(k)), _("chosen") if str(obj.metrics.get("k")) == k else ""]
            for k, v in scores.items()
        ]
        return _table(["k", _("silhouette"), _("stability"), ""], rows) if scores else "—"

    @admin.display(description=_("timings"))
    def timings_table(self, obj):
        rows = [[k, seconds_text(v)] for k, v in obj.timings.items()]
        return _table([_("stage"), _("took")], rows) if rows else "—"

    @admin.display(description=_("movement from the previous run"))
    def movement_table(self, obj):
        if not obj.movement:
            return "—"
        rows = [
            [m["from_name"] or _("(not segmented)"), m["to_name"] or _("(not segmented)"), m["customers"]]
            for m in obj.movement
        ]
        return _table([_("from"), _("to"), _("customers")], rows)

    @admin.display(description=_("parameters"))
    def parameters_table(self, obj):
        return mapping_table(obj.parameters)


@admin.register(Segment)
class SegmentAdmin(PercentFieldsMixin, admin.ModelAdmin):
    list_display = ["name", "definition_name", "run", "size", "share_percent", "name_is_custom"]
    list_filter = ["run__method", "run__definition", "name_is_custom"]
    list_select_related = ["run", "run__definition"]
    search_fields = ["name", "description", "key", "run__definition__name"]
    fields = ["name", "key", "run", "description", "size", "share", "members", "profile_view"]
    readonly_fields = ["key", "run", "description", "size", "share", "share_percent", "members", "profile_view"]
    percent_fields = ("share",)
    actions = ["export_members"]

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        urls = [
            path(
                "<int:segment_id>/members.csv",
                self.admin_site.admin_view(self.members_csv_view),
                name="segments_segment_members_csv",
            )
        ]
        return urls + super().get_urls()

    @admin.display(description=_("segmentation"), ordering="run__definition__name")
    def definition_name(self, obj):
        return obj.run.definition.name

    @admin.display(description=_("share"), ordering="share")
    def share_percent(self, obj):
        return f"{obj.share:.1%}"

    @admin.display(description=_("members"))
    def members(self, obj):
        listing = reverse("admin:segments_membership_changelist") + "?" + urlencode({"segment__id__exact": obj.pk})
        export = reverse("admin:segments_segment_members_csv", args=[obj.pk])
        browse = _("browse and search %(n)s members") % {"n": f"{obj.size:,}"}
        return format_html('<a href="{}">{}</a> · <a href="{}">CSV</a>', listing, browse, export)

    @admin.display(description=_("profile"))
    def profile_view(self, obj):
        profile = obj.profile or {}
        features = sorted((profile.get("features") or {}).values(), key=lambda f: -abs(f.get("distinctiveness") or 0))
        feature_rows = [
            [f["label"], _fmt(f["mean"]), _fmt(f["overall"]), _fmt(f["z"], 2)]
            for f in features
            if f.get("mean") is not None
        ]
        parts = [
            format_html(
                "<p>{}</p>",
                _("Size %(size)s (%(share)s of customers), revenue share %(revenue)s.")
                % {
                    "size": f"{profile.get('size', obj.size):,}",
                    "share": f"{profile.get('share', obj.share):.1%}",
                    "revenue": f"{profile.get('revenue_share', 0.0):.1%}",
                },
            ),
            _table(
                [_("feature (most distinctive first)"), _("segment mean"), _("all customers"), _("z-score")],
                feature_rows,
            ),
        ]
        if profile.get("top_categories"):
            rows = [[c["category"], f"{c['spend_share']:.0%}"] for c in profile["top_categories"]]
            parts.append(_table([_("top category"), _("share of members' spend")], rows))
        if profile.get("top_products"):
            rows = [[p["sku"], p["name"], f"{p.get('share_of_members', 0):.0%}"] for p in profile["top_products"]]
            parts.append(_table([_("top product"), _("name"), _("share of members who bought it")], rows))
        if profile.get("rfm_rule"):
            rule = profile["rfm_rule"]
            text = _("RFM rule: R %(r)s, FM %(fm)s — %(meaning)s.") % {
                "r": rule["r"],
                "fm": rule["fm"],
                "meaning": rule["meaning"],
            }
            parts.append(format_html("<p>{}</p>", text))
        if profile.get("rule"):
            rule = _rule_text(profile["rule"])
            where = profile.get("evaluated_in")
            text = _("Rule (evaluated in the %(where)s): %(rule)s") % {"where": where, "rule": rule}
            parts.append(format_html("<p>{}</p>", text))
        return format_html_join("", "{}", ((p,) for p in parts))

    def save_model(self, request, obj, form, change):
        if change and "name" in form.changed_data:
            services.segment_rename(segment=obj, name=form.cleaned_data["name"])
        elif not change:
            super().save_model(request, obj, form, change)

    def members_csv_view(self, request, segment_id: int):
        segment = get_object_or_404(Segment, pk=segment_id)
        if not self.has_view_permission(request, segment):
            return HttpResponse(status=403)
        return _members_csv([segment], filename=f"{slugify(segment.name) or 'segment'}-{segment.pk}.csv")

    @admin.action(description=_("Export members as CSV"))
    def export_members(self, request, queryset):
        return _members_csv(list(queryset), filename="segment-members.csv")


def _fmt(value, digits: int = 1):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


class _Echo:
    def write(self, value):
        return value


def _members_csv(segments: list[Segment], *, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    names = {s.pk: s.name for s in segments}

    def rows():
        yield writer.writerow(["segment", "external_id", "email", "name"])
        memberships = (
            Membership.objects.filter(segment__in=list(names))
            .order_by("segment_id", "customer_id")
            .values_list("segment_id", "customer__external_id", "customer__email", "customer__name")
        )
        for segment_id, external_id, email, name in memberships.iterator(chunk_size=5000):
            yield writer.writerow([names[segment_id], external_id, email, name])

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["customer_external_id", "customer_email", "segment", "segmentation"]
    list_filter = ["segment__run__method"]
    list_select_related = ["customer", "segment", "segment__run__definition"]
    search_fields = ["customer__external_id", "customer__email", "customer__name", "segment__name"]
    autocomplete_fields = ["customer"]
    raw_id_fields = ["segment"]
    list_per_page = 100
    show_full_result_count = False
    actions = ["export_csv"]

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_external_id(self, obj):
        return obj.customer.external_id

    @admin.display(description=_("email"))
    def customer_email(self, obj):
        return obj.customer.email

    @admin.display(description=_("segmentation"))
    def segmentation(self, obj):
        return obj.segment.run.definition.name

    @admin.action(description=_("Export selected memberships as CSV"))
    def export_csv(self, request, queryset):
        writer = csv.writer(_Echo())
        rows = queryset.order_by("segment_id", "customer_id").values_list(
            "segment__name", "customer__external_id", "customer__email", "customer__name"
        )
        header = [("segment", "external_id", "email", "name")]
        stream = (writer.writerow(r) for r in itertools.chain(header, rows.iterator(chunk_size=5000)))
        response = StreamingHttpResponse(stream, content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="memberships.csv"'
        return response
