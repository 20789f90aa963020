"""The demo storefront under /shop/: a few pages on the demo data that use the shop's browser client
(shop/static/shop/shop-client.js) with a browser key, so the shop's path can be seen end to end.

Served only with DEBUG on (as `make demo` runs) or settings.DEMO_STOREFRONT on (DEMO_STOREFRONT=1).
The cart lives in the session; the events (views with their duration, carts, the purchase) are sent by the
JavaScript client, as a real shop's pages would send them.
"""

import hashlib
import hmac
import uuid
from decimal import Decimal

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from shop import selectors
from shop.models import ApiClient, ApiScope, Category, Customer, Product, hash_api_key

BROWSER_KEY_NAME = "Demo storefront (browser key)"
BROWSER_SCOPES = [ApiScope.EVENTS_WRITE.value, ApiScope.RECOMMENDATIONS_READ.value, ApiScope.OFFERS_READ.value]
SESSION_CUSTOMER = "storefront_customer"
SESSION_CART = "storefront_cart"
PAGE_SIZE = 48


def demo_browser_key() -> str:
    """The demo storefront's public key, derived from SECRET_KEY (so every process agrees on it), with its
    ApiClient created or brought back to the browser scopes. Public by design: it can only send events and
    read recommendations and offers."""
    raw_key = hmac.new(settings.SECRET_KEY.encode(), b"demo-storefront-browser-key", hashlib.sha256).hexdigest()
    key_hash = hash_api_key(raw_key)
    client = ApiClient.objects.filter(name=BROWSER_KEY_NAME).first()
    if client is None:
        ApiClient.objects.create(
            name=BROWSER_KEY_NAME, key_prefix=raw_key[:8], key_hash=key_hash, scopes=BROWSER_SCOPES
        )
    elif client.key_hash != key_hash or client.scopes != BROWSER_SCOPES or not client.is_active:
        client.key_hash, client.key_prefix, client.scopes, client.is_active = (
            key_hash,
            raw_key[:8],
            BROWSER_SCOPES,
            True,
        )
        client.save()
    return raw_key


def _enabled() -> None:
    if not (settings.DEBUG or settings.DEMO_STOREFRONT):
        raise Http404("The demo storefront is off (DEMO_STOREFRONT).")


def _shopper(request: HttpRequest) -> str:
    """The demo shopper: `?as=<customer id>` switches, else the session's, else the first demo customer."""
    chosen = request.GET.get("as", "").strip()
    if chosen:
        request.session[SESSION_CUSTOMER] = chosen
    current = request.session.get(SESSION_CUSTOMER)
    if not current:
        first = Customer.objects.order_by("pk").values_list("external_id", flat=True).first()
        current = first or "demo-shopper"
        request.session[SESSION_CUSTOMER] = current
    return current


def _cart(request: HttpRequest) -> dict[str, int]:
    return dict(request.session.get(SESSION_CART, {}))


def _sellable():
    return Product.objects.filter(is_active=True, is_merchandise=True).select_related("category")


def _context(request: HttpRequest, **extra) -> dict:
    return {
        "shopper": _shopper(request),
        "browser_key": demo_browser_key(),
        "api_base": request.build_absolute_uri("/api/v1"),
        "cart_count": sum(_cart(request).values()),
        "categories": Category.objects.order_by("name"),
        **extra,
    }


def index(request: HttpRequest) -> HttpResponse:
    _enabled()
    products = _sellable().order_by("name", "sku")[:PAGE_SIZE]
    return render(request, "storefront/index.html", _context(request, products=products))


def category(request: HttpRequest, name_or_code: str) -> HttpResponse:
    _enabled()
    found = selectors.category_by_name_or_code(name_or_code=name_or_code)
    if found is None:
        raise Http404(f"No category with the code or name {name_or_code!r}.")
    products = _sellable().filter(category=found).order_by("name", "sku")[:PAGE_SIZE]
    return render(request, "storefront/category.html", _context(request, category=found, products=products))


def _similar(product: Product, n: int = 4) -> list[Product]:
    """The active model's neighbours of this product; the same category's products when there is no model."""
    from recommender.serving import engine

    try:
        skus = [item["sku"] for item in engine.similar(sku=product.sku, n=n).results]
    except engine.UnknownProduct:  # the product is new to the model: fall back below
        skus = []
    if skus:
        by_sku = {p.sku: p for p in _sellable().filter(sku__in=skus)}
        return [by_sku[sku] for sku in skus if sku in by_sku]
    return list(_sellable().filter(category=product.category_id).exclude(pk=product.pk).order_by("name")[:n])


def product(request: HttpRequest, sku: str) -> HttpResponse:
    _enabled()
    found = selectors.product_by_sku(sku=sku)
    if found is None or not found.is_active:
        raise Http404(f"No product with the SKU {sku!r}.")
    return render(request, "storefront/product.html", _context(request, product=found, similar=_similar(found)))


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    _enabled()
    sku = request.POST.get("sku", "")
    if not _sellable().filter(sku=sku).exists():
        raise Http404(f"No product with the SKU {sku!r}.")
    try:
        quantity = max(1, min(int(request.POST.get("quantity", "1")), 99))
    except ValueError:
        quantity = 1
    cart = _cart(request)
    cart[sku] = cart.get(sku, 0) + quantity
    request.session[SESSION_CART] = cart
    return redirect(reverse("storefront:cart"))


def _lines(cart: dict[str, int]) -> list[dict]:
    products = {p.sku: p for p in _sellable().filter(sku__in=list(cart))}
    lines = []
    for sku, quantity in cart.items():
        item = products.get(sku)
        if item is None:
            continue
        amount = (item.price or Decimal("0")) * quantity
        lines.append({"product": item, "quantity": quantity, "amount": amount})
    return lines


def cart(request: HttpRequest) -> HttpResponse:
    _enabled()
    lines = _lines(_cart(request))
    total = sum((line["amount"] for line in lines), Decimal("0"))
    return render(request, "storefront/cart.html", _context(request, lines=lines, total=total))


@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    """A fake checkout: empties the cart and shows the confirmation, whose script sends the purchase."""
    _enabled()
    lines = _lines(_cart(request))
    if not lines:
        return redirect(reverse("storefront:cart"))
    request.session[SESSION_CART] = {}
    order = {
        "orderRef": f"demo-{uuid.uuid4().hex[:12]}",
        "coupon": request.POST.get("coupon", "").strip() or None,
        "items": [
            {
                "sku": line["product"].sku,
                "quantity": line["quantity"],
                "amount": str(line["amount"]),
                "currency": line["product"].currency,
            }
            for line in lines
        ],
    }
    total = sum((line["amount"] for line in lines), Decimal("0"))
    return render(request, "storefront/confirmation.html", _context(request, order=order, lines=lines, total=total))


app_name = "storefront"
urlpatterns = [
    path("", index, name="index"),
    path("c/<str:name_or_code>/", category, name="category"),
    path("p/<str:sku>/", product, name="product"),
    path("cart/", cart, name="cart"),
    path("cart/add", cart_add, name="cart-add"),
    path("checkout", checkout, name="checkout"),
]
