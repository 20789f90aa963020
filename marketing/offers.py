"""Offers and coupons: issuing codes to recipients, checking a code against a basket, and counting redemptions.

An offer has one shared code (every recipient gets `offer.code`) or a unique coupon per recipient (a random,
unguessable code prefixed by `offer.code`). A redemption is a purchase event carrying the code (the events API's
`coupon` field), counted once: a unique coupon is marked redeemed by its first qualifying purchase and never again;
a shared code counts once per customer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from marketing.models import Coupon, Offer
from shop.bulk import insert_columns
from shop.models import Interaction, InteractionKind, Product

# Crockford-style alphabet without look-alikes (0/O, 1/I/L): codes are read off screens and typed by hand.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
# 12 characters of 30 symbols: about 59 bits, far beyond guessing through a rate-limited checkout.
CODE_RANDOM_LENGTH = 12
CODE_MAX_LENGTH = Coupon._meta.get_field("code").max_length
CODE_ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
ISSUE_BATCH_SIZE = 2000
CENT = Decimal("0.01")


# --- checking an offer ----------------------------------------------------------------------------------------


def validate_offer(*, offer: Offer, bundle_products: Sequence[Product] | None = None) -> None:
    """ValidationError naming each field that makes the offer unusable (admin forms call this before saving).

    `bundle_products` is the bundle as chosen in the form; None reads it from the saved offer.
    """
    errors: dict[str, str] = {}
    code = offer.code or ""
    if code and not set(code.upper()) <= CODE_ALLOWED:
        errors["code"] = "Use letters, digits, '-' and '_' only: shoppers type the code at checkout."
    if offer.code_mode == Offer.CodeMode.SHARED and not code:
        errors["code"] = "A shared-code offer needs the code every recipient gets."
    if offer.code_mode == Offer.CodeMode.UNIQUE and len(code) + 1 + CODE_RANDOM_LENGTH > CODE_MAX_LENGTH:
        errors["code"] = (
            f"The prefix may be at most {CODE_MAX_LENGTH - 1 - CODE_RANDOM_LENGTH} characters: "
            f"{CODE_RANDOM_LENGTH} random characters follow it."
        )
    value = offer.value if offer.value is not None else Decimal("0")
    if value < 0:
        errors["value"] = "The value must not be negative."
    elif offer.kind == Offer.Kind.PERCENT and not Decimal("0") < value <= Decimal("100"):
        errors["value"] = "A percentage off must be more than 0 and at most 100."
    elif offer.kind == Offer.Kind.FIXED and value <= 0:
        errors["value"] = "A fixed amount off must be more than 0."
    if offer.min_basket is not None and offer.min_basket < 0:
        errors["min_basket"] = "The minimum basket must not be negative."
    if offer.valid_from and offer.valid_until and offer.valid_until <= offer.valid_from:
        errors["valid_until"] = "The offer must end after it starts."
    if offer.kind == Offer.Kind.BUNDLE:
        products = list(bundle_products) if bundle_products is not None else _saved_bundle(offer)
        if len(products) < 2:
            errors["bundle_products"] = "A bundle needs at least two products."
        else:
            unpriced = [p.sku for p in products if p.price is None]
            if unpriced:
                errors["bundle_products"] = f"These bundle products have no price: {', '.join(unpriced)}."
            else:
                separately = sum((p.price for p in products), Decimal("0"))
                if value <= 0 or value >= separately:
                    errors["value"] = (
                        f"The bundle price must be more than 0 and below the products' total ({separately})."
                    )
    if errors:
        raise ValidationError(errors)


def _saved_bundle(offer: Offer) -> list[Product]:
    return list(offer.bundle_products.all()) if offer.pk else []


# --- issuing codes --------------------------------------------------------------------------------------------


CODE_SPACE = len(CODE_ALPHABET) ** CODE_RANDOM_LENGTH


def generate_coupon_code(prefix: str) -> str:
    """`PREFIX-` and CODE_RANDOM_LENGTH symbols of CODE_ALPHABET, uniformly at random from the system's source.

    One draw per code, written in base 30, rather than a draw per character: a campaign issues 100,000 at once.
    """
    number = secrets.randbelow(CODE_SPACE)
    symbols = []
    for _ in range(CODE_RANDOM_LENGTH):
        number, digit = divmod(number, len(CODE_ALPHABET))
        symbols.append(CODE_ALPHABET[digit])
    random_part = "".join(symbols)
    return f"{prefix.upper()}-{random_part}" if prefix else random_part


def issue_coupons(*, offer: Offer, customer_ids: Iterable[int], now: datetime | None = None) -> dict[int, str]:
    """The code each customer gets (customer id -> code), creating unique coupons in bulk where needed.

    Shared mode: everyone gets `offer.code`. Unique mode: a customer who already holds an unredeemed coupon of this
    offer keeps it (a rebuilt or resumed audience issues nothing twice); everyone else gets a new random code. A
    fixed handful of queries however many customers.
    """
    ids = list(dict.fromkeys(customer_ids))
    if offer.code_mode == Offer.CodeMode.SHARED:
        if not offer.code:
            raise ValidationError({"code": f"Offer {offer.name!r} shares one code but has none."})
        return dict.fromkeys(ids, offer.code)
    if offer.code_mode != Offer.CodeMode.UNIQUE:
        raise ValidationError({"code_mode": f"Unknown code mode {offer.code_mode!r} on offer {offer.name!r}."})
    now = now or timezone.now()
    codes: dict[int, str] = {}
    for start in range(0, len(ids), 20_000):
        chunk = ids[start : start + 20_000]
        existing = (
            Coupon.objects.filter(offer=offer, customer_id__in=chunk, redeemed_at__isnull=True)
            .order_by("customer_id", "-issued_at", "-id")
            .values_list("customer_id", "code")
        )
        for customer_id, code in existing:
            codes.setdefault(customer_id, code)
    missing = [customer_id for customer_id in ids if customer_id not in codes]
    with transaction.atomic():
        while missing:
            fresh = {customer_id: generate_coupon_code(offer.code) for customer_id in missing}
            # A code already taken (one in 10^17) is skipped by the database and drawn again below, not an error.
            result = insert_columns(
                Coupon,
                {
                    "offer": [offer.pk] * len(fresh),
                    "code": list(fresh.values()),
                    "customer": list(fresh),
                    "issued_at": [now] * len(fresh),
                },
                ignore_conflicts=True,
                conflict_fields=("code",),
                batch_size=ISSUE_BATCH_SIZE,
            )
            if result.rejected:
                position, problem = min(result.rejected.items())
                raise ValidationError({"code": f"Coupon code {list(fresh.values())[position]!r}: {problem.message}."})
            if result.inserted == len(fresh):
                codes.update(fresh)
                break
            ok = _stored_codes(offer, fresh)
            codes.update({cid: fresh[cid] for cid in ok})
            missing = [cid for cid in missing if cid not in ok]
    return {customer_id: codes[customer_id] for customer_id in ids}


def _stored_codes(offer: Offer, fresh: dict[int, str]) -> set[int]:
    """The customers whose fresh code was stored for them (the others drew a code someone already had)."""
    stored: set[tuple[str, int]] = set()
    values = list(fresh.values())
    for start in range(0, len(values), 20_000):
        stored.update(
            Coupon.objects.filter(code__in=values[start : start + 20_000], offer=offer).values_list(
                "code", "customer_id"
            )
        )
    return {cid for cid, code in fresh.items() if (code, cid) in stored}


# --- checking a code at checkout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BasketLine:
    sku: str
    quantity: int
    amount: Decimal  # the line total before the offer


@dataclass(frozen=True)
class CouponCheck:
    offer: Offer
    code: str
    coupon: Coupon | None  # None for a shared code
    discount: Decimal  # what the offer takes off the basket (shipping included for free shipping)
    free_shipping: bool


def check_coupon(
    *,
    code: str,
    customer_id: int | None,
    lines: Sequence[BasketLine],
    shipping: Decimal = Decimal("0"),
    now: datetime | None = None,
) -> CouponCheck:
    """Whether `code` applies to this basket, and the discount; ValidationError saying why not."""
    now = now or timezone.now()
    code = (code or "").strip()
    if not code:
        raise ValidationError({"coupon": "No code given."})
    coupon = Coupon.objects.select_related("offer").filter(code__iexact=code).first()
    if coupon is not None:
        offer = coupon.offer
        if coupon.redeemed_at is not None:
            raise ValidationError({"coupon": f"Code {code} was already redeemed on {coupon.redeemed_at:%Y-%m-%d}."})
        if coupon.customer_id is not None and coupon.customer_id != customer_id:
            raise ValidationError({"coupon": f"Code {code} belongs to another customer."})
    else:
        offer = Offer.objects.filter(code_mode=Offer.CodeMode.SHARED, code__iexact=code).first()
        if offer is None:
            raise ValidationError({"coupon": f"Unknown code {code}."})
    if offer.valid_from and now < offer.valid_from:
        raise ValidationError({"coupon": f"Code {code} is valid from {offer.valid_from:%Y-%m-%d %H:%M}."})
    if offer.valid_until and now >= offer.valid_until:
        raise ValidationError({"coupon": f"Code {code} expired on {offer.valid_until:%Y-%m-%d %H:%M}."})
    total = sum((line.amount for line in lines), Decimal("0"))
    if offer.min_basket is not None and total < offer.min_basket:
        raise ValidationError(
            {"coupon": f"Code {code} needs a basket of at least {offer.min_basket} {offer.currency}; it is {total}."}
        )
    discount = offer_discount(offer=offer, lines=lines, shipping=shipping)
    return CouponCheck(
        offer=offer,
        code=coupon.code if coupon else offer.code,
        coupon=coupon,
        discount=discount,
        free_shipping=offer.kind == Offer.Kind.FREE_SHIPPING,
    )


def offer_discount(*, offer: Offer, lines: Sequence[BasketLine], shipping: Decimal = Decimal("0")) -> Decimal:
    """The amount an offer takes off a basket (never more than the basket)."""
    total = sum((line.amount for line in lines), Decimal("0"))
    if offer.kind == Offer.Kind.PERCENT:
        discount = total * offer.value / Decimal("100")
    elif offer.kind == Offer.Kind.FIXED:
        discount = min(offer.value, total)
    elif offer.kind == Offer.Kind.FREE_SHIPPING:
        discount = shipping
    elif offer.kind == Offer.Kind.BUNDLE:
        discount = _bundle_discount(offer, lines)
    else:
        raise ValidationError({"kind": f"Unknown offer kind {offer.kind!r}."})
    return max(Decimal("0"), discount).quantize(CENT, rounding=ROUND_HALF_UP)


def _bundle_discount(offer: Offer, lines: Sequence[BasketLine]) -> Decimal:
    """Each complete set of the bundle's products in the basket costs the bundle price instead of their sum."""
    bundle = {p.sku: p.price or Decimal("0") for p in offer.bundle_products.all()}
    if not bundle:
        return Decimal("0")
    quantities: dict[str, int] = {}
    unit_amounts: dict[str, Decimal] = {}
    for line in lines:
        if line.sku in bundle and line.quantity > 0:
            quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
            unit_amounts[line.sku] = line.amount / line.quantity
    sets = min((quantities.get(sku, 0) for sku in bundle), default=0)
    if sets == 0:
        return Decimal("0")
    separately = sum((unit_amounts[sku] for sku in bundle), Decimal("0"))
    return max(Decimal("0"), (separately - offer.value) * sets)


