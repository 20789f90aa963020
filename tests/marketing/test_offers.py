from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from marketing.models import Coupon, Offer
from marketing.offers import (
    BasketLine,
    check_coupon,
    issue_coupons,
    offer_discount,
    offer_redemptions,
    redeem_coupons,
    validate_offer,
)
from shop.services import record_events
from tests.factories import CustomerFactory, ProductFactory, PurchaseFactory
from tests.marketing.factories import OfferFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_shared_offer_gives_everyone_its_code():
    offer = OfferFactory(code_mode=Offer.CodeMode.SHARED, code="SUMMER10")
    a, b = CustomerFactory(), CustomerFactory()
    assert issue_coupons(offer=offer, customer_ids=[a.pk, b.pk], now=NOW) == {a.pk: "SUMMER10", b.pk: "SUMMER10"}
    assert not Coupon.objects.exists()


def test_unique_coupons_are_distinct_prefixed_and_reissued_on_rebuild():
    offer = OfferFactory(code_mode=Offer.CodeMode.UNIQUE, code="vip")
    customers = [CustomerFactory() for _ in range(50)]
    ids = [c.pk for c in customers]
    codes = issue_coupons(offer=offer, customer_ids=ids, now=NOW)
    assert set(codes) == set(ids)
    assert len(set(codes.values())) == 50
    assert all(code.startswith("VIP-") and len(code) == 4 + 12 for code in codes.values())
    assert Coupon.objects.filter(offer=offer).count() == 50
    # A rebuilt audience keeps each customer's coupon; a newcomer gets one more.
    newcomer = CustomerFactory()
    again = issue_coupons(offer=offer, customer_ids=[*ids, newcomer.pk], now=NOW)
    assert {cid: again[cid] for cid in ids} == codes
    assert Coupon.objects.filter(offer=offer).count() == 51


def test_issue_coupons_runs_a_fixed_number_of_queries(django_assert_max_num_queries):
    offer = OfferFactory(code_mode=Offer.CodeMode.UNIQUE, code="Q")
    ids = [CustomerFactory().pk for _ in range(300)]
    with django_assert_max_num_queries(8):
        issue_coupons(offer=offer, customer_ids=ids, now=NOW)


def test_a_drawn_code_someone_already_holds_is_drawn_again(monkeypatch):
    from marketing import offers

    offer = OfferFactory(code_mode=Offer.CodeMode.UNIQUE, code="DUP")
    holder, first, second = CustomerFactory(), CustomerFactory(), CustomerFactory()
    taken = issue_coupons(offer=offer, customer_ids=[holder.pk], now=NOW)[holder.pk]
    draws = iter([taken, "DUP-SECOND22222", "DUP-FIRST3333333"])
    monkeypatch.setattr(offers, "generate_coupon_code", lambda prefix: next(draws))
    codes = issue_coupons(offer=offer, customer_ids=[first.pk, second.pk], now=NOW)
    # The first draw collided with the holder's code: that customer drew again; nobody shares a code.
    assert codes == {first.pk: "DUP-FIRST3333333", second.pk: "DUP-SECOND22222"}
    assert dict(Coupon.objects.filter(offer=offer).values_list("customer_id", "code")) == {holder.pk: taken, **codes}


def test_codes_use_the_whole_alphabet_evenly():
    from collections import Counter

    from marketing.offers import CODE_ALPHABET, generate_coupon_code

    codes = [generate_coupon_code("") for _ in range(3000)]
    assert all(len(code) == 12 for code in codes)
    symbols = Counter(ch for code in codes for ch in code)
    assert set(symbols) == set(CODE_ALPHABET)
    # 36,000 symbols over 30: about 1,200 each; a biased draw (a symbol never or twice as often) shows far off.
    assert min(symbols.values()) > 1000 and max(symbols.values()) < 1400


