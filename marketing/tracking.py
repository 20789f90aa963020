"""Tracking links: open pixel, click redirect and unsubscribe, each carrying a token signed with Django's signing.

A token names the recipient by (campaign, customer, entry) — known before the recipient row is written, so the
audience build renders and stores whole messages in one pass. A click token also signs where it leads: a product
(its id), whose page the click resolves on the server with the recipient's recommendation id, or — in tokens made
before product links, and for links that are not a catalogue product — a whole web address. The redirect goes
only to the shop's product page or the address signed in (no open redirect), and a tampered token fails.

A product token is a fifth of the length of one carrying the address: a message holds three links to each of its
dozen products, and a 100,000-recipient campaign stores every message.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str

from marketing.conf import setting
from marketing.models import Campaign, Recipient
from shop.models import Customer, Product

OPEN_SALT = "marketing.open"
CLICK_SALT = "marketing.click"
UNSUBSCRIBE_SALT = "marketing.unsubscribe"


@dataclass(frozen=True, slots=True)
class RecipientKey:
    campaign_id: int
    customer_id: int
    entry: int = 1

    def parts(self) -> list[int]:
        return [self.campaign_id, self.customer_id, self.entry]


@dataclass(frozen=True, slots=True)
class ProductTarget:
    """A click token's destination when it names a catalogue product: its page, resolved when clicked."""

    product_id: int


class BadToken(ValueError):
    """A token that was not signed here, was altered, or does not have the expected shape."""


# The JSON Django's signing serializer writes (compact separators), with one encoder made once, not per token.
_JSON = json.JSONEncoder(separators=(",", ":"))
# base64.urlsafe_b64encode's alphabet, applied to binascii's output directly (its Python wrappers cost more than
# the encoding of a token's few bytes).
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """URL-safe base64 without padding, as Django's signing writes it."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


class _Signer(signing.Signer):
    """Django's Signer with its salted key derived once: an audience build signs a dozen links per recipient.

    Tokens are exactly Django's `sign_object` output (compact JSON, URL-safe base64 without padding,
    `base64_hmac(salt + "signer", value, key)`), so Django's `unsign_object` reads them.
    """

    def __init__(self, *, salt: str):
        super().__init__(salt=salt)
        self._key = hashlib.sha256((self.salt + "signer" + force_str(self.key)).encode()).digest()
        self._sep = self.sep.encode()

    def signature(self, value, key=None):
        if key is not None:
            return super().signature(value, key)
        return _b64(hmac.digest(self._key, force_bytes(value), "sha256")).decode()

    def sign_json(self, data: str) -> str:
        """`sign_object` of the object whose compact JSON is `data`, without the general serializer: one
        HMAC in a single call (hmac.digest), no HMAC object copied per token."""
        value = _b64(data.encode("latin-1"))
        return (value + self._sep + _b64(hmac.digest(self._key, value, "sha256"))).decode()


@cache
def _signer(salt: str) -> _Signer:
    return _Signer(salt=salt)


def tracking_base_url() -> str:
    """Where tracking links point (MARKETING_BASE_URL without its trailing slash)."""
    return setting("MARKETING_BASE_URL").rstrip("/")


@cache
def _route(name: str) -> tuple[str, str]:
    """The path of a tracking route around its token, resolved once (reverse() is slow per link)."""
    marker = "TOKEN0MARKER"
    before, after = reverse(f"marketing:{name}", args=[marker]).split(marker)
    return before, after


class RecipientLinks:
    """One recipient's tracking links: the key's JSON written once, each link one HMAC of its own token.

    The tokens are the ones `make_open_token`, `make_click_token` and `make_unsubscribe_token` give.
    """

    __slots__ = ("_base", "_click", "_click_route", "_ids", "key")

    def __init__(self, key: RecipientKey, *, base: str | None = None):
        self.key = key
        self._base = tracking_base_url() if base is None else base
        self._ids = f"[{int(key.campaign_id)},{int(key.customer_id)},{int(key.entry)}"
        before, after = _route("click")
        self._click_route = (f"{self._base}{before}", after)
        self._click = _signer(CLICK_SALT)

    def click_token(self, target: str) -> str:
        return self._click.sign_json(f"{self._ids},{_JSON.encode(target)}]")

    def click(self, target: str) -> str:
        before, after = self._click_route
        return f"{before}{self.click_token(target)}{after}"

    def product_click_token(self, product_id: int) -> str:
        return self._click.sign_json(f"{self._ids},{int(product_id)}]")

    def product_click(self, product_id: int) -> str:
        """The tracked link to a product's page (see `product_destination`)."""
        before, after = self._click_route
        return f"{before}{self.product_click_token(product_id)}{after}"

    def open_token(self) -> str:
        return _signer(OPEN_SALT).sign_json(f"{self._ids}]")

    def open(self) -> str:
        return self._url("open", self.open_token())

    def unsubscribe_token(self) -> str:
        return _signer(UNSUBSCRIBE_SALT).sign_json(f"{self._ids}]")

    def unsubscribe(self) -> str:
        return self._url("unsubscribe", self.unsubscribe_token())

    def _url(self, name: str, token: str) -> str:
        before, after = _route(name)
        return f"{self._base}{before}{token}{after}"


def _url(name: str, token: str) -> str:
    before, after = _route(name)
    return f"{tracking_base_url()}{before}{token}{after}"


def make_open_token(key: RecipientKey) -> str:
    return RecipientLinks(key, base="").open_token()


def make_click_token(key: RecipientKey, target: str) -> str:
    return RecipientLinks(key, base="").click_token(target)


