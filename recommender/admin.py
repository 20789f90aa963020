"""Model registry in admin: runs with their metrics side by side, promote / roll back / train now."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from config.admin_display import ReadOnlyAdminMixin, mapping_table, seconds_text, value_text
from config.jobs import QueueUnavailable
from recommender.models import ModelSwitch, ServedRecommendation, TrainingRun
from recommender.services import promote_model, queue_training, rollback_model


def _metric(name: str, label: str):
    def show(run: TrainingRun):
        value = run.metrics.get(name)
        return "—" if value is None else f"{value:.4f}"

    show.short_description = label
    return show


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    change_list_template = "recommender/admin/trainingrun_change_list.html"
    list_display = (
        "id",
        "serving",
        "algorithm",
        "status",
        _metric("ndcg@10", "nDCG@10"),
        _metric("precision@10", "P@10"),
        _metric("recall@10", "R@10"),
        _metric("map", "MAP"),
        _metric("coverage", _("coverage")),
        "n_users",
        "n_items",
        "n_interactions",
        "duration",
        "created_at",
        "state",
        "gate_decision",
    )
    list_filter = ("status", "algorithm", "is_active")
    search_fields = ("=id", "algorithm", "decision", "error")
    list_select_related = ()
    ordering = ("-created_at", "-id")
    actions = ("promote", "roll_back")
    # Runs come from training ("Train now" above the list, the command or a schedule): read only, values for people.
    fields = [
        "algorithm",
        "status",
        "state",
        "decision",
        "error",
        "metrics_table",
        "parameters_table",
        "n_users",
        "n_items",
        "n_interactions",
        "data_until",
        "created_at",
        "started_at",
        "finished_at",
        "took",
        "promoted_at",
        "rolled_back_at",
        "artifact_path",
        "switch_history",
    ]
    readonly_fields = fields

    @admin.display(description=_("metrics"))
    def metrics_table(self, run: TrainingRun):
        return mapping_table(run.metrics, key_header=_("metric"))

    @admin.display(description=_("parameters"))
    def parameters_table(self, run: TrainingRun):
        return mapping_table(run.parameters)

    @admin.display(description=_("took"), ordering="duration_seconds")
    def took(self, run: TrainingRun) -> str:
        return seconds_text(run.duration_seconds)

    @admin.display(boolean=True, description=_("active"), ordering="is_active")
    def serving(self, run: TrainingRun) -> bool:
        return run.is_active

    @admin.display(description=_("took"), ordering="duration_seconds")
    def duration(self, run: TrainingRun) -> str:
        return seconds_text(run.duration_seconds)

    @admin.display(description=_("serving"))
    def state(self, run: TrainingRun) -> str:
        return run.serving_state

    @admin.display(description=_("champion gate (at training)"), ordering="decision")
    def gate_decision(self, run: TrainingRun) -> str:
        return run.decision or "—"

    @admin.display(description=_("model switches (who, when, from, to, why)"))
    def switch_history(self, run: TrainingRun):
        switches = (
            ModelSwitch.objects.filter(Q(from_run=run) | Q(to_run=run))
            .select_related("acting_user")
            .order_by("-switched_at", "-id")
        )
        if not switches:
            return _("This run has never been switched to or from.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{switch.switched_at:%Y-%m-%d %H:%M:%S}",
                    switch.get_kind_display(),
                    switch.actor,
                    f"#{switch.from_run_id}" if switch.from_run_id else _("no model"),
                    f"#{switch.to_run_id}",
                    switch.reason or "—",
                )
                for switch in switches
            ),
        )
        head = format_html_join(
            "", "<th>{}</th>", ((label,) for label in (_("when"), _("switch"), _("by"), _("from"), _("to"), _("why")))
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    @admin.action(description=_("Promote the selected run (make it the served model)"))
    def promote(self, request, queryset):
        return self._switch(request, queryset, kind=ModelSwitch.Kind.PROMOTE)

    @admin.action(description=_("Roll back to the selected run (or, if the active run is selected, to the one before)"))
    def roll_back(self, request, queryset):
        return self._switch(request, queryset, kind=ModelSwitch.Kind.ROLLBACK)

    def _switch(self, request, queryset, *, kind: str):
        """Ask for the reason on a confirmation page, then switch as the acting user (recorded in the history)."""
        promote = kind == ModelSwitch.Kind.PROMOTE
        verb = _("promote") if promote else _("roll back to")
        if queryset.count() != 1:
            one = _("Select exactly one run to promote.") if promote else _("Select exactly one run to roll back to.")
            self.message_user(request, one, messages.ERROR)
            return None
        run = queryset.get()
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            active = TrainingRun.objects.filter(is_active=True).first()
            context = {
                **self.admin_site.each_context(request),
                "title": (_("Promote run #%(run)s?") if promote else _("Roll back to run #%(run)s?")) % {"run": run.pk},
                "opts": self.model._meta,
                "run": run,
                "active": active,
                "kind": kind,
                "verb": verb,
                "action": request.POST.get("action", ""),
                "reason": reason,
                "missing_reason": request.POST.get("confirm") == "yes" and not reason,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "recommender/admin/trainingrun_switch_confirm.html", context)
        try:
            if kind == ModelSwitch.Kind.PROMOTE:
                was_active = run.is_active
                run = promote_model(run=run, acting_user=request.user, reason=reason)
                if was_active:
                    self.message_user(
                        request, _("Run #%(run)s is already the active model.") % {"run": run.pk}, messages.WARNING
                    )
                    return None
            else:
                run = rollback_model(run=run, acting_user=request.user, reason=reason)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return None
        if kind == ModelSwitch.Kind.PROMOTE:
            done = _("Promoted: run #%(run)s is the active model.") % {"run": run.pk}
        else:
            done = _("Rolled back: run #%(run)s is the active model.") % {"run": run.pk}
        self.message_user(request, done, messages.SUCCESS)
        return None

    def get_urls(self):
        return [
            path("train/", self.admin_site.admin_view(self.train_view), name="recommender_trainingrun_train"),
            *super().get_urls(),
        ]

    def train_view(self, request):
        changelist = reverse("admin:recommender_trainingrun_changelist")
        if request.method != "POST" or not request.user.has_perm("recommender.add_trainingrun"):
            return redirect(changelist)
        algorithm = request.POST.get("algorithm") or None
        try:
            run = queue_training(algorithm=algorithm)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return redirect(changelist)
        except QueueUnavailable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect(changelist)
        # Without a broker Celery runs the task here, before queue_training returns: say what happened to the run.
        run.refresh_from_db()
        facts = {"run": run.pk, "algorithm": run.algorithm or algorithm or _("algorithm chosen by size")}
        if run.status == TrainingRun.Status.SUCCEEDED:
            note, level = _("Training run #%(run)s (%(algorithm)s) ran now and succeeded."), messages.SUCCESS
        elif run.status == TrainingRun.Status.FAILED:
            facts["error"] = run.error.split("\n", 1)[0] or _("no reason recorded")  # the traceback stays on the run
            note, level = _("Training run #%(run)s (%(algorithm)s) failed: %(error)s"), messages.ERROR
        elif run.status == TrainingRun.Status.RUNNING:
            note, level = _("Training run #%(run)s (%(algorithm)s) is running."), messages.SUCCESS
        else:
            note = _("Training run #%(run)s (%(algorithm)s) is queued: a worker will run it.")
            level = messages.SUCCESS
        self.message_user(request, note % facts, level)
        return redirect(changelist)

    def changelist_view(self, request, extra_context=None):
        from recommender.ml.registry import ALGORITHMS

        extra_context = {
            **(extra_context or {}),
            "algorithms": sorted(ALGORITHMS),
            "customer_search_url": _staff_url("recommender:customer-search"),
        }
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(ModelSwitch)
class ModelSwitchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The model history: every change of the served model, newest first. Written by the services only."""

    list_display = ("switched_at", "kind", "actor", "from_link", "to_link", "reason")
    list_filter = ("kind", "switched_at")
    search_fields = ("reason", "acting_user_name", "=from_run__id", "=to_run__id")
    list_select_related = ("from_run", "to_run")
    date_hierarchy = "switched_at"
    readonly_fields = ("switched_at", "kind", "acting_user", "acting_user_name", "from_run", "to_run", "reason")

    @admin.display(description=_("by"), ordering="acting_user_name")
    def actor(self, switch: ModelSwitch) -> str:
        return switch.actor

    @admin.display(description=_("from"), ordering="from_run")
    def from_link(self, switch: ModelSwitch):
        return _run_link(switch.from_run) if switch.from_run else _("no model")

    @admin.display(description=_("to"), ordering="to_run")
    def to_link(self, switch: ModelSwitch):
        return _run_link(switch.to_run) if switch.to_run else "—"


