"""Reads of the shop's data for the API and staff pages."""

from django.db.models import Count, Q

from shop.models import Category, Customer, Product


def customer_by_external_id(*, external_id: str) -> Customer | None:
    if "\x00" in external_id:  # never stored (refused on write), and PostgreSQL cannot even compare it: not found
        return None
    return Customer.objects.filter(external_id=external_id).first()


def product_by_sku(*, sku: str) -> Product | None:
    if "\x00" in sku:  # as above
        return None
    return Product.objects.select_related("category").filter(sku=sku).first()


def category_by_name_or_code(*, name_or_code: str) -> Category | None:
    """The category with this code, else the one with this name (case-insensitive): pages show names, the
    API took codes, and either should find it."""
    if "\x00" in name_or_code:
        return None
    value = name_or_code.strip()
    return (
        Category.objects.filter(code=value).first()
        or Category.objects.filter(code__iexact=value).first()
        or Category.objects.filter(name__iexact=value).order_by("pk").first()
    )


def categories_with_counts() -> list[dict]:
    """Every category with its code, name, parent code and number of active products, by name."""
    rows = Category.objects.annotate(
        products_count=Count("products", filter=Q(products__is_active=True, products__is_merchandise=True))
    ).values("code", "name", "parent__code", "products_count")
    return [
        {"code": row["code"], "name": row["name"], "parent": row["parent__code"], "products": row["products_count"]}
        for row in rows.order_by("name", "code")
    ]
