"""Admin for the shop data. Import jobs and API clients have their own modules, imported here."""

import calendar
from datetime import date

from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db.models import Avg, Count, Q, Sum
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from shop import admin_api_clients, admin_imports, admin_privacy, admin_sources  # noqa: F401  (registers their admin classes)
from shop.models import Category, Customer, Interaction, InteractionKind, Product
from shop.privacy import ERASED_REPR

RECENT_INTERACTIONS = 20
EVENT_DATE_BOUNDS_CACHE = "shop:admin:interaction-date-bounds"


def event_date_bounds() -> tuple[date, date] | None:
    """First and last event day: one index seek per kind on (kind, occurred_at), cached for a few minutes."""
    bounds = cache.get(EVENT_DATE_BOUNDS_CACHE)
    if bounds is None:
        firsts, lasts = [], []
        for kind in InteractionKind.values:
            of_kind = Interaction.objects.filter(kind=kind).values_list("occurred_at", flat=True)
            firsts.append(of_kind.order_by("occurred_at").first())
            lasts.append(of_kind.order_by("-occurred_at").first())
        firsts, lasts = [d for d in firsts if d], [d for d in lasts if d]
        bounds = (timezone.localdate(min(firsts)), timezone.localdate(max(lasts))) if firsts else ()
        cache.set(EVENT_DATE_BOUNDS_CACHE, bounds, 300)
    return bounds or None


def event_date_hierarchy(params: QueryDict, field: str = "occurred_at") -> dict:
    """The interaction list's year / month / day links, without Django's date_hierarchy queries.

    Django lists only the dates that have events, with a SELECT DISTINCT over a date function of every row:
    close to a minute on two million SQLite rows. Here the links span the first to the last event, so an empty
    month may show; filtering by a date still uses the ChangeList's own range lookup.
    """
    bounds = event_date_bounds()
    if bounds is None:
        return {"show": False}
    year, month, day = (params.get(f"{field}__{part}") for part in ("year", "month", "day"))

    def link(**parts) -> str:
        query = params.copy()
        for key in [k for k in query if k.startswith(f"{field}__") or k == "p"]:
            del query[key]
        for part, value in parts.items():
            query[f"{field}__{part}"] = str(value)
        return f"?{query.urlencode()}"

    try:
        y, m, d = int(year) if year else None, int(month) if month else None, int(day) if day else None
        if y and m:
            date(y, m, d or 1)
    except ValueError:
        return {"show": False}
    first, last = bounds
    if y and m and d:
        chosen = date(y, m, d)
        return {
            "show": True,
            "back": {"link": link(year=y, month=m), "title": capfirst(date_format(chosen, "YEAR_MONTH_FORMAT"))},
            "choices": [{"title": capfirst(date_format(chosen, "MONTH_DAY_FORMAT"))}],
        }
    if y and m:
        days = calendar.monthrange(y, m)[1]
        return {
            "show": True,
            "back": {"link": link(year=y), "title": str(y)},
            "choices": [
                {"link": link(year=y, month=m, day=n), "title": date_format(date(y, m, n), "MONTH_DAY_FORMAT")}
                for n in range(1, days + 1)
                if first <= date(y, m, n) <= last
            ],
        }
    if y:
        return {
            "show": True,
            "back": {"link": link(), "title": _("All dates")},
            "choices": [
                {"link": link(year=y, month=n), "title": capfirst(date_format(date(y, n, 1), "YEAR_MONTH_FORMAT"))}
                for n in range(1, 13)
                if (first.year, first.month) <= (y, n) <= (last.year, last.month)
            ],
        }
    return {
        "show": True,
        "choices": [{"link": link(year=n), "title": str(n)} for n in range(first.year, last.year + 1)],
    }


class StockFilter(admin.SimpleListFilter):
    title = gettext_lazy("stock")
    parameter_name = "stock_status"

    def lookups(self, request, model_admin):
        return [("in", _("In stock")), ("out", _("Out of stock")), ("untracked", _("Not tracked"))]

    def queryset(self, request, queryset):
        match self.value():
            case "in":
                return queryset.filter(stock__gt=0)
            case "out":
                return queryset.filter(stock__lte=0)
            case "untracked":
                return queryset.filter(stock__isnull=True)
        return queryset