def _run_link(run: TrainingRun):
    url = reverse("admin:recommender_trainingrun_change", args=[run.pk])
    return format_html('<a href="{}">#{} {}</a>', url, run.pk, run.algorithm)


@admin.register(ServedRecommendation)
class ServedRecommendationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("recommendation_id", "customer_link", "surface", "run", "served_at")
    list_filter = ("surface", "served_at")
    search_fields = ("=recommendation_id", "=customer__external_id")
    list_select_related = ("customer", "run")
    autocomplete_fields = ("customer",)
    fields = ("recommendation_id", "run", "customer", "surface", "served_at", "products")
    readonly_fields = fields
    date_hierarchy = "served_at"

    @admin.display(description=_("products, with the reason each was shown"))
    def products(self, served: ServedRecommendation):
        reasons = list(served.reasons or [])
        reasons += [None] * (len(served.skus or []) - len(reasons))
        rows = ((i + 1, sku, value_text(reasons[i])) for i, sku in enumerate(served.skus or []))
        return format_html(
            "<table><thead><tr><th>#</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("product"),
            _("why"),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description=_("customer"), ordering="customer__external_id")
    def customer_link(self, served: ServedRecommendation):
        if served.customer is None:
            return "—"
        url = _staff_url("recommender:customer", served.customer.external_id)
        if url is None:
            return served.customer.external_id
        return format_html('<a href="{}">{}</a>', url, served.customer.external_id)


def _staff_url(name: str, *args) -> str | None:
    """The staff page's URL, or None while recommender.urls is not included in the project's URLs."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None
