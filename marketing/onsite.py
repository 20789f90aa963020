"""On-site campaigns: what the shop shows a customer now (`GET /api/v1/customers/{external_id}/offers`).

The running on-site campaigns are read once every few seconds per process. For a customer the answer costs a
handful of queries: the customer, their memberships in the campaigns' segments, their recipient rows, and the
first time a campaign reaches them one insert (a recipient row, treated or control) and its coupon; later calls
only read. Consent is not needed on-site (the customer is on the shop's own page), the suppression list is
respected. The control group sees nothing, but its first impression time is stored as the would-be send time
(`sent_at`), the start of its attribution window like a treated customer's.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from marketing.models import Campaign, Offer, Recipient, Suppression
from marketing.offers import issue_coupons
from recommender.serving import engine, log
from segments.models import Membership
from shop.models import Customer, Product


@dataclass(frozen=True)
class OnsiteVariant:
    id: int
    name: str
    split_share: float
    subject: str
    html_template: str
    text_template: str


@dataclass(frozen=True)
class OnsiteCampaign:
    id: int
    name: str
    holdout_share: float
    recommendations_count: int
    starts_at: datetime | None
    ends_at: datetime | None
    included: frozenset[int]
    excluded: frozenset[int]
    variants: tuple[OnsiteVariant, ...]
    offer: Offer | None
    offer_summary: dict | None = field(default=None)

    def is_showing(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or now < self.ends_at)


_lock = threading.Lock()
_cached: tuple[float, tuple[OnsiteCampaign, ...]] | None = None


def forget_onsite_campaigns() -> None:
    """Read the running campaigns again on the next call (after a launch, pause or edit in this process)."""
    global _cached
    with _lock:
        _cached = None


def running_onsite_campaigns() -> tuple[OnsiteCampaign, ...]:
    """Running on-site campaigns with variants, offer and segments; re-read every MARKETING_ONSITE_CACHE_SECONDS."""
    global _cached
    ttl = getattr(settings, "MARKETING_ONSITE_CACHE_SECONDS", 5.0)
    now = time.monotonic()
    cached = _cached
    if cached is not None and cached[0] > now:
        return cached[1]
    campaigns = tuple(_load_running())
    with _lock:
        _cached = (now + ttl, campaigns)
    return campaigns


def _load_running() -> list[OnsiteCampaign]:
    rows = (
        Campaign.objects.filter(channel=Campaign.Channel.ONSITE, status=Campaign.Status.RUNNING)
        .select_related("offer")
        .prefetch_related("variants", "included_segments", "excluded_segments", "offer__bundle_products")
        .order_by("id")
    )
    result = []
    for c in rows:
        variants = tuple(
            OnsiteVariant(v.id, v.name, v.split_share, v.subject, v.html_template, v.text_template)
            for v in c.variants.all()
        )
        if not variants:
            continue  # nothing to show; the admin refuses to launch such a campaign
        result.append(
            OnsiteCampaign(
                id=c.id,
                name=c.name,
                holdout_share=c.holdout_share,
                recommendations_count=c.recommendations_count,
                starts_at=c.starts_at,
                ends_at=c.ends_at,
                included=frozenset(s.id for s in c.included_segments.all()),
                excluded=frozenset(s.id for s in c.excluded_segments.all()),
                variants=variants,
                offer=c.offer,
                offer_summary=offer_summary(c.offer) if c.offer else None,
            )
        )
    return result


def offer_summary(offer: Offer) -> dict:
    return {
        "name": offer.name,
        "kind": offer.kind,
        "value": str(offer.value),
        "currency": offer.currency,
        "min_basket": None if offer.min_basket is None else str(offer.min_basket),
        "valid_from": offer.valid_from.isoformat() if offer.valid_from else None,
        "valid_until": offer.valid_until.isoformat() if offer.valid_until else None,
        "bundle_skus": [p.sku for p in offer.bundle_products.all()] if offer.kind == Offer.Kind.BUNDLE else [],
    }


# --- one customer -----------------------------------------------------------------------------------------------


_RECIPIENT_FIELDS = (
    "id",
    "campaign_id",
    "is_control",
    "status",
    "variant_id",
    "coupon_code",
    "recommendation_id",
    "recommended_skus",
    "subject",
    "body_html",
    "body_text",
    "impression_at",
)


def customer_offers(*, external_id: str, now: datetime | None = None) -> list[dict]:
    """The offers the customer sees now, one per running on-site campaign they belong to (not held out)."""
    now = now or timezone.now()
    campaigns = [c for c in running_onsite_campaigns() if c.is_showing(now)]
    if not campaigns:
        return []
    customer = Customer.objects.filter(external_id=external_id).values("id", "name", "email", "external_id").first()
    if customer is None:
        return []
    customer_id = customer["id"]
    segment_ids = set().union(*(c.included | c.excluded for c in campaigns))
    member_of = set(
        Membership.objects.filter(customer_id=customer_id, segment_id__in=segment_ids).values_list(
            "segment_id", flat=True
        )
    )
    rows = {
        r["campaign_id"]: r
        for r in Recipient.objects.filter(customer_id=customer_id, campaign_id__in=[c.id for c in campaigns])
        .order_by("campaign_id", "entry")
        .values(*_RECIPIENT_FIELDS)
    }
    new = [c for c in campaigns if c.id not in rows and _targets(c, member_of)]
    if new:
        rows.update(_enter(customer=customer, campaigns=new, member_of=member_of, now=now))
    first_seen = [r["id"] for r in rows.values() if r["impression_at"] is None and r["status"] != "excluded"]
    if first_seen:
        # Only the first impression is written; every later call is read-only.
        Recipient.objects.filter(id__in=first_seen, impression_at__isnull=True).update(impression_at=now)
        Recipient.objects.filter(id__in=first_seen, sent_at__isnull=True).update(sent_at=now)
    answers = []
    products = _products({sku for r in rows.values() for sku in r["recommended_skus"] or ()})
    for campaign in campaigns:
        row = rows.get(campaign.id)
        if row is None or row["is_control"] or row["status"] != Recipient.Status.SENT:
            continue
        variant = next((v for v in campaign.variants if v.id == row["variant_id"]), campaign.variants[0])
        answers.append(
            {
                "campaign": campaign.id,
                "campaign_name": campaign.name,
                "variant": variant.name,
                "headline": row["subject"],
                "html": row["body_html"],
                "text": row["body_text"],
                "coupon": row["coupon_code"] or None,
                "offer": campaign.offer_summary,
                "recommendation_id": row["recommendation_id"] or None,
                "products": [products[sku] for sku in row["recommended_skus"] or () if sku in products],
                "ends_at": campaign.ends_at.isoformat() if campaign.ends_at else None,
            }
        )
    return answers


def _targets(campaign: OnsiteCampaign, member_of: set[int]) -> bool:
    if campaign.excluded & member_of:
        return False
    return not campaign.included or bool(campaign.included & member_of)


def _products(skus: set[str]) -> dict[str, dict]:
    if not skus:
        return {}
    rows = Product.objects.filter(sku__in=skus).values_list("sku", "name", "price", "currency", "attributes")
    return {
        sku: {
            "sku": sku,
            "name": name,
            "price": None if price is None else str(price),
            "currency": currency,
            "image": (attributes or {}).get("image_link") or (attributes or {}).get("image") or None,
            "link": (attributes or {}).get("link") or None,
        }
        for sku, name, price, currency, attributes in rows
    }


def _enter(*, customer: dict, campaigns: list[OnsiteCampaign], member_of: set[int], now: datetime) -> dict[int, dict]:
    """Recipient rows for a customer reaching these campaigns for the first time (suppressed: left out)."""
    customer_id = customer["id"]
    suppressed = Suppression.objects.filter(
        Q(customer_id=customer_id) | (Q(address=customer["email"]) & ~Q(address="")),
        channel__in=["", Campaign.Channel.ONSITE],
    ).exists()
    rows = []
    for campaign in campaigns:
        control = is_control(campaign_id=campaign.id, customer_id=customer_id, share=campaign.holdout_share)
        segment = min(campaign.included & member_of, default=None)
        row = Recipient(
            campaign_id=campaign.id, customer_id=customer_id, segment_id=segment, sent_at=None, impression_at=None
        )
        if suppressed:
            row.status, row.exclusion = Recipient.Status.EXCLUDED, Recipient.Exclusion.SUPPRESSED
        elif control:
            row.is_control, row.status = True, Recipient.Status.CONTROL
        else:
            shares = [(v.id, v.split_share) for v in campaign.variants]
            row.variant_id = pick_variant(campaign_id=campaign.id, customer_id=customer_id, shares=shares)
            row.status = Recipient.Status.SENT
            _fill_content(row, campaign=campaign, customer=customer, now=now)
        rows.append(row)
    with transaction.atomic():
        # Two requests for the same newcomer at once: the second insert is ignored and both read the first row.
        Recipient.objects.bulk_create(rows, ignore_conflicts=True)
    return {
        r["campaign_id"]: r
        for r in Recipient.objects.filter(customer_id=customer_id, campaign_id__in=[c.id for c in campaigns])
        .order_by("campaign_id", "entry")
        .values(*_RECIPIENT_FIELDS)
    }


def _fill_content(row: Recipient, *, campaign: OnsiteCampaign, customer: dict, now: datetime) -> None:
    if campaign.offer is not None:
        row.coupon_code = issue_coupons(offer=campaign.offer, customer_ids=[customer["id"]], now=now)[customer["id"]]
    variant = next(v for v in campaign.variants if v.id == row.variant_id)
    answer = engine.recommend(external_id=customer["external_id"], n=campaign.recommendations_count)
    recommendation_id = log.new_recommendation_id(answer.run_id, customer["id"])
    log.record(
        recommendation_id=recommendation_id,
        run_id=answer.run_id,
        customer_id=customer["id"],
        surface="onsite",
        results=answer.results,
    )
    skus = [r["sku"] for r in answer.results]
    products = _products(set(skus))
    context = {
        "customer": {
            "external_id": customer["external_id"],
            "name": customer["name"],
            "first_name": (customer["name"] or "").split(" ")[0],
        },
        "offer": campaign.offer_summary,
        "coupon": row.coupon_code,
        "products": [products[sku] for sku in skus if sku in products],
        "recommendation_id": recommendation_id,
    }
    row.subject = render(variant.subject, context)
    row.body_html = render(variant.html_template, context, html=True)
    row.body_text = render(variant.text_template, context)
    row.recommendation_id = recommendation_id
    row.recommended_skus = skus


# --- the control group and the variants, by hashing customer and campaign ------------------------------------


def _unit(campaign_id: int, customer_id: int, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{campaign_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_control(*, campaign_id: int, customer_id: int, share: float) -> bool:
    """Deterministic: the same customer is in the same group of a campaign on every rebuild and every call."""
    return _unit(campaign_id, customer_id, "holdout") < share


def pick_variant(*, campaign_id: int, customer_id: int, shares: list[tuple[int, float]]) -> int:
    total = sum(share for _, share in shares) or 1.0
    point = _unit(campaign_id, customer_id, "variant") * total
    for variant_id, share in shares:
        point -= share
        if point < 0:
            return variant_id
    return shares[-1][0]


_env = None


def render(template: str, context: dict, *, html: bool = False) -> str:
    """A template rendered in Jinja2's sandbox (plain dicts in the context, never model objects)."""
    global _env
    if not template:
        return ""
    if _env is None:
        from jinja2.sandbox import SandboxedEnvironment

        _env = (SandboxedEnvironment(autoescape=False), SandboxedEnvironment(autoescape=True))
    return _env[html].from_string(template).render(context)
