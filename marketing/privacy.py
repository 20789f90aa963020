"""What marketing holds about a customer (campaign recipients with what was sent, coupons, suppressions), for
shop.privacy's export and erasure. Erasing a recipient takes its conversions with it."""

from marketing.models import Coupon, Recipient, Suppression
from shop.privacy import register_personal_data

RECIPIENT_FIELDS = (
    "campaign__name",
    "status",
    "exclusion",
    "is_control",
    "segment_name",
    "attributes",
    "coupon_code",
    "recommended_skus",
    "subject",
    "body_text",
    "sent_at",
    "impression_at",
    "opened_at",
    "clicked_at",
    "unsubscribed_at",
    "converted_at",
    "conversions",
    "revenue",
)


def _recipients(customer) -> list[dict]:
    rows = Recipient.objects.filter(customer=customer).order_by("pk").values(*RECIPIENT_FIELDS)
    return [{("campaign" if k == "campaign__name" else k): v for k, v in row.items()} for row in rows]


def _coupons(customer) -> list[dict]:
    rows = Coupon.objects.filter(customer=customer).order_by("issued_at", "pk")
    return list(rows.values("code", "offer__name", "issued_at", "redeemed_at"))


def _suppressions(customer) -> list[dict]:
    rows = Suppression.objects.filter(customer=customer).order_by("pk")
    return list(rows.values("channel", "reason", "created_at"))


def _erase_recipients(customer) -> int:
    return Recipient.objects.filter(customer=customer).delete()[0]


def _erase_coupons(customer) -> int:
    return Coupon.objects.filter(customer=customer).delete()[0]


def _erase_suppressions(customer) -> int:
    return Suppression.objects.filter(customer=customer).delete()[0]


register_personal_data(name="campaign_recipients", export=_recipients, erase=_erase_recipients)
register_personal_data(name="coupons", export=_coupons, erase=_erase_coupons)
register_personal_data(name="suppressions", export=_suppressions, erase=_erase_suppressions)
