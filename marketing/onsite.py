"""On-site campaigns: what the shop shows a customer now (`GET /api/v1/customers/{external_id}/offers`).

The running on-site campaigns are kept per process and read again only when they changed: every
MARKETING_ONSITE_CACHE_SECONDS one thread compares their ids and change times (one small query) with what it
holds, so a launch, pause or end shows within that time in every process without a full re-read (which costs
milliseconds of the interpreter's time and would hold up the requests around it). For a customer the answer costs a
handful of queries: the customer, their memberships in the campaigns' segments, their recipient rows, and the
first time a campaign reaches them one insert (a recipient row, treated or control) and its coupon; later calls
only read. Consent is not needed on-site (the customer is on the shop's own page), the suppression list is
respected. The control group sees nothing, but its first impression time is stored as the would-be send time
(`sent_at`), the start of its attribution window like a treated customer's.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote_plus

import orjson
from django.conf import settings
from django.db import connection
from django.db.models import Prefetch
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
from segments.models import Membership, Segment
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
    ends_at_iso: str | None
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


@dataclass(frozen=True)
class _Running:
    campaigns: tuple[OnsiteCampaign, ...]
    fingerprint: tuple
    check_at: float  # monotonic: when to compare the fingerprint again
    read_until: float  # monotonic: re-read in full after this even when unchanged (segment names, offer terms)


_lock = threading.Lock()
_reload_lock = threading.Lock()
_cached: _Running | None = None
_builders: dict[tuple, tuple[float, ContentBuilder]] = {}
_builder_lock = threading.Lock()


def forget_onsite_campaigns() -> None:
    """Read the running campaigns again on the next call (after a launch, pause or edit in this process)."""
    global _cached, _product_cache
    with _lock:
        _cached = None
        _builders.clear()
        _product_cache = (0.0, {})


def running_onsite_campaigns() -> tuple[OnsiteCampaign, ...]:
    """Running on-site campaigns with variants, offer and segments. Every MARKETING_ONSITE_CACHE_SECONDS one thread
    checks whether they changed (ids, change times of the campaigns and their offers) and re-reads them only then,
    or after MARKETING_ONSITE_CATALOG_SECONDS; the other threads answer from what is held meanwhile."""
    global _cached
    cached = _cached
    if cached is not None and cached.check_at > time.monotonic():
        return cached.campaigns
    # One thread checks; the others keep answering from the previous read meanwhile (none the first time).
    if not _reload_lock.acquire(blocking=cached is None):
        return cached.campaigns
    try:
        cached = _cached
        now = time.monotonic()
        if cached is not None and cached.check_at > now:
            return cached.campaigns
        fingerprint = _fingerprint()
        if cached is not None and cached.fingerprint == fingerprint and cached.read_until > now:
            campaigns, read_until = cached.campaigns, cached.read_until
        else:
            # Read after the fingerprint: a change in between is seen by the next check and read then.
            campaigns = tuple(_load_running())
            read_until = now + getattr(settings, "MARKETING_ONSITE_CATALOG_SECONDS", 300.0)
        check_at = time.monotonic() + getattr(settings, "MARKETING_ONSITE_CACHE_SECONDS", 1.0)
        with _lock:
            _cached = _Running(campaigns, fingerprint, check_at, read_until)
        return campaigns
    finally:
        _reload_lock.release()


@functools.cache
def _fingerprint_sql() -> str:
    campaigns, offers = Campaign._meta.db_table, Offer._meta.db_table
    return (
        f"SELECT c.id, c.updated_at, o.updated_at FROM {campaigns} c LEFT JOIN {offers} o ON o.id = c.offer_id "
        "WHERE c.channel = %s AND c.status = %s ORDER BY c.id"
    )


def _fingerprint() -> tuple:
    """What identifies the running on-site campaigns as read: every status change or edit saves a new change time."""
    with connection.cursor() as cursor:
        cursor.execute(_fingerprint_sql(), [Campaign.Channel.ONSITE, Campaign.Status.RUNNING])
        return tuple(cursor.fetchall())


def _load_running() -> list[OnsiteCampaign]:
    rows = (
        Campaign.objects.filter(channel=Campaign.Channel.ONSITE, status=Campaign.Status.RUNNING)
        .select_related("offer")
        .prefetch_related(
            "variants",
            # Only what is used: a segment's stored profile is large and slow to decode.
            Prefetch("included_segments", queryset=Segment.objects.only("id", "name")),
            Prefetch("excluded_segments", queryset=Segment.objects.only("id")),
            "offer__bundle_products",
        )
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
                ends_at_iso=c.ends_at.isoformat() if c.ends_at else None,
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
#
# The hot path is plain SQL (no ORM query building, no model instances): a reached customer's answer is one
# indexed query (customer by external id, joined to their recipient rows of the running campaigns), products come
# from a per-process cache, and the response is built from the stored, already rendered content.

_ANSWER_COLUMNS = (
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
_CUSTOMER_COLUMNS = ("id", "name", "email", "external_id", "city", "country")


@functools.cache
def _read_sql(campaign_count: int) -> str:
    """The customer and their recipient rows in the running campaigns, the latest entry last, in one query."""
    customers, recipients = Customer._meta.db_table, Recipient._meta.db_table
    marks = ", ".join(["%s"] * campaign_count)
    return (
        f"SELECT {', '.join(f'c.{n}' for n in _CUSTOMER_COLUMNS)}, {', '.join(f'r.{n}' for n in _ANSWER_COLUMNS)} "
        f"FROM {customers} c LEFT JOIN {recipients} r ON r.customer_id = c.id AND r.campaign_id IN ({marks}) "
        f"WHERE c.external_id = %s ORDER BY r.campaign_id, r.entry"
    )


def _read(external_id: str, campaign_ids: list[int]) -> tuple[dict | None, dict[int, dict]]:
    """(the customer's fields, campaign id -> their latest recipient row); (None, {}) for an unknown customer."""
    with connection.cursor() as cursor:
        cursor.execute(_read_sql(len(campaign_ids)), [*campaign_ids, external_id])
        found = cursor.fetchall()
    if not found:
        return None, {}
    width = len(_CUSTOMER_COLUMNS)
    customer = dict(zip(_CUSTOMER_COLUMNS, found[0][:width], strict=True))
    rows = {}
    for values in found:
        if values[width] is None:  # no recipient row (the outer join's empty side)
            continue
        row = dict(zip(_ANSWER_COLUMNS, values[width:], strict=True))
        row["is_control"] = bool(row["is_control"])
        skus = row["recommended_skus"]
        row["recommended_skus"] = orjson.loads(skus) if isinstance(skus, str | bytes) else skus
        rows[row["campaign_id"]] = row
    return customer, rows


def customer_offers(*, external_id: str, now: datetime | None = None) -> list[dict]:
    """The offers the customer sees now, one per running on-site campaign they belong to (not held out)."""
    now = now or timezone.now()
    campaigns = [c for c in running_onsite_campaigns() if c.is_showing(now)]
    if not campaigns:
        return []
    campaign_ids = [c.id for c in campaigns]
    customer, rows = _read(external_id, campaign_ids)
    if customer is None:
        return []
    if len(rows) < len(campaigns):
        new, member_of = _newly_reached(
            customer=customer, campaigns=[c for c in campaigns if c.id not in rows], now=now
        )
        if new:
            entered = _enter(customer=customer, campaigns=new, member_of=member_of, now=now)
            if entered is None:
                # Two requests for the same newcomer at once insert one row; both answer with it.
                rows = _read(external_id, campaign_ids)[1]
            else:
                rows.update(entered)
    first_seen = [r["id"] for r in rows.values() if r["impression_at"] is None and r["status"] != "excluded"]
    if first_seen:
        # Only the first impression is written (a row built at launch); every later call is read-only.
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
                "products": _with_recommendation(
                    [products[sku] for sku in row["recommended_skus"] or () if sku in products],
                    row["recommendation_id"],
                ),
                "ends_at": campaign.ends_at_iso,
            }
        )
    return answers


