"""Reads of the shop's data for the API and staff pages."""

from shop.models import Customer, Product


def customer_by_external_id(*, external_id: str) -> Customer | None:
    if "\x00" in external_id:  # never stored (refused on write), and PostgreSQL cannot even compare it: not found
        return None
    return Customer.objects.filter(external_id=external_id).first()


def product_by_sku(*, sku: str) -> Product | None:
    if "\x00" in sku:  # as above
        return None
    return Product.objects.select_related("category").filter(sku=sku).first()