def test_shared_offer_without_code_is_refused():
    offer = OfferFactory(code_mode=Offer.CodeMode.SHARED, code="")
    with pytest.raises(ValidationError, match="shares one code but has none"):
        issue_coupons(offer=offer, customer_ids=[1], now=NOW)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (Offer.Kind.PERCENT, "15", Decimal("15.00")),
        (Offer.Kind.FIXED, "20", Decimal("20.00")),
        (Offer.Kind.FIXED, "500", Decimal("100.00")),  # never more than the basket
        (Offer.Kind.FREE_SHIPPING, "0", Decimal("4.95")),
    ],
)
def test_discounts(kind, value, expected):
    offer = OfferFactory(kind=kind, value=Decimal(value))
    lines = [BasketLine("A", 1, Decimal("60")), BasketLine("B", 2, Decimal("40"))]
    assert offer_discount(offer=offer, lines=lines, shipping=Decimal("4.95")) == expected


def test_bundle_discount_counts_complete_sets_only():
    a, b = ProductFactory(price=Decimal("30")), ProductFactory(price=Decimal("20"))
    offer = OfferFactory(kind=Offer.Kind.BUNDLE, value=Decimal("40"))
    offer.bundle_products.set([a, b])
    both = [BasketLine(a.sku, 2, Decimal("60")), BasketLine(b.sku, 1, Decimal("20"))]
    assert offer_discount(offer=offer, lines=both) == Decimal("10.00")  # one set of (30 + 20) for 40
    assert offer_discount(offer=offer, lines=[BasketLine(a.sku, 1, Decimal("30"))]) == Decimal("0.00")


def test_validate_offer_names_the_bad_fields():
    offer = Offer(name="x", kind=Offer.Kind.PERCENT, value=Decimal("150"), code_mode=Offer.CodeMode.SHARED)
    with pytest.raises(ValidationError) as info:
        validate_offer(offer=offer)
    assert set(info.value.message_dict) == {"value", "code"}
    bundle = Offer(name="b", kind=Offer.Kind.BUNDLE, value=Decimal("60"), code="B")
    cheap = [ProductFactory(price=Decimal("30")), ProductFactory(price=Decimal("20"))]
    with pytest.raises(ValidationError, match="below the products' total"):
        validate_offer(offer=bundle, bundle_products=cheap)
    with pytest.raises(ValidationError, match="at least two products"):
        validate_offer(offer=bundle, bundle_products=cheap[:1])
    bundle.value = Decimal("45")
    validate_offer(offer=bundle, bundle_products=cheap)


def test_check_coupon_window_owner_minimum_and_redeemed():
    offer = OfferFactory(
        code_mode=Offer.CodeMode.UNIQUE,
        code="W",
        min_basket=Decimal("50"),
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=7),
    )
    owner, other = CustomerFactory(), CustomerFactory()
    code = issue_coupons(offer=offer, customer_ids=[owner.pk], now=NOW)[owner.pk]
    basket = [BasketLine("A", 1, Decimal("80"))]
    check = check_coupon(code=code.lower(), customer_id=owner.pk, lines=basket, now=NOW)
    assert check.offer == offer and check.discount == Decimal("8.00")
    with pytest.raises(ValidationError, match="another customer"):
        check_coupon(code=code, customer_id=other.pk, lines=basket, now=NOW)
    with pytest.raises(ValidationError, match="at least 50"):
        check_coupon(code=code, customer_id=owner.pk, lines=[BasketLine("A", 1, Decimal("20"))], now=NOW)
    with pytest.raises(ValidationError, match="expired"):
        check_coupon(code=code, customer_id=owner.pk, lines=basket, now=NOW + timedelta(days=8))
    with pytest.raises(ValidationError, match="valid from"):
        check_coupon(code=code, customer_id=owner.pk, lines=basket, now=NOW - timedelta(days=2))
    with pytest.raises(ValidationError, match="Unknown code"):
        check_coupon(code="NOPE", customer_id=owner.pk, lines=basket, now=NOW)
    Coupon.objects.filter(code=code).update(redeemed_at=NOW)
    with pytest.raises(ValidationError, match="already redeemed"):
        check_coupon(code=code, customer_id=owner.pk, lines=basket, now=NOW)


def _purchase_event(event_id, customer, sku, amount, coupon, when, order="o1"):
    return {
        "event_id": event_id,
        "customer_id": customer.external_id,
        "sku": sku,
        "kind": "purchase",
        "amount": amount,
        "order_ref": order,
        "coupon": coupon,
        "occurred_at": when.isoformat(),
    }


