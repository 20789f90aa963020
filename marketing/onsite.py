"""On-site campaigns: what the shop shows a customer now (`GET /api/v1/customers/{external_id}/offers`).

The running on-site campaigns are read once every few seconds per process. For a customer the answer costs a
handful of queries: the customer, their memberships in the campaigns' segments, their recipient rows, and the
first time a campaign reaches them one insert (a recipient row, treated or control) and its coupon; later calls
only read. Consent is not needed on-site (the customer is on the shop's own page), the suppression list is
respected. The control group sees nothing, but its first impression time is stored as the would-be send time
(`sent_at`), the start of its attribution window like a treated customer's.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from marketing.audience import (
    ContentBuilder,
    audience_queryset,
    customer_context,
    is_control,
    issue_coupons_for,
    pick_variant,
)
from marketing.conf import setting
from marketing.models import Campaign, Offer, Recipient, Suppression, Variant
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


@dataclass
class OnsiteCampaign:
    id: int
    name: str
    holdout_share: float
    recommendations_count: int
    starts_at: datetime | None
    ends_at: datetime | None
    included: frozenset[int]
    excluded: frozenset[int]
    segment_names: dict[int, str]
    variants: tuple[OnsiteVariant, ...]
    offer: Offer | None
    offer_summary: dict | None
    model: Campaign
    variant_models: tuple[Variant, ...]

    def content_builder(self) -> ContentBuilder:
        """The campaign's builder (compiled templates, the catalog), kept across re-reads of the running campaigns
        while the campaign is unchanged, for at most MARKETING_ONSITE_CATALOG_SECONDS (prices, names)."""
        key = (self.id, self.model.updated_at)
        now = time.monotonic()
        cached = _builders.get(key)
        if cached is None or cached[0] < now:
            with _builder_lock:  # one thread loads the catalog; the others wait for it rather than load it too
                cached = _builders.get(key)
                if cached is None or cached[0] < now:
                    ttl = getattr(settings, "MARKETING_ONSITE_CATALOG_SECONDS", 300.0)
                    if len(_builders) > 50:
                        _builders.clear()
                    builder = ContentBuilder.for_campaign(self.model, list(self.variant_models))
                    cached = _builders[key] = (now + ttl, builder)
        return cached[1]

    def is_showing(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or now < self.ends_at)


_lock = threading.Lock()
_cached: tuple[float, tuple[OnsiteCampaign, ...]] | None = None
_builders: dict[tuple, tuple[float, ContentBuilder]] = {}
_builder_lock = threading.Lock()


def forget_onsite_campaigns() -> None:
    """Read the running campaigns again on the next call (after a launch, pause or edit in this process)."""
    global _cached
    with _lock:
        _cached = None
        _builders.clear()


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
                segment_names={s.id: s.name for s in c.included_segments.all()},
                variants=variants,
                offer=c.offer,
                offer_summary=offer_summary(c.offer) if c.offer else None,
                model=c,
                variant_models=tuple(c.variants.all()),
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
    customer = (
        Customer.objects.filter(external_id=external_id)
        .values("id", "name", "email", "external_id", "city", "country")
        .first()
    )
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
    # A campaign narrowed by a rule checks it once, when the customer first reaches it.
    new = [
        c
        for c in new
        if not c.model.audience_rule
        or audience_queryset(campaign=c.model, now=now, customer_ids=[customer_id]).exists()
    ]
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
                "products": [
                    _with_recommendation(products[sku], row["recommendation_id"])
                    for sku in row["recommended_skus"] or ()
                    if sku in products
                ],
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
    out = {}
    for sku, name, price, currency, attributes in rows:
        attributes = attributes or {}
        out[sku] = {
            "sku": sku,
            "name": name or sku,
            "price": None if price is None else f"{price:.2f}",
            "currency": currency,
            "image": str(attributes.get("image_link") or setting("MARKETING_PRODUCT_IMAGE_URL").format(sku=sku)),
            "link": str(attributes.get("link") or setting("MARKETING_PRODUCT_URL").format(sku=sku)),
        }
    return out


def _with_recommendation(product: dict, recommendation_id: str) -> dict:
    """The product with its link carrying the recommendation id (send it back with the events that follow)."""
    if not recommendation_id:
        return product
    link = product["link"]
    return {**product, "link": f"{link}{'&' if '?' in link else '?'}{urlencode({'rec': recommendation_id})}"}


def _enter(*, customer: dict, campaigns: list[OnsiteCampaign], member_of: set[int], now: datetime) -> dict[int, dict]:
    """Recipient rows for a customer reaching these campaigns for the first time (suppressed: left out)."""
    customer_id = customer["id"]
    suppressed = Suppression.objects.filter(
        Q(customer_id=customer_id) | (Q(address=customer["email"]) & ~Q(address="")),
        channel__in=["", Campaign.Channel.ONSITE],
    ).exists()
    rows = []
    for campaign in campaigns:
        control = is_control(campaign_id=campaign.id, customer_id=customer_id, holdout_share=campaign.holdout_share)
        segment = min(campaign.included & member_of, default=None)
        row = Recipient(
            campaign_id=campaign.id,
            customer_id=customer_id,
            segment_id=segment,
            segment_name=campaign.segment_names.get(segment, ""),
        )
        if suppressed:
            row.status, row.exclusion = Recipient.Status.EXCLUDED, Recipient.Exclusion.SUPPRESSED
        elif control:
            row.is_control, row.status = True, Recipient.Status.CONTROL
            row.sent_at = row.impression_at = now  # the would-be send time: the start of their window
        else:
            variant = pick_variant(campaign_id=campaign.id, customer_id=customer_id, variants=campaign.variant_models)
            row.variant_id = variant.pk
            row.status = Recipient.Status.SENT
            row.sent_at = row.impression_at = now  # shown now: this first impression starts the window
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
    """The newcomer's content, made as a one-off campaign's build makes it (same products, links and coupon)."""
    coupons = issue_coupons_for(campaign=campaign.model, customer_ids=[customer["id"]], now=now)
    variant = next(v for v in campaign.variant_models if v.pk == row.variant_id)
    fields = campaign.content_builder().message(
        variant=variant,
        customer=customer_context(
            external_id=customer["external_id"],
            name=customer["name"],
            email=customer["email"],
            city=customer["city"],
            country=customer["country"],
        ),
        customer_id=customer["id"],
        entry=row.entry,
        coupon=coupons.get(customer["id"], ""),
        last_product_id=None,
    )
    for name, value in fields.items():
        setattr(row, name, value)