def _newly_reached(
    *, customer: dict, campaigns: list[OnsiteCampaign], now: datetime
) -> tuple[list[OnsiteCampaign], set[int]]:
    """The campaigns, among those without a row for the customer, whose audience they belong to now (and the
    customer's segments among theirs)."""
    segment_ids = sorted(set().union(*(c.included | c.excluded for c in campaigns)))
    member_of: set[int] = set()
    if segment_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT segment_id FROM {Membership._meta.db_table} WHERE customer_id = %s "
                f"AND segment_id IN ({', '.join(['%s'] * len(segment_ids))})",
                [customer["id"], *segment_ids],
            )
            member_of = {segment_id for (segment_id,) in cursor.fetchall()}
    targeted = [c for c in campaigns if _targets(c, member_of)]
    # A campaign narrowed by a rule checks it once, when the customer first reaches it.
    reached = [
        c
        for c in targeted
        if not c.model.audience_rule
        or audience_queryset(campaign=c.model, now=now, customer_ids=[customer["id"]]).exists()
    ]
    return reached, member_of


def _targets(campaign: OnsiteCampaign, member_of: set[int]) -> bool:
    if campaign.excluded & member_of:
        return False
    return not campaign.included or bool(campaign.included & member_of)


_product_lock = threading.Lock()
_product_cache: tuple[float, dict[str, tuple[dict, str]]] = (0.0, {})