def test_a_unique_coupon_is_redeemed_once_by_its_first_purchase():
    offer = OfferFactory(code_mode=Offer.CodeMode.UNIQUE, code="ONCE")
    customer = CustomerFactory()
    product = ProductFactory()
    code = issue_coupons(offer=offer, customer_ids=[customer.pk], now=NOW)[customer.pk]
    first_at = datetime(2025, 6, 2, tzinfo=UTC)
    record_events(
        events=[
            _purchase_event("p1", customer, product.sku, "30.00", code.lower(), first_at, "o1"),
            _purchase_event("p2", customer, product.sku, "30.00", code, first_at + timedelta(days=1), "o2"),
        ]
    )
    assert redeem_coupons(since=first_at - timedelta(days=1)) == 1
    coupon = Coupon.objects.get(code=code)
    assert coupon.redeemed_at == first_at
    assert coupon.redeemed_by.event_id == "p1"
    # Run again (a periodic task, attribution): nothing changes, the second purchase is not a second redemption.
    assert redeem_coupons(since=first_at - timedelta(days=1)) == 0
    assert redeem_coupons(interaction_ids=[coupon.redeemed_by_id + 1]) == 0
    coupon.refresh_from_db()
    assert coupon.redeemed_by.event_id == "p1"
    assert offer_redemptions(offer=offer) == 1


def test_purchases_that_do_not_qualify_redeem_nothing():
    offer = OfferFactory(
        code_mode=Offer.CodeMode.UNIQUE,
        code="RULES",
        min_basket=Decimal("50"),
        valid_until=datetime(2025, 7, 1, tzinfo=UTC),
    )
    owner, stranger = CustomerFactory(), CustomerFactory()
    code = issue_coupons(offer=offer, customer_ids=[owner.pk], now=NOW)[owner.pk]
    day = datetime(2025, 6, 5, tzinfo=UTC)
    small = PurchaseFactory(customer=owner, coupon=code, amount=Decimal("20"), order_ref="small", occurred_at=day)
    theirs = PurchaseFactory(customer=stranger, coupon=code, amount=Decimal("90"), order_ref="s", occurred_at=day)
    july = datetime(2025, 7, 2, tzinfo=UTC)
    late = PurchaseFactory(customer=owner, coupon=code, amount=Decimal("90"), order_ref="late", occurred_at=july)
    assert redeem_coupons(interaction_ids=[small.pk, theirs.pk, late.pk]) == 0
    # Two lines of one order reach the minimum together.
    PurchaseFactory(customer=owner, amount=Decimal("30"), order_ref="big", occurred_at=day)
    line = PurchaseFactory(customer=owner, coupon=code, amount=Decimal("30"), order_ref="big", occurred_at=day)
    assert redeem_coupons(interaction_ids=[line.pk]) == 1


def test_shared_code_redemptions_count_each_customer_once():
    offer = OfferFactory(code_mode=Offer.CodeMode.SHARED, code="ALL5")
    a, b = CustomerFactory(), CustomerFactory()
    for customer, n in ((a, 2), (b, 1)):
        for _ in range(n):
            PurchaseFactory(customer=customer, coupon="ALL5")
    PurchaseFactory(customer=b, coupon="")
    assert offer_redemptions(offer=offer) == 2


def test_redeem_needs_events_or_a_window():
    with pytest.raises(ValidationError, match="interaction_ids, or a since / until window"):
        redeem_coupons()
    assert redeem_coupons(interaction_ids=[]) == 0


def test_admin_refuses_an_unusable_offer_naming_the_field(admin_client):
    response = admin_client.post(
        "/admin/marketing/offer/add/",
        {"name": "Too much", "kind": "percent", "value": "120", "currency": "EUR", "code_mode": "shared", "code": ""},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "at most 100" in str(errors["value"]) and "shared-code offer needs" in str(errors["code"])
    assert not Offer.objects.filter(name="Too much").exists()
    ok = admin_client.post(
        "/admin/marketing/offer/add/",
        {"name": "Fine", "kind": "percent", "value": "10", "currency": "EUR", "code_mode": "unique", "code": "FINE"},
    )
    assert ok.status_code == 302 and Offer.objects.filter(name="Fine").exists()
    assert admin_client.get("/admin/marketing/offer/").status_code == 200
    assert admin_client.get("/admin/marketing/coupon/").status_code == 200
