"""Marketing admin: campaigns, recipients and suppressions (and, imported below, offers and coupons)."""

from marketing import admin_offers  # noqa: F401  (registers Offer and Coupon)