# --- redemptions ----------------------------------------------------------------------------------------------


def redeem_coupons(
    *,
    interaction_ids: Iterable[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Mark the unique coupons redeemed by these purchase events (by id, or occurring in [since, until)).

    A purchase redeems a coupon when it carries the code (any case), falls in the offer's validity window, is made
    by the coupon's customer (if it has one) and its order reaches the offer's minimum basket. Each coupon is
    redeemed once, by its earliest qualifying purchase: a second purchase with the same code changes nothing, and
    running this again over the same events does nothing. Returns how many coupons became redeemed.
    Shared codes have no row to mark; `offer_redemptions` counts them from the events.
    """
    purchases = Interaction.objects.filter(kind=InteractionKind.PURCHASE).exclude(coupon="")
    if interaction_ids is not None:
        ids = list(interaction_ids)
        if not ids:
            return 0
        purchases = purchases.filter(id__in=ids)
    elif since is None and until is None:
        raise ValidationError("Name the purchases to redeem: interaction_ids, or a since / until window.")
    if since is not None:
        purchases = purchases.filter(occurred_at__gte=since)
    if until is not None:
        purchases = purchases.filter(occurred_at__lt=until)
    events = list(
        purchases.order_by("occurred_at", "id").values_list(
            "id", "customer_id", "coupon", "occurred_at", "order_ref", "amount"
        )
    )
    if not events:
        return 0
    by_code: dict[str, list[tuple]] = {}
    for event in events:
        by_code.setdefault(event[2].upper(), []).append(event)
    order_totals = _order_totals({(e[1], e[4]) for e in events if e[4]})
    redeemed = 0
    codes = list(by_code)
    for start in range(0, len(codes), 5000):
        with transaction.atomic():
            coupons = list(
                Coupon.objects.select_for_update()
                .select_related("offer")
                .filter(_code_in(codes[start : start + 5000]), redeemed_at__isnull=True)
            )
            changed = []
            for coupon in coupons:
                for interaction_id, customer_id, _code, occurred_at, order_ref, amount in by_code[coupon.code.upper()]:
                    if coupon.customer_id is not None and coupon.customer_id != customer_id:
                        continue
                    offer = coupon.offer
                    if (offer.valid_from and occurred_at < offer.valid_from) or (
                        offer.valid_until and occurred_at >= offer.valid_until
                    ):
                        continue
                    basket = order_totals.get((customer_id, order_ref)) if order_ref else amount
                    if offer.min_basket is not None and (basket or Decimal("0")) < offer.min_basket:
                        continue
                    coupon.redeemed_at, coupon.redeemed_by_id = occurred_at, interaction_id
                    changed.append(coupon)
                    break
            Coupon.objects.bulk_update(changed, ["redeemed_at", "redeemed_by"], batch_size=1000)
            redeemed += len(changed)
    return redeemed


def _code_in(codes: list[str]) -> Q:
    # Codes are issued upper case; a shopper may type them in any case, so events are matched upper-cased.
    return Q(code__in=codes)


def _order_totals(orders: set[tuple[int, str]]) -> dict[tuple[int, str], Decimal]:
    if not orders:
        return {}
    refs = {ref for _, ref in orders}
    customers = {cid for cid, _ in orders}
    rows = (
        Interaction.objects.filter(kind=InteractionKind.PURCHASE, order_ref__in=refs, customer_id__in=customers)
        .values_list("customer_id", "order_ref")
        .annotate(total=Sum("amount"))
    )
    return {(cid, ref): total or Decimal("0") for cid, ref, total in rows if (cid, ref) in orders}


def offer_redemptions(*, offer: Offer) -> int:
    """How many times an offer was redeemed: unique coupons marked redeemed, or customers who bought with the
    shared code within the validity window (each customer once)."""
    if offer.code_mode == Offer.CodeMode.UNIQUE:
        return offer.coupons.filter(redeemed_at__isnull=False).count()
    purchases = Interaction.objects.filter(kind=InteractionKind.PURCHASE, coupon__iexact=offer.code)
    if offer.valid_from:
        purchases = purchases.filter(occurred_at__gte=offer.valid_from)
    if offer.valid_until:
        purchases = purchases.filter(occurred_at__lt=offer.valid_until)
    return purchases.values("customer_id").distinct().count()