def _products(skus: set[str]) -> dict[str, tuple[dict, str]]:
    """The products as the answer shows them, with their link's stem for a recommendation id, from a per-process
    cache refreshed every MARKETING_ONSITE_CATALOG_SECONDS (names and prices); a sku not seen yet costs one query."""
    global _product_cache
    if not skus:
        return {}
    expires, cache = _product_cache
    if expires < time.monotonic():
        ttl = getattr(settings, "MARKETING_ONSITE_CATALOG_SECONDS", 300.0)
        cache = {}
        _product_cache = (time.monotonic() + ttl, cache)
    missing = skus - cache.keys()
    if missing:
        rows = Product.objects.filter(sku__in=missing).values_list("sku", "name", "price", "currency", "attributes")
        found = {}
        for sku, name, price, currency, attributes in rows:
            attributes = attributes or {}
            image = attributes.get("image_link") or setting("MARKETING_PRODUCT_IMAGE_URL").format(sku=sku)
            link = str(attributes.get("link") or setting("MARKETING_PRODUCT_URL").format(sku=sku))
            product = {
                "sku": sku,
                "name": name or sku,
                "price": None if price is None else f"{price:.2f}",
                "currency": currency,
                "image": str(image),
                "link": link,
            }
            # The link with `rec=` appended, but for the id itself (made once, not per answer).
            found[sku] = (product, f"{link}{'&' if '?' in link else '?'}rec=")
        with _product_lock:
            if len(cache) > 100_000:
                cache.clear()
            cache.update(found)
    return {sku: cache[sku] for sku in skus if sku in cache}


def _with_recommendation(shown: list[tuple[dict, str]], recommendation_id: str) -> list[dict]:
    """The products with their links carrying the recommendation id (send it back with the events that follow)."""
    if not recommendation_id:
        return [product for product, _ in shown]
    rec = quote_plus(recommendation_id)
    return [{**product, "link": f"{link_stem}{rec}"} for product, link_stem in shown]


def _suppressed(customer: dict) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {Suppression._meta.db_table} WHERE (customer_id = %s OR (address = %s AND address <> ''))"
            " AND channel IN (%s, %s) LIMIT 1",
            [customer["id"], customer["email"] or "", "", Campaign.Channel.ONSITE],
        )
        return cursor.fetchone() is not None


