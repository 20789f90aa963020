"""Model registry in admin: runs with their metrics side by side, promote / roll back / train now."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from recommender.models import ServedRecommendation, TrainingRun
from recommender.services import promote_model, queue_training, rollback_model


def _metric(name: str, label: str):
    def show(run: TrainingRun):
        value = run.metrics.get(name)
        return "—" if value is None else f"{value:.4f}"

    show.short_description = label
    return show


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
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
        _metric("coverage", "coverage"),
        "n_users",
        "n_items",
        "n_interactions",
        "duration",
        "created_at",
        "decision",
    )
    list_filter = ("status", "algorithm", "is_active")
    search_fields = ("=id", "algorithm", "decision", "error")
    list_select_related = ()
    ordering = ("-created_at", "-id")
    actions = ("promote", "roll_back")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]

    def has_add_permission(self, request):
        return False  # runs come from training ("Train now" above the list, the command or the schedule)

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(boolean=True, description="active", ordering="is_active")
    def serving(self, run: TrainingRun) -> bool:
        return run.is_active

    @admin.display(description="seconds", ordering="duration_seconds")
    def duration(self, run: TrainingRun) -> str:
        return "—" if run.duration_seconds is None else f"{run.duration_seconds:.1f}"

    @admin.action(description="Promote the selected run (make it the served model)")
    def promote(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one run to promote.", messages.ERROR)
            return
        try:
            run = promote_model(run=queryset.get())
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(request, f"Run #{run.pk} is now the active model.", messages.SUCCESS)

    @admin.action(description="Roll back to the previously active model")
    def roll_back(self, request, queryset):
        try:
            run = rollback_model()
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(request, f"Rolled back: run #{run.pk} is the active model again.", messages.SUCCESS)

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
        self.message_user(
            request, f"Training run #{run.pk} queued ({algorithm or 'algorithm chosen by size'}).", messages.SUCCESS
        )
        return redirect(changelist)

    def changelist_view(self, request, extra_context=None):
        from recommender.ml.registry import ALGORITHMS

        extra_context = {
            **(extra_context or {}),
            "algorithms": sorted(ALGORITHMS),
            "customer_search_url": _staff_url("recommender:customer-search"),
        }
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(ServedRecommendation)
class ServedRecommendationAdmin(admin.ModelAdmin):
    list_display = ("recommendation_id", "customer_link", "surface", "run", "served_at")
    list_filter = ("surface", "served_at")
    search_fields = ("=recommendation_id", "=customer__external_id")
    list_select_related = ("customer", "run")
    autocomplete_fields = ("customer",)
    readonly_fields = ("recommendation_id", "run", "customer", "surface", "skus", "reasons", "served_at")
    date_hierarchy = "served_at"

    def has_add_permission(self, request):
        return False

    @admin.display(description="customer", ordering="customer__external_id")
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