def make_product_click_token(key: RecipientKey, product_id: int) -> str:
    return RecipientLinks(key, base="").product_click_token(product_id)


def make_unsubscribe_token(key: RecipientKey) -> str:
    return RecipientLinks(key, base="").unsubscribe_token()


def open_url(key: RecipientKey) -> str:
    return RecipientLinks(key).open()


def click_url(key: RecipientKey, target: str) -> str:
    return RecipientLinks(key).click(target)


def unsubscribe_url(key: RecipientKey) -> str:
    return RecipientLinks(key).unsubscribe()


def _key(values, *, extra: int = 0) -> RecipientKey:
    if not isinstance(values, list) or len(values) != 3 + extra:
        raise BadToken("token has the wrong shape")
    ids = values[:3]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in ids):
        raise BadToken("token names no recipient")
    return RecipientKey(*ids)


def _load(token: str, salt: str):
    try:
        return _signer(salt).unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeDecodeError) as exc:
        raise BadToken("bad signature") from exc


def read_open_token(token: str) -> RecipientKey:
    return _key(_load(token, OPEN_SALT))


def read_click_token(token: str) -> tuple[RecipientKey, str | ProductTarget]:
    """The recipient and where the click goes: a web address, or a product whose page the server resolves."""
    values = _load(token, CLICK_SALT)
    key = _key(values, extra=1)
    target = values[3]
    if isinstance(target, int) and not isinstance(target, bool):
        if target <= 0:
            raise BadToken("token names no product")
        return key, ProductTarget(target)
    if not isinstance(target, str) or not target.startswith(("https://", "http://")):
        raise BadToken("token carries no web address")
    return key, target


def read_unsubscribe_token(token: str) -> RecipientKey:
    return _key(_load(token, UNSUBSCRIBE_SALT))


def _recipient(key: RecipientKey):
    return Recipient.objects.filter(campaign_id=key.campaign_id, customer_id=key.customer_id, entry=key.entry)


def record_open(*, key: RecipientKey, now: datetime | None = None) -> bool:
    """Mark the recipient's message opened (the first time counts). False when no such recipient exists."""
    now = now or timezone.now()
    rows = _recipient(key)
    rows.filter(opened_at__isnull=True).update(opened_at=now)
    return rows.exists()


def record_click(*, key: RecipientKey, now: datetime | None = None) -> bool:
    """Mark the recipient's message clicked (and opened: images may be blocked). The first time counts."""
    now = now or timezone.now()
    rows = _recipient(key)
    rows.filter(clicked_at__isnull=True).update(clicked_at=now)
    rows.filter(opened_at__isnull=True).update(opened_at=now)
    return rows.exists()


def product_page_url(*, sku: str, attributes: dict | None) -> str:
    """A product's page in the shop: the feed's `link` attribute, else MARKETING_PRODUCT_URL."""
    link = (attributes or {}).get("link")
    return str(link or setting("MARKETING_PRODUCT_URL").format(sku=sku))


def campaign_query(*, campaign_id: int, recommendation_id: str) -> str:
    """The query a campaign's product links carry: the recommendation id (for attribution) and UTM tags."""
    # The recommendation id is hex and dots, the campaign an integer: nothing to escape.
    tags = f"utm_source=campaign&utm_campaign={int(campaign_id)}"
    return f"rec={recommendation_id}&{tags}" if recommendation_id else tags


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def product_destination(*, key: RecipientKey, target: ProductTarget) -> str | None:
    """Where a product link of this recipient's message leads: the product's page with the recipient's
    recommendation id and the campaign's tags (None when the product is no longer in the catalogue)."""
    product = Product.objects.filter(pk=target.product_id).values_list("sku", "attributes").first()
    if product is None:
        return None
    recommendation_id = _recipient(key).values_list("recommendation_id", flat=True).first() or ""
    page = product_page_url(sku=product[0], attributes=product[1])
    return with_query(page, campaign_query(campaign_id=key.campaign_id, recommendation_id=recommendation_id))


def follow_click(*, key: RecipientKey, target: str | ProductTarget, now: datetime | None = None) -> str | None:
    """Record the click and return where it leads (None: a product no longer in the catalogue; nothing recorded)."""
    destination = product_destination(key=key, target=target) if isinstance(target, ProductTarget) else target
    if destination is not None:
        record_click(key=key, now=now)
    return destination


CONSENT_CHANNELS = (Campaign.Channel.EMAIL, Campaign.Channel.SMS, Campaign.Channel.PUSH)


@transaction.atomic
def unsubscribe(*, key: RecipientKey, now: datetime | None = None) -> Campaign.Channel | None:
    """Withdraw the customer's consent for the campaign's channel, at once and with its change time, and leave
    them out of every campaign on that channel not yet sent to them. Returns the channel (None: nothing to do)."""
    now = now or timezone.now()
    channel = Campaign.objects.filter(pk=key.campaign_id).values_list("channel", flat=True).first()
    if channel is None or channel not in CONSENT_CHANNELS:
        return None
    Customer.objects.filter(pk=key.customer_id).filter(**{f"{channel}_consent": True}).update(
        **{f"{channel}_consent": False, f"{channel}_consent_changed_at": now}
    )
    _recipient(key).filter(unsubscribed_at__isnull=True).update(unsubscribed_at=now)
    Recipient.objects.filter(
        customer_id=key.customer_id, campaign__channel=channel, status=Recipient.Status.PENDING
    ).update(status=Recipient.Status.EXCLUDED, exclusion=Recipient.Exclusion.UNSUBSCRIBED)
    return channel