def _enter(
    *, customer: dict, campaigns: list[OnsiteCampaign], member_of: set[int], now: datetime
) -> dict[int, dict] | None:
    """Recipient rows for a customer reaching these campaigns for the first time (suppressed: left out), written
    in one insert. Returns them as `_read` would (None when another request wrote some of them first)."""
    customer_id = customer["id"]
    suppressed = _suppressed(customer)
    rows = []
    for campaign in campaigns:
        control = is_control(campaign_id=campaign.id, customer_id=customer_id, holdout_share=campaign.holdout_share)
        segment = min(campaign.included & member_of, default=None)
        row = {
            "campaign_id": campaign.id,
            "customer_id": customer_id,
            "segment_id": segment,
            "segment_name": campaign.segment_names.get(segment, ""),
        }
        if suppressed:
            row["status"], row["exclusion"] = Recipient.Status.EXCLUDED, Recipient.Exclusion.SUPPRESSED
        elif control:
            row["is_control"], row["status"] = True, Recipient.Status.CONTROL
            row["sent_at"] = row["impression_at"] = now  # the would-be send time: the start of their window
        else:
            variant = pick_variant(campaign_id=campaign.id, customer_id=customer_id, variants=campaign.variant_models)
            row["variant_id"] = variant.pk
            row["status"] = Recipient.Status.SENT
            row["sent_at"] = row["impression_at"] = now  # shown now: this first impression starts the window
            row.update(_content(campaign=campaign, variant=variant, customer=customer, now=now))
        rows.append(row)
    columns, defaults = _insert_defaults(connection.alias)
    fields = _insert_fields()
    values = []
    for row in rows:
        prepared = dict(defaults)
        for name, value in row.items():
            prepared[name] = fields[name].get_db_prep_save(value, connection)
        values.extend(prepared[name] for name in columns)
    one = f"({', '.join(['%s'] * len(columns))})"
    with connection.cursor() as cursor:
        # Two requests for the same newcomer at once: the second insert is ignored and both read the first row.
        cursor.execute(
            f"INSERT INTO {Recipient._meta.db_table} ({', '.join(fields[n].column for n in columns)}) "
            f"VALUES {', '.join([one] * len(rows))} ON CONFLICT DO NOTHING",
            values,
        )
        if cursor.rowcount != len(rows):
            return None
    blank = dict.fromkeys(_ANSWER_COLUMNS)
    answered = {}
    for row in rows:
        shown = {**blank, **{k: v for k, v in row.items() if k in blank}}
        shown.update(
            is_control=bool(row.get("is_control")),
            coupon_code=row.get("coupon_code", ""),
            recommendation_id=row.get("recommendation_id", ""),
            recommended_skus=row.get("recommended_skus", []),
        )
        answered[row["campaign_id"]] = shown
    return answered


@functools.cache
def _insert_fields() -> dict[str, object]:
    """Recipient's stored fields by attribute name (foreign keys as `<name>_id`), the id left to the database."""
    return {f.attname: f for f in Recipient._meta.concrete_fields if not f.primary_key}


@functools.cache
def _insert_defaults(alias: str) -> tuple[tuple[str, ...], dict[str, object]]:
    """The insert's columns and every field's default, prepared for the database once (not per newcomer)."""
    from django.db import connections

    fields = _insert_fields()
    prepared = {name: f.get_db_prep_save(f.get_default(), connections[alias]) for name, f in fields.items()}
    return tuple(fields), prepared


def _content(*, campaign: OnsiteCampaign, variant: Variant, customer: dict, now: datetime) -> dict:
    """The newcomer's content, made as a one-off campaign's build makes it (same products, links and coupon)."""
    coupons = issue_coupons_for(campaign=campaign.model, customer_ids=[customer["id"]], now=now)
    return campaign.content_builder().message(
        variant=variant,
        customer=customer_context(
            external_id=customer["external_id"],
            name=customer["name"],
            email=customer["email"],
            city=customer["city"],
            country=customer["country"],
        ),
        customer_id=customer["id"],
        entry=1,
        coupon=coupons.get(customer["id"], ""),
        last_product_id=None,
    )
