"""Admin for the shop data. Import jobs and API clients have their own modules, imported here."""

from django.contrib import admin
from django.db.models import Avg, Count, Q, Sum
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from shop import admin_api_clients, admin_imports  # noqa: F401  (registers their admin classes)
from shop.models import Category, Customer, Interaction, InteractionKind, Product

RECENT_INTERACTIONS = 20


class StockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock_status"

    def lookups(self, request, model_admin):
        return [("in", "In stock"), ("out", "Out of stock"), ("untracked", "Not tracked")]

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

    @admin.display(description="products", ordering="_product_count")
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
        ("Selling", {"fields": ("price", "currency", "stock", "is_active", "is_merchandise", "is_stub")}),
        (
            "Sales figures (all time)",
            {"fields": ("units_sold", "revenue", "returns", "net_revenue", "buyers", "views", "average_rating")},
        ),
        ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
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

    @admin.display(description="units sold")
    def units_sold(self, obj: Product):
        return self.sales(obj).get("units", "-")

    @admin.display(description="revenue")
    def revenue(self, obj: Product):
        return self._money(obj, self.sales(obj).get("revenue"))

    @admin.display(description="returns")
    def returns(self, obj: Product):
        sales = self.sales(obj)
        if not sales:
            return "-"
        return f"{sales['returned_units']} units, {self._money(obj, sales['returned_amount'])}"

    @admin.display(description="net revenue")
    def net_revenue(self, obj: Product):
        sales = self.sales(obj)
        return self._money(obj, sales["revenue"] - sales["returned_amount"]) if sales else "-"

    @admin.display(description="buyers")
    def buyers(self, obj: Product):
        sales = self.sales(obj)
        if not sales:
            return "-"
        link = interactions_url(product__id__exact=obj.pk, kind__exact=InteractionKind.PURCHASE)
        return format_html('{} <a href="{}">(purchases)</a>', sales["buyers"], link)

    @admin.display(description="views")
    def views(self, obj: Product):
        return self.sales(obj).get("views", "-")

    @admin.display(description="average rating")
    def average_rating(self, obj: Product):
        sales = self.sales(obj)
        if not sales or not sales["ratings"]:
            return "-"
        return f"{sales['rating']:.2f} from {sales['ratings']} ratings"

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
    search_help_text = "External id, email or name."
    show_full_result_count = False
    readonly_fields = ("activity", "recent_interactions", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("external_id", "name", "email", "is_stub")}),
        ("Profile", {"fields": ("gender", "birth_year", "city", "postal_code", "country", "signed_up_at")}),
        (
            "Consent",
            {
                "fields": (
                    ("email_consent", "email_consent_changed_at"),
                    ("sms_consent", "sms_consent_changed_at"),
                    ("push_consent", "push_consent_changed_at"),
                )
            },
        ),
        ("Attributes", {"fields": ("attributes",)}),
        ("Activity", {"fields": ("activity", "recent_interactions")}),
        ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    @admin.display(description="totals")
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
        return (
            f"{totals['events']} interactions, {totals['views']} views, {totals['orders']} orders, "
            f"spent {totals['spent']:,.2f}, returned {totals['returned']:,.2f}"
        )

    @admin.display(description=f"latest {RECENT_INTERACTIONS} interactions")
    def recent_interactions(self, obj: Customer):
        """Only the newest page: a customer may have thousands of events; the full list is paginated elsewhere."""
        if obj.pk is None:
            return "-"
        recent = list(obj.interactions.select_related("product").order_by("-occurred_at", "-pk")[:RECENT_INTERACTIONS])
        if not recent:
            return "No interactions yet."
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
        return format_html(
            "<table><thead><tr><th>when</th><th>kind</th><th>product</th><th>qty</th><th>amount</th>"
            "<th>value</th><th>order</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All interactions of this customer &rarr;</a></p>',
            rows,
            interactions_url(customer__id__exact=obj.pk),
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
    search_help_text = "Exact event id, order reference, customer external id or SKU."
    autocomplete_fields = ("customer", "product")
    readonly_fields = ("created_at",)
    # The table holds millions of rows: no full COUNT(*) next to the filtered one, newest recorded first (by pk).
    show_full_result_count = False
    ordering = ("-pk",)
    list_per_page = 50

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
