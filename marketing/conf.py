"""Campaign settings with their defaults, read when used (tests override them with `settings`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Where the tracking links (open pixel, click redirect, unsubscribe) point: this server, as customers reach it.
    "MARKETING_BASE_URL": "http://127.0.0.1:8000",
    # The shop's product pages and images, when a product has no "link" / "image_link" attribute.
    "MARKETING_PRODUCT_URL": "https://shop.example.com/products/{sku}",
    "MARKETING_PRODUCT_IMAGE_URL": "https://shop.example.com/images/{sku}.jpg",
    "MARKETING_FROM_EMAIL": "Shop <news@shop.example.com>",
    # Across all campaigns: at most this many marketing messages per customer in this many days.
    "MARKETING_FREQUENCY_CAP": 3,
    "MARKETING_FREQUENCY_DAYS": 7,
    # Local hours (start-end, 24 h clock, wrapping midnight) in which the listed channels send nothing. A customer's
    # time zone is their "timezone" attribute (IANA name), else TIME_ZONE.
    "MARKETING_QUIET_HOURS": "21-8",
    "MARKETING_QUIET_HOURS_CHANNELS": ("sms", "push"),
    # Customer attributes holding the SMS number and the push token.
    "MARKETING_PHONE_ATTRIBUTE": "phone",
    "MARKETING_PUSH_TOKEN_ATTRIBUTE": "push_token",
    # Delivery: rows claimed per batch (one SMTP connection each), messages per second (0: no limit).
    "MARKETING_SEND_BATCH": 200,
    "MARKETING_SEND_RATE": 0.0,
    # A row claimed for sending longer ago than this lost its sender; it is failed, never sent again.
    "MARKETING_SENDING_LEASE_SECONDS": 600,
    # SMS and push go to this URL as signed JSON (HMAC-SHA256 of the body with the secret).
    "MARKETING_WEBHOOK_URL": "",
    "MARKETING_WEBHOOK_SECRET": "",
    "MARKETING_WEBHOOK_ATTEMPTS": 4,
    "MARKETING_WEBHOOK_BACKOFF_SECONDS": 0.5,
    "MARKETING_WEBHOOK_TIMEOUT_SECONDS": 5.0,
    # Bought-together products per recipient (for their last purchase).
    "MARKETING_CROSS_SELL_COUNT": 3,
    # Worker processes rendering a large audience's messages (None: one per CPU, at most 4; 0 or 1: none), used
    # from this many treated recipients on (fewer are rendered faster than processes start).
    "MARKETING_BUILD_PROCESSES": None,
    "MARKETING_BUILD_PARALLEL_MIN": 5000,
}


def setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