def interactions_url(**filters) -> str:
    return f"{reverse('admin:shop_interaction_changelist')}?{urlencode(filters)}"


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "parent", "product_count")
    list_select_related = ("parent",)
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("code", "name")
    autocomplete_fields = ("parent",)
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_product_count=Count("products"))

    @admin.display(description=gettext_lazy("products"), ordering="_product_count")
    def product_count(self, obj: Category) -> int:
        return obj._product_count


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "category", "price", "currency", "stock", "is_active", "is_merchandise")
    list_select_related = ("category",)
    list_filter = ("category", "is_active", "is_merchandise", StockFilter, "is_stub")
    search_fields = ("sku", "name")
    autocomplete_fields = ("category",)
    readonly_fields = (
        "units_sold",
        "revenue",
        "returns",
        "net_revenue",
        "buyers",
        "views",
        "average_rating",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("sku", "name", "description", "category", "attributes")}),
        (
            gettext_lazy("Selling"),
            {"fields": ("price", "currency", "stock", "is_active", "is_merchandise", "is_stub")},
        ),
        (
            gettext_lazy("Sales figures (all time)"),
            {"fields": ("units_sold", "revenue", "returns", "net_revenue", "buyers", "views", "average_rating")},
        ),
        (gettext_lazy("Record"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def sales(self, obj: Product) -> dict:
        """All the product's figures in one aggregate query, kept on the object for the other fields."""
        if obj.pk is None:
            return {}
        if not hasattr(obj, "_sales"):
            purchase = Q(kind=InteractionKind.PURCHASE)
            returned = Q(kind=InteractionKind.RETURN)
            obj._sales = Interaction.objects.filter(product=obj).aggregate(
                units=Sum("quantity", filter=purchase, default=0),
                revenue=Sum("amount", filter=purchase, default=0),
                returned_units=Sum("quantity", filter=returned, default=0),
                returned_amount=Sum("amount", filter=returned, default=0),
                buyers=Count("customer", filter=purchase, distinct=True),
                views=Count("pk", filter=Q(kind=InteractionKind.VIEW)),
                ratings=Count("pk", filter=Q(kind=InteractionKind.RATING)),
                rating=Avg("value", filter=Q(kind=InteractionKind.RATING)),
            )
        return obj._sales

    @admin.display(description=gettext_lazy("units sold"))
    def units_sold(self, obj: Product):
        return self.sales(obj).get("units", "-")

    @admin.display(description=gettext_lazy("revenue"))
    def revenue(self, obj: Product):
        return self._money(obj, self.sales(obj).get("revenue"))

    @admin.display(description=gettext_lazy("returns"))
    def returns(self, obj: Product):
        sales = self.sales(obj)
        if not sales:
            return "-"
        return _("%(units)s units, %(amount)s") % {
            "units": sales["returned_units"],
            "amount": self._money(obj, sales["returned_amount"]),
        }

    @admin.display(description=gettext_lazy("net revenue"))
    def net_revenue(self, obj: Product):
        sales = self.sales(obj)
        return self._money(obj, sales["revenue"] - sales["returned_amount"]) if sales else "-"

    @admin.display(description=gettext_lazy("buyers"))
    def buyers(self, obj: Product):
        sales = self.sales(obj)
        if not sales:
            return "-"
        link = interactions_url(product__id__exact=obj.pk, kind__exact=InteractionKind.PURCHASE)
        return format_html('{} <a href="{}">({})</a>', sales["buyers"], link, _("purchases"))

    @admin.display(description=gettext_lazy("views"))
    def views(self, obj: Product):
        return self.sales(obj).get("views", "-")

    @admin.display(description=gettext_lazy("average rating"))
    def average_rating(self, obj: Product):
        sales = self.sales(obj)
        if not sales or not sales["ratings"]:
            return "-"
        return _("%(rating)s from %(n)s ratings") % {"rating": f"{sales['rating']:.2f}", "n": sales["ratings"]}

    @staticmethod
    def _money(obj: Product, value) -> str:
        return "-" if value is None else f"{value:,.2f} {obj.currency}"


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "external_id",
        "name",
        "email",
        "country",
        "gender",
        "signed_up_at",
        "email_consent",
        "sms_consent",
        "push_consent",
        "is_stub",
    )
    list_filter = (
        "gender",
        "country",
        "email_consent",
        "sms_consent",
        "push_consent",
        "is_stub",
        ("signed_up_at", admin.DateFieldListFilter),
    )
    search_fields = ("external_id", "email", "name")
    search_help_text = gettext_lazy("External id, email or name.")
    show_full_result_count = False
    actions = [admin_privacy.export_personal_data, admin_privacy.erase_customers]
    readonly_fields = ("activity", "recent_interactions", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("external_id", "name", "email", "is_stub")}),
        (
            gettext_lazy("Profile"),
            {"fields": ("gender", "birth_year", "city", "postal_code", "country", "signed_up_at")},
        ),
        (
            gettext_lazy("Consent"),
            {
                "fields": (
                    ("email_consent", "email_consent_changed_at"),
                    ("sms_consent", "sms_consent_changed_at"),
                    ("push_consent", "push_consent_changed_at"),
                )
            },
        ),
        (gettext_lazy("Attributes"), {"fields": ("attributes",)}),
        (gettext_lazy("Activity"), {"fields": ("activity", "recent_interactions")}),
        (gettext_lazy("Record"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def log_deletions(self, request, queryset):
        """A deleted customer leaves no personal data in the admin history: the deletion is logged as
        "customer #<id>" (not by name), and earlier entries about them lose their name, as an erasure's do."""
        ids = [str(customer.pk) for customer in queryset]
        content_type = ContentType.objects.get_for_model(Customer)
        LogEntry.objects.filter(content_type=content_type, object_id__in=ids).update(
            object_repr=ERASED_REPR, change_message=""
        )
        return LogEntry.objects.bulk_create(
            [
                LogEntry(
                    user_id=request.user.pk,
                    content_type=content_type,
                    object_id=pk,
                    object_repr=f"customer #{pk}",
                    action_flag=DELETION,
                )
                for pk in ids
            ]
        )

    @admin.display(description=gettext_lazy("totals"))
    def activity(self, obj: Customer):
        if obj.pk is None:
            return "-"
        totals = obj.interactions.aggregate(
            events=Count("pk"),
            orders=Count("order_ref", filter=Q(kind=InteractionKind.PURCHASE) & ~Q(order_ref=""), distinct=True),
            spent=Sum("amount", filter=Q(kind=InteractionKind.PURCHASE), default=0),
            returned=Sum("amount", filter=Q(kind=InteractionKind.RETURN), default=0),
            views=Count("pk", filter=Q(kind=InteractionKind.VIEW)),
        )
        return _(
            "%(events)s interactions, %(views)s views, %(orders)s orders, spent %(spent)s, returned %(returned)s"
        ) % {
            "events": f"{totals['events']:,}",
            "views": f"{totals['views']:,}",
            "orders": f"{totals['orders']:,}",
            "spent": f"{totals['spent']:,.2f}",
            "returned": f"{totals['returned']:,.2f}",
        }

    @admin.display(description=format_lazy(gettext_lazy("latest {n} interactions"), n=RECENT_INTERACTIONS))
    def recent_interactions(self, obj: Customer):
        """Only the newest page: a customer may have thousands of events; the full list is paginated elsewhere."""
        if obj.pk is None:
            return "-"
        recent = list(obj.interactions.select_related("product").order_by("-occurred_at", "-pk")[:RECENT_INTERACTIONS])
        if not recent:
            return _("No interactions yet.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{i.occurred_at:%Y-%m-%d %H:%M}",
                    i.get_kind_display(),
                    i.product,
                    i.quantity if i.kind in (InteractionKind.PURCHASE, InteractionKind.RETURN) else "",
                    "" if i.amount is None else i.amount,
                    "" if i.value is None else i.value,
                    i.order_ref,
                )
                for i in recent
            ),
        )
        head = format_html_join(
            "",
            "<th>{}</th>",
            ((label,) for label in (_("when"), _("kind"), _("product"), _("qty"), _("amount"), _("value"), _("order"))),
        )
        return format_html(
            '<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table><p><a href="{}">{} &rarr;</a></p>',
            head,
            rows,
            interactions_url(customer__id__exact=obj.pk),
            _("All interactions of this customer"),
        )


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "kind",
        "customer",
        "product",
        "quantity",
        "amount",
        "value",
        "order_ref",
        "source",
        "event_id",
    )
    list_select_related = ("customer", "product")
    list_filter = ("kind", "source")
    date_hierarchy = "occurred_at"
    search_fields = ("=event_id", "=order_ref", "=customer__external_id", "=product__sku")
    search_help_text = gettext_lazy("Exact event id, order reference, customer external id or SKU.")
    autocomplete_fields = ("customer", "product")
    readonly_fields = ("created_at",)
    # The table holds millions of rows: no full COUNT(*) next to the filtered one; newest recorded first (by pk,
    # which needs no sort).
    show_full_result_count = False
    ordering = ("-pk",)
    list_per_page = 50

    def get_ordering(self, request):
        # Filtered by kind, the (kind, occurred_at) index gives the newest events directly; by pk it would sort
        # every event of that kind (seconds on millions of rows).
        if request.GET.get("kind__exact"):
            return ("-occurred_at", "-pk")
        return self.ordering

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "event_dates": event_date_hierarchy(request.GET)}
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        """Exact matches only, each answered by an index (a LIKE over millions of joined rows is not)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = (
            Q(event_id=term)
            | Q(order_ref=term)
            | Q(customer__in=Customer.objects.filter(external_id=term).values("pk"))
            | Q(product__in=Product.objects.filter(sku=term).values("pk"))
        )
        return queryset.filter(matches), False
