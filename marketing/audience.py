"""Who a campaign reaches: the audience (included segments minus excluded ones, narrowed by a rule), who is left
out and why, the control group, the variant split, and each recipient's personalised message.

The estimate is one aggregate query (counts by exclusion reason, nothing built). The build reads the audience
with its exclusion reason computed in the same SQL, assigns control and variants by hashing (customer,
campaign) — so a rebuild puts everyone in the same group — issues coupons, asks the recommender for each
recipient's products, renders the content and writes the rows in bulk, chunk by chunk. For a large audience the
rendering runs in worker processes (MARKETING_BUILD_PROCESSES, default one per CPU up to 4, from
MARKETING_BUILD_PARALLEL_MIN = 5,000 treated recipients) while this process asks the recommender and writes: they
hand back each recipient's row and served-list row ready for the bulk writer (JSON already encoded), so this
process only stacks them and writes WRITE_ROWS at a time, one transaction each.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import time
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Lower
from django.utils import timezone

from marketing.conf import setting
from marketing.models import Campaign, Recipient, Suppression, UpliftModel, Variant
from marketing.rendering import CompiledContent, compile_content, offer_context, with_open_pixel
from marketing.tracking import RecipientKey, RecipientLinks, campaign_query, product_page_url, with_query
from recommender.models import ServedRecommendation
from segments.ml.rules import Rule, RuleError, conditions, parse_rule
from segments.models import Membership, Segment
from segments.rules import customers_matching, evaluable_in_database, rule_fields
from shop.bulk import insert_rows
from shop.models import Customer, Interaction, InteractionKind, Product

R = Recipient.Exclusion
CONSENT_CHANNELS = frozenset({Campaign.Channel.EMAIL, Campaign.Channel.SMS, Campaign.Channel.PUSH})
# The order reasons are checked in: a customer left out for several is counted under the first.
REASONS = (R.NO_CONSENT, R.NO_ADDRESS, R.SUPPRESSED, R.FREQUENCY_CAP, R.QUIET_HOURS)
# ...and after them, customers below a campaign's uplift cut (only when it targets by uplift).
REPORTED_REASONS = (*REASONS, R.NOT_TARGETED)
CHUNK = 2000
# Treated rows written per transaction: each SQLite commit may checkpoint the WAL (a sync of the database file), and
# a build of 100,000 messages writes half a gigabyte; a few large commits rather than one per rendered chunk.
WRITE_ROWS = 10_000
MAX_VARIANTS = 4
# Where a preview's unsubscribe link points: nowhere (the real one would unsubscribe the customer).
PREVIEW_UNSUBSCRIBE_URL = "#unsubscribe"


# --- The audience ----------------------------------------------------------------------------------------------


def parse_audience_rule(data) -> Rule | None:
    """The campaign's rule as a tree (None when blank), or a ValidationError naming the bad condition."""
    if not data:
        return None
    try:
        rule = parse_rule(data, fields=rule_fields(), path="audience_rule")
    except RuleError as exc:
        raise ValidationError({"audience_rule": str(exc)}) from exc
    if not evaluable_in_database(rule):
        names = sorted({c.field for c in conditions(rule)})
        raise ValidationError(
            {
                "audience_rule": (
                    f"An audience rule runs in the database: it may name customer fields, purchase aggregates "
                    f"(frequency, monetary, last_purchase_at...) and attributes with =, ≠ or in; {', '.join(names)} "
                    "needs the feature pipeline — make a rules segmentation and include its segment instead."
                )
            }
        )
    return rule


def audience_queryset(
    *, campaign: Campaign, now: datetime, customer_ids: Iterable[int] | None = None
) -> QuerySet[Customer]:
    """Customers in any included segment, in no excluded one, matching the rule (or exactly `customer_ids`)."""
    if customer_ids is not None:
        queryset = Customer.objects.filter(pk__in=list(customer_ids))
    else:
        included = list(campaign.included_segments.values_list("pk", flat=True))
        if not included:
            return Customer.objects.none()
        queryset = Customer.objects.filter(
            pk__in=Membership.objects.filter(segment_id__in=included).values("customer_id")
        )
        excluded = list(campaign.excluded_segments.values_list("pk", flat=True))
        if excluded:
            queryset = queryset.exclude(pk__in=Membership.objects.filter(segment_id__in=excluded).values("customer_id"))
    rule = parse_audience_rule(campaign.audience_rule)
    if rule is not None:
        queryset = queryset.filter(pk__in=customers_matching(rule, as_of=now))
    return queryset.order_by()


def _quiet_hours() -> tuple[int, int] | None:
    raw = str(setting("MARKETING_QUIET_HOURS") or "").strip()
    if not raw:
        return None
    try:
        start, end = (int(part) % 24 for part in raw.split("-"))
    except ValueError as exc:
        raise ValidationError(f"MARKETING_QUIET_HOURS must look like '21-8', not {raw!r}") from exc
    return (start, end) if start != end else None


def in_quiet_hours(moment: datetime, zone: str | None) -> bool:
    """Whether `moment` falls in quiet hours in time zone `zone` (TIME_ZONE when None or unknown)."""
    window = _quiet_hours()
    if window is None:
        return False
    try:
        tz = zoneinfo.ZoneInfo(zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    hour = moment.astimezone(tz).hour
    start, end = window
    return start <= hour < end if start < end else hour >= start or hour < end


def _has_attribute(name: str) -> Q:
    return Q(attributes__has_key=name) & ~Q(**{f"attributes__{name}": ""}) & ~Q(**{f"attributes__{name}": None})


def _address_q(channel: str) -> Q | None:
    """Customers who have an address for the channel (None: the channel needs none)."""
    if channel == Campaign.Channel.EMAIL:
        return ~Q(email="")
    if channel == Campaign.Channel.SMS:
        return _has_attribute(setting("MARKETING_PHONE_ATTRIBUTE"))
    if channel == Campaign.Channel.PUSH:
        return _has_attribute(setting("MARKETING_PUSH_TOKEN_ATTRIBUTE"))
    return None


def _address_expression(channel: str):
    if channel == Campaign.Channel.EMAIL:
        return Lower("email")
    if channel == Campaign.Channel.SMS:
        return KT(f"attributes__{setting('MARKETING_PHONE_ATTRIBUTE')}")
    if channel == Campaign.Channel.PUSH:
        return KT(f"attributes__{setting('MARKETING_PUSH_TOKEN_ATTRIBUTE')}")
    return None


def send_moment(campaign: Campaign, now: datetime) -> datetime:
    return campaign.send_at if campaign.send_at and campaign.send_at > now else now


def _quiet_q(campaign: Campaign, queryset: QuerySet, moment: datetime) -> Q | None:
    if campaign.channel not in setting("MARKETING_QUIET_HOURS_CHANNELS") or _quiet_hours() is None:
        return None
    zones = set(
        queryset.filter(attributes__has_key="timezone").values_list(KT("attributes__timezone"), flat=True).distinct()
    )
    # An unknown or blank zone counts as TIME_ZONE, as in_quiet_hours reads it.
    quiet_zones = [z for z in zones if z is not None and in_quiet_hours(moment, z or None)]
    parts = [Q(attributes__timezone__in=quiet_zones)] if quiet_zones else []
    if in_quiet_hours(moment, None):
        parts.append(~Q(attributes__has_key="timezone"))
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined |= part
    return combined


def exclusion_conditions(*, campaign: Campaign, queryset: QuerySet, now: datetime) -> list[tuple[str, Q]]:
    """(reason, condition) in order of precedence; the queryset must be annotated by `with_channel_address`."""
    channel = campaign.channel
    out: list[tuple[str, Q]] = []
    if channel in CONSENT_CHANNELS:
        out.append((R.NO_CONSENT, ~Q(**{f"{channel}_consent": True})))
    address = _address_q(channel)
    if address is not None:
        out.append((R.NO_ADDRESS, ~address))
    suppressions = Suppression.objects.filter(Q(channel="") | Q(channel=channel))
    suppressed = Q(pk__in=suppressions.filter(customer__isnull=False).values("customer_id"))
    if _address_expression(channel) is not None:
        suppressed |= Q(channel_address__in=suppressions.exclude(address="").values("address"))
    out.append((R.SUPPRESSED, suppressed))
    if channel != Campaign.Channel.ONSITE:
        since = now - timedelta(days=setting("MARKETING_FREQUENCY_DAYS"))
        recent = (
            Recipient.objects.filter(status=Recipient.Status.SENT, sent_at__gte=since, customer__isnull=False)
            .exclude(campaign_id=campaign.pk)
            .values("customer_id")
            .annotate(n=Count("pk"))
            .filter(n__gte=setting("MARKETING_FREQUENCY_CAP"))
            .values("customer_id")
        )
        capped = Q(pk__in=recent)
        if campaign.frequency_cap and campaign.pk:
            own = (
                Recipient.objects.filter(campaign_id=campaign.pk, status=Recipient.Status.SENT)
                .values("customer_id")
                .annotate(n=Count("pk"))
                .filter(n__gte=campaign.frequency_cap)
                .values("customer_id")
            )
            capped |= Q(pk__in=own)
        out.append((R.FREQUENCY_CAP, capped))
    quiet = _quiet_q(campaign, queryset, send_moment(campaign, now))
    if quiet is not None:
        out.append((R.QUIET_HOURS, quiet))
    return out


def with_channel_address(queryset: QuerySet, channel: str) -> QuerySet:
    expression = _address_expression(channel)
    return queryset.annotate(channel_address=expression) if expression is not None else queryset


def reason_expression(rules: list[tuple[str, Q]]):
    if not rules:
        return Value("", output_field=CharField())
    return Case(*[When(q, then=Value(reason)) for reason, q in rules], default=Value(""), output_field=CharField())


# --- The estimate ----------------------------------------------------------------------------------------------


def estimate_audience(*, campaign: Campaign, now: datetime | None = None) -> dict:
    """Audience size, who would be left out by reason, and the control and treated counts the build would make
    today (the same hash; with uplift targeting, the holdout share of those targeted): an aggregate query and
    the eligible ids, no build."""
    now = now or timezone.now()
    started = time.perf_counter()
    queryset = with_channel_address(audience_queryset(campaign=campaign, now=now), campaign.channel)
    rules = exclusion_conditions(campaign=campaign, queryset=queryset, now=now)
    aggregates = {"audience": Count("pk")}
    earlier = Q()
    for reason, q in rules:
        aggregates[reason] = Count("pk", filter=q & ~earlier) if earlier else Count("pk", filter=q)
        earlier = (earlier | q) if earlier else q
    counts = queryset.aggregate(**aggregates)
    excluded = {reason: counts.get(reason, 0) for reason in REASONS if reason in counts}
    eligible = counts["audience"] - sum(excluded.values())
    uplift = None
    eligible_ids = queryset.annotate(reason=reason_expression(rules)).filter(reason="").values_list("pk", flat=True)
    if targets_by_uplift(campaign):
        # Scoring needs each eligible customer's features: slower than the counts, done only when asked for.
        uplift = uplift_estimate(campaign=campaign, eligible=list(eligible_ids), now=now)
        excluded[R.NOT_TARGETED] = uplift["not_targeted"]
        eligible -= uplift["not_targeted"]
        control = round(eligible * campaign.holdout_share)
    else:
        # The same hash as the build: the control group the build would make from today's eligible customers,
        # not the holdout share of their number (which differs from it by chance, and was shown as exact).
        control = sum(
            is_control(campaign_id=campaign.pk, customer_id=pk, holdout_share=campaign.holdout_share)
            for pk in eligible_ids.iterator(chunk_size=5000)
        )
    out = {
        "audience": counts["audience"],
        "excluded": excluded,
        "eligible": eligible,
        "control": control,
        "treated": eligible - control,
        "at": now.isoformat(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if uplift is not None:
        out["uplift_targeting"] = uplift
    return out


# --- Holdout and variants ---------------------------------------------------------------------------------------


def _unit(campaign_id: int, customer_id: int, salt: str) -> float:
    digest = hashlib.blake2b(f"{campaign_id}:{customer_id}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def is_control(*, campaign_id: int, customer_id: int, holdout_share: float) -> bool:
    """The customer's group in this campaign: the same on every rebuild (a hash, not a random draw)."""
    return _unit(campaign_id, customer_id, "holdout") < holdout_share


def pick_variant(*, campaign_id: int, customer_id: int, variants: list[Variant]) -> Variant:
    """A variant by split share, from a second hash independent of the holdout one."""
    total = sum(v.split_share for v in variants)
    point = _unit(campaign_id, customer_id, "variant") * total
    running = 0.0
    for variant in variants:
        running += variant.split_share
        if point < running:
            return variant
    return variants[-1]


# --- Targeting by uplift --------------------------------------------------------------------------------------------


def targets_by_uplift(campaign: Campaign) -> bool:
    """Whether the campaign reaches only the share of its audience with the highest predicted uplift."""
    return bool(campaign.uplift_model_id and campaign.uplift_target_share)


def check_uplift_targeting(*, model: UpliftModel | None, share: float | None) -> None:
    """Both or neither of the uplift model and the share, and a model that can score the shop's customers;
    a ValidationError keyed by field otherwise."""
    if model is None and share is None:
        return
    if model is None:
        raise ValidationError({"uplift_model": "Choose the uplift model that ranks the audience, or clear the share."})
    if share is None:
        raise ValidationError({"uplift_target_share": "Give the share of the audience to target (0.01 to 1)."})
    from marketing.uplift_models import load_artifact

    if load_artifact(model).get("source") != "segment_features":
        raise ValidationError({"uplift_model": _imported_model_problem(model)})


def _imported_model_problem(model: UpliftModel) -> str:
    return (
        f"The uplift model {model} reads the columns of an imported file, which the shop's customers do not have: "
        "target by uplift with a model trained on a campaign sent here."
    )


def predicted_uplift(
    *,
    model: UpliftModel,
    customer_ids: list[int],
    segments: dict[int, tuple[int, str]],
    now: datetime,
    population: QuerySet | None = None,
) -> np.ndarray:
    """The model's predicted uplift for each customer (in order), from their segment features as of `now` and
    their segment in the campaign's first included segmentation, as the model was trained on its recipients.

    `population` (a subquery of ids holding `customer_ids`) limits the feature queries for a long list."""
    from marketing.uplift_models import SEGMENT_COLUMN, load_artifact
    from segments.ml.features import customer_features
    from segments.selectors import feature_inputs

    artifact = load_artifact(model)
    if artifact.get("source") != "segment_features":
        raise ValidationError({"uplift_model": _imported_model_problem(model)})
    columns = list(artifact["features"])
    if not customer_ids:
        return np.zeros(0)
    if len(customer_ids) <= 500:
        population = Customer.objects.filter(pk__in=customer_ids).values("pk")
    inputs = feature_inputs(customer_ids=population, before=now)
    features = customer_features(inputs, as_of=now)
    numeric = [c for c in columns if c != SEGMENT_COLUMN]
    frame = features.reindex(index=customer_ids, columns=numeric).astype(float).reset_index(drop=True)
    if SEGMENT_COLUMN in columns:
        frame[SEGMENT_COLUMN] = pd.Series(
            [segments.get(c, (None, None))[1] or None for c in customer_ids], dtype=object
        )
    return np.asarray(artifact["model"].predict(frame[columns]), dtype=float)


def below_uplift_cut(
    *,
    campaign: Campaign,
    eligible: list[int],
    segments: dict[int, tuple[int, str]],
    now: datetime,
    customer_ids: Iterable[int] | None = None,
) -> set[int]:
    """The eligible customers outside the campaign's share with the highest predicted uplift (NOT_TARGETED).

    The top ceil(share x eligible) are kept, ties broken by customer id so a rebuild keeps the same people."""
    scores = predicted_uplift(
        model=campaign.uplift_model,
        customer_ids=eligible,
        segments=segments,
        now=now,
        population=audience_queryset(campaign=campaign, now=now).values("pk") if customer_ids is None else None,
    )
    keep = math.ceil(len(eligible) * campaign.uplift_target_share)
    order = np.lexsort((np.asarray(eligible, dtype=np.int64), -scores))
    return {eligible[i] for i in order[keep:].tolist()}


def uplift_estimate(*, campaign: Campaign, eligible: list[int], now: datetime) -> dict:
    """What targeting by uplift is expected to bring: customers targeted and left out, and the expected
    incremental conversions (or revenue) from them against sending to every eligible customer."""
    from marketing.ml.uplift import targeting_estimate

    scores = predicted_uplift(
        model=campaign.uplift_model,
        customer_ids=eligible,
        segments=_first_segments(campaign),
        now=now,
        population=audience_queryset(campaign=campaign, now=now).values("pk"),
    )
    out = {"share": campaign.uplift_target_share, "model": campaign.uplift_model_id}
    out["outcome"] = campaign.uplift_model.outcome
    if not len(scores):
        return {**out, "targeted": 0, "not_targeted": 0, "expected_incremental": 0.0, "expected_everyone": 0.0}
    estimate = targeting_estimate(scores, share=campaign.uplift_target_share)
    # Only the treated part of those targeted gets the message: the control share is held out of both.
    treated = 1 - campaign.holdout_share
    return {
        **out,
        "targeted": estimate["targeted"],
        "not_targeted": len(scores) - estimate["targeted"],
        "expected_incremental": round(treated * estimate["expected_incremental"], 2),
        "expected_everyone": round(treated * estimate["expected_incremental_everyone"], 2),
    }


# --- Personalised content -----------------------------------------------------------------------------------------


@dataclass
class ContentBuilder:
    """Everything shared by a campaign's recipients, loaded once: compiled variants, the offer, the catalog."""

    campaign: Campaign
    variants: list[Variant]
    compiled: dict[int, CompiledContent]
    offer: dict | None
    products: dict[str, tuple[int, str, str, str, dict]]  # sku -> (id, name, price, currency, attributes)
    n: int
    cross_sell_n: int
    cross_sell_cache: dict[int, list[str]] = field(default_factory=dict)
    sku_by_id: dict[int, str] = field(default_factory=dict)
    # customer id -> more template variables (a triggered campaign's `cart`), merged into their context.
    extra_context: dict[int, dict] = field(default_factory=dict)
    # sku -> the product's block without the recipient's link (see _catalog_entry).
    catalog_cache: dict[str, tuple[int | None, str, str, str, str, str]] = field(default_factory=dict)
    campaign_context: dict = field(default_factory=dict)
    # variant id -> its HTML template as written (the open pixel is added when the template does not place it).
    html_sources: dict[int, str] = field(default_factory=dict)
    # The build's time as the database takes it (adapted once, not once per served-list row).
    served_at: object = None

    @classmethod
    def for_campaign(cls, campaign: Campaign, variants: list[Variant] | None = None) -> ContentBuilder:
        variants = variants if variants is not None else list(campaign.variants.all())
        compiled = {
            v.pk: compile_content(subject=v.subject, html_template=v.html_template, text_template=v.text_template)
            for v in variants
        }
        products = {}
        sku_by_id = {}
        for pk, sku, name, price, currency, attributes in Product.objects.values_list(
            "pk", "sku", "name", "price", "currency", "attributes"
        ).iterator(chunk_size=5000):
            products[sku] = (pk, name or sku, f"{price:.2f}" if price is not None else "", currency, attributes or {})
            sku_by_id[pk] = sku
        return cls(
            campaign=campaign,
            variants=variants,
            compiled=compiled,
            offer=offer_context(campaign.offer),
            products=products,
            n=campaign.recommendations_count,
            cross_sell_n=min(setting("MARKETING_CROSS_SELL_COUNT"), max(campaign.recommendations_count, 1)),
            sku_by_id=sku_by_id,
            campaign_context={"name": campaign.name},
            html_sources={v.pk: v.html_template or "" for v in variants},
        )

    def _catalog_entry(self, sku: str) -> tuple[int | None, str, str, str, str, str]:
        """(product id, name, price, currency, image URL, page): what a product's block needs besides the
        recipient's own link, worked out once per product rather than once per recipient."""
        entry = self.catalog_cache.get(sku)
        if entry is None:
            pk, name, price, currency, attributes = self.products.get(sku, (None, sku, "", "", {}))
            page = product_page_url(sku=sku, attributes=attributes)
            image = str(attributes.get("image_link") or setting("MARKETING_PRODUCT_IMAGE_URL").format(sku=sku))
            entry = self.catalog_cache[sku] = (pk, name, price, currency, image, page)
        return entry

    def _product(self, links: RecipientLinks | None, sku: str, reason: str, query: str) -> dict:
        pk, name, price, currency, image, page = self._catalog_entry(sku)
        # A catalogue product's link names only the product: the click finds its page (and the recommendation id)
        # on the server. Anything else signs its whole address. A preview (no links) links the page itself.
        if links is None:
            url = with_query(page, query)
        else:
            url = links.product_click(pk) if pk is not None else links.click(with_query(page, query))
        return {
            "sku": sku,
            "name": name,
            "price": price,
            "currency": currency,
            "image_url": image,
            "url": url,
            "reason": reason,
        }

    def prefetch(self, external_ids: list[str]):
        """The recommender's lists for these customers in a few queries (None when no products are embedded)."""
        if not self.n:
            return None
        from recommender.serving import engine

        return engine.prefetch_lists(external_ids)

    def cross_sell_skus(self, last_product_id: int | None) -> list[str]:
        if last_product_id is None or not self.cross_sell_n:
            return []
        skus = self.cross_sell_cache.get(last_product_id)
        if skus is None:
            from recommender.serving import engine

            sku = self.sku_by_id.get(last_product_id)
            try:
                answer = engine.bought_together(sku=sku, n=self.cross_sell_n) if sku else None
            except engine.UnknownProduct:
                answer = None
            skus = [r["sku"] for r in answer.results] if answer else []
            self.cross_sell_cache[last_product_id] = skus
        return skus

    def message(
        self,
        *,
        variant: Variant,
        customer: dict,
        customer_id: int,
        entry: int,
        coupon: str,
        last_product_id: int | None,
        preview: bool = False,
    ) -> dict:
        """The recipient's fields: recommendation id and products, coupon, rendered subject / HTML / text.
        With `preview`, as staff see it: no tracking (see `render`)."""
        served = self.pick(
            external_id=customer["external_id"], customer_id=customer_id, last_product_id=last_product_id
        )
        return self.render(
            variant_id=variant.pk,
            customer=customer,
            customer_id=customer_id,
            entry=entry,
            coupon=coupon,
            picks=served,
            preview=preview,
        )

    def pick(self, *, external_id: str, customer_id: int, last_product_id: int | None, prefetched=None) -> Served:
        """The recipient's recommended products (a new recommendation id) and cross-sell: the part of a message
        that asks the recommender, and so may read the database. `prefetched`: the recommender's lists of many
        recipients read at once (`prefetch`)."""
        from recommender.serving import engine
        from recommender.serving.log import new_recommendation_id

        answer = engine.recommend(external_id=external_id, n=self.n, prefetched=prefetched) if self.n else None
        run_id = answer.run_id if answer else None
        results = answer.results if answer else []
        return Served(
            recommendation_id=new_recommendation_id(run_id, customer_id),
            run_id=run_id,
            skus=[r["sku"] for r in results],
            reasons=[r.get("reason", "") for r in results],
            cross_sell=self.cross_sell_skus(last_product_id),
        )

    def render(
        self,
        *,
        variant_id: int,
        customer: dict,
        customer_id: int,
        entry: int,
        coupon: str,
        picks: Served,
        preview: bool = False,
    ) -> dict:
        """The recipient's fields: recommendation id and products, coupon, rendered subject / HTML / text. Plain
        data in and out, no database: worker processes run it for a large audience (see MessageRenderer).

        `preview`: what staff look at in the editor carries no signed link: no open pixel, product links to the
        pages themselves, no working unsubscribe. Opening a preview, or clicking in it, must never count as the
        customer's open or click, nor unsubscribe them."""
        links = None if preview else RecipientLinks(RecipientKey(self.campaign.pk, customer_id, entry))
        query = campaign_query(campaign_id=self.campaign.pk, recommendation_id=picks.recommendation_id)
        products = [
            self._product(links, sku, reason, query) for sku, reason in zip(picks.skus, picks.reasons, strict=True)
        ]
        cross = [self._product(links, sku, "often bought together", query) for sku in picks.cross_sell]
        offer = dict(self.offer, code=coupon or self.offer["code"]) if self.offer else None
        pixel = "" if links is None else links.open()
        context = {
            "customer": customer,
            "offer": offer,
            "products": products,
            "cross_sell": cross,
            "campaign": self.campaign_context,
            "cart": [],  # a triggered campaign's products; empty elsewhere, so every template may name it
            "unsubscribe_url": PREVIEW_UNSUBSCRIBE_URL if links is None else links.unsubscribe(),
            "open_pixel_url": pixel,
            **self.extra_context.get(customer_id, {}),
        }
        subject, html, text = self.compiled[variant_id].render(context)
        if (
            pixel
            and self.campaign.channel == Campaign.Channel.EMAIL
            and "open_pixel_url" not in self.html_sources[variant_id]
        ):
            html = with_open_pixel(html, pixel)
        return {
            "recommendation_id": picks.recommendation_id,
            "recommended_skus": picks.skus,
            "coupon_code": offer["code"] if offer else "",
            "subject": subject,
            "body_html": html,
            "body_text": text,
        }

    def recipient_rows(self, jobs: list[tuple]) -> list[tuple[tuple, tuple | None]]:
        """For each job (prefix, variant id, customer fields, customer id, entry, coupon, picks): the treated
        recipient's row — the prefix (the build's base columns) then MESSAGE_COLUMNS — and their row of the
        recommender's log of served lists (LOG_COLUMNS; None when no product was embedded).

        Rows are ready for the bulk writer: the JSON lists encoded here as the database adapter would encode them,
        once for both tables, so the process that writes does no per-row work (worker processes run this)."""
        status = Recipient.Status.PENDING.value
        surface = ServedRecommendation.Surface.RECOMMENDATIONS.value
        dumps = json.dumps
        out = []
        for prefix, variant_id, (external_id, name, email, city, country), customer_id, entry, coupon, picks in jobs:
            fields = self.render(
                variant_id=variant_id,
                customer=customer_context(external_id=external_id, name=name, email=email, city=city, country=country),
                customer_id=customer_id,
                entry=entry,
                coupon=coupon,
                picks=picks,
            )
            skus = dumps(picks.skus)
            row = (
                *prefix,
                variant_id,
                status,
                picks.recommendation_id,
                skus,
                fields["coupon_code"],
                fields["subject"],
                fields["body_html"],
                fields["body_text"],
            )
            served = None
            if picks.skus:
                served = (
                    picks.recommendation_id,
                    picks.run_id,
                    customer_id,
                    surface,
                    skus,
                    dumps(picks.reasons),
                    self.served_at,
                )
            out.append((row, served))
        return out


@dataclass(frozen=True, slots=True)
class Served:
    """A recipient's recommended products as the recommender's log of served lists keeps them, and the
    cross-sell for their last purchase."""

    recommendation_id: str
    run_id: int | None
    skus: list[str]
    reasons: list[str]
    cross_sell: list[str] = field(default_factory=list)


def customer_context(*, external_id: str, name: str, email: str, city: str, country: str) -> dict:
    return {
        "external_id": external_id,
        "name": name,
        "first_name": name.split()[0] if name.strip() else "",
        "email": email,
        "city": city,
        "country": country,
    }


# --- The build ------------------------------------------------------------------------------------------------------

ROW_FIELDS = ("pk", "external_id", "name", "email", "city", "country", "reason")
# The columns the build gives every row it writes ("wave" follows in an adaptive send), and those a treated
# recipient's row adds after them (ContentBuilder.recipient_rows).
BASE_COLUMNS = ("campaign_id", "customer_id", "entry", "segment_id", "segment_name")
MESSAGE_COLUMNS = (
    "variant_id",
    "status",
    "recommendation_id",
    "recommended_skus",
    "coupon_code",
    "subject",
    "body_html",
    "body_text",
)


def _audience_rows(*, campaign: Campaign, now: datetime, customer_ids: Iterable[int] | None):
    queryset = with_channel_address(
        audience_queryset(campaign=campaign, now=now, customer_ids=customer_ids), campaign.channel
    )
    rules = exclusion_conditions(campaign=campaign, queryset=queryset, now=now)
    return (
        queryset.annotate(reason=reason_expression(rules))
        .order_by("pk")
        .values_list(*ROW_FIELDS)
        .iterator(chunk_size=CHUNK)
    )


def last_purchases(customer_ids: list[int]) -> dict[int, int]:
    """customer id -> the product of their latest purchase, in one ordered pass over purchases.

    A per-customer subquery lets SQLite walk the purchases' time index for every customer; here the database
    sorts once and no timestamp crosses into Python (the last row of each customer wins).
    """
    wanted = set(customer_ids)
    if not wanted:
        return {}
    # COALESCE keeps SQLite off the (kind, time) index: it walks the (customer, time) index in order instead of
    # fetching every purchase row by row and sorting them again (a third of the time on the demo's 100k).
    sql = f"SELECT customer_id, product_id FROM {Interaction._meta.db_table} WHERE COALESCE(kind, '') = %s"
    params: list = [InteractionKind.PURCHASE.value]
    if len(wanted) <= 500:
        sql += f" AND customer_id IN ({', '.join(['%s'] * len(wanted))})"
        params += sorted(wanted)
    sql += " ORDER BY customer_id, occurred_at, id"
    latest: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(20000):
            for customer_id, product_id in rows:
                latest[customer_id] = product_id
    return {customer_id: product for customer_id, product in latest.items() if customer_id in wanted}


def _first_segments(campaign: Campaign) -> dict[int, tuple[int, str]]:
    """customer id -> (segment id, name) in the run of the campaign's first included segment."""
    first = campaign.included_segments.order_by("pk").values_list("run_id", flat=True).first()
    if first is None:
        return {}
    names = dict(Segment.objects.filter(run_id=first).values_list("pk", "name"))
    return {
        customer_id: (segment_id, names[segment_id])
        for customer_id, segment_id in Membership.objects.filter(segment__run_id=first)
        .values_list("customer_id", "segment_id")
        .iterator(chunk_size=20000)
    }


def issue_coupons_for(*, campaign: Campaign, customer_ids: list[int], now: datetime) -> dict[int, str]:
    """Unique coupon codes for these customers (shared-code offers need none); marketing.offers issues them."""
    offer = campaign.offer
    if offer is None or offer.code_mode != offer.CodeMode.UNIQUE or not customer_ids:
        return {}
    from marketing.offers import issue_coupons

    return issue_coupons(offer=offer, customer_ids=customer_ids, now=now)


def insert_recipients(rows: list[dict]) -> None:
    """Write recipient rows (dicts of field values) with the shop's bulk writer, one insert per set of keys. A
    row either database would refuse stops the build with the customer and the problem named."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for columns, group in groups.items():
        insert_recipient_rows(columns, [tuple(r.values()) for r in group])


def insert_recipient_rows(columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Write recipient rows given as tuples in the order of `columns` (which name customer_id); as
    `insert_recipients`, a row either database would refuse stops the build naming the customer."""
    result = insert_rows(Recipient, columns, rows)
    if result.rejected:
        position, problem = min(result.rejected.items())
        customer_id = rows[position][columns.index("customer_id")]
        raise ValidationError(
            f"The recipient row of customer {customer_id} cannot be stored: {problem.field} {problem.message}."
        )


def log_served(rows: list[tuple]) -> None:
    """Add the lists embedded in messages to the recommender's log of served lists, so a purchase carrying a
    recommendation id is found there and the recommender's own metrics count them (unless the log is off)."""
    from recommender.serving.conf import setting as recommender_setting
    from recommender.serving.log import LOG_COLUMNS

    if rows and recommender_setting("RECOMMENDER_LOG_SERVED"):
        insert_rows(ServedRecommendation, LOG_COLUMNS, rows, ignore_conflicts=True)


# The builder the worker processes render with: set before they fork, so each inherits it (templates compiled,
# catalogue loaded) and a job carries only its recipients' data.
_worker_builder: ContentBuilder | None = None


def _render_rows(jobs: list[tuple]) -> list[tuple[tuple, tuple | None]]:
    return _worker_builder.recipient_rows(jobs)


def build_processes(recipients: int) -> int:
    """Worker processes to render `recipients` messages with: MARKETING_BUILD_PROCESSES (default: one per CPU,
    at most 4), and none below MARKETING_BUILD_PARALLEL_MIN recipients, where starting them costs more than
    it saves."""
    configured = setting("MARKETING_BUILD_PROCESSES")
    processes = min(os.cpu_count() or 1, 4) if configured is None else int(configured)
    if processes < 0:
        raise ValidationError(f"MARKETING_BUILD_PROCESSES must be 0 or more, not {configured!r}")
    if recipients < int(setting("MARKETING_BUILD_PARALLEL_MIN")):
        return 0
    return processes if processes > 1 else 0


class MessageRenderer:
    """Renders chunks of messages into rows (ContentBuilder.recipient_rows) in worker processes, or in this
    process when there are none, handing back each chunk's rows in the order the chunks were submitted.

    The workers are forked from this process after everything they need is loaded, never touch the database
    (this process asks the recommender and writes), and at most two chunks per worker wait at a time, so memory
    stays bounded. billiard (Celery's fork of multiprocessing) rather than multiprocessing: a Celery prefork
    worker is a daemonic process, and multiprocessing refuses to start children from one.
    """

    def __init__(self, builder: ContentBuilder, *, recipients: int, processes: int | None = None):
        self.builder = builder
        self.processes = build_processes(recipients) if processes is None else processes
        self.pool = None
        self.pending: deque = deque()

    def __enter__(self) -> MessageRenderer:
        global _worker_builder
        if self.processes > 1:
            import billiard

            # Routes and settings the workers read, resolved once here rather than once per worker.
            RecipientLinks(RecipientKey(self.builder.campaign.pk or 1, 1, 1)).open()
            _worker_builder = self.builder
            # Everything allocated so far leaves the collector's reach while the workers live: a worker's
            # collections then never walk (and so copy) the pages it shares with this process.
            gc.freeze()
            self.pool = billiard.get_context("fork").Pool(self.processes)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        global _worker_builder
        if self.pool is not None:
            if exc_type is None:
                self.pool.close()
            else:
                self.pool.terminate()
            self.pool.join()
            self.pool = None
            gc.unfreeze()
        _worker_builder = None

    def submit(self, jobs: list[tuple], tag) -> None:
        """Render `jobs` (ContentBuilder.recipient_rows's, in order); `tag` comes back with the rows."""
        if self.pool is None:
            self.pending.append((tag, self.builder.recipient_rows(jobs)))
        else:
            self.pending.append((tag, self.pool.apply_async(_render_rows, (jobs,))))

    def finished(self, *, wait: bool = False):
        """(tag, rows) of the chunks done, oldest first; with `wait`, of every chunk submitted. Without it,
        waits only when more than two chunks per worker are queued."""
        while self.pending:
            tag, result = self.pending[0]
            if isinstance(result, list):
                self.pending.popleft()
                yield tag, result
                continue
            if not (wait or result.ready() or len(self.pending) > 2 * self.processes):
                return
            self.pending.popleft()
            yield tag, result.get()


@dataclass
class BuildResult:
    counts: dict
    seconds: float


def build_audience(
    *,
    campaign: Campaign,
    now: datetime | None = None,
    customer_ids: Iterable[int] | None = None,
    entries: dict[int, int] | None = None,
    progress: Callable[[int, str], None] | None = None,
    extra_context: dict[int, dict] | None = None,
) -> BuildResult:
    """Write the campaign's recipient rows: left out (with the reason), control, or treated with their rendered
    message. A rebuild (no `customer_ids`) replaces the rows of a campaign that has sent nothing yet.

    `customer_ids` (triggered campaigns) builds rows for those customers only, at their entry number in
    `entries` (default 1), next to the rows already there.
    """
    now = now or timezone.now()
    started = time.perf_counter()
    report = progress or (lambda percent, stage: None)
    variants = list(campaign.variants.all())
    if not variants:
        raise ValidationError(f"Campaign {campaign.name!r} has no content variant.")
    if customer_ids is None:
        if (
            Recipient.objects.filter(campaign=campaign)
            .exclude(status__in=[Recipient.Status.PENDING, Recipient.Status.CONTROL, Recipient.Status.EXCLUDED])
            .exclude(status=Recipient.Status.WAITING)  # an adaptive send's later waves, built but never sent
            .exists()
        ):
            raise ValidationError(f"Campaign {campaign.name!r} has started sending: its audience cannot be rebuilt.")
        # The replaced messages were never sent: their lists leave the recommender's log of served lists too.
        ServedRecommendation.objects.filter(
            recommendation_id__in=Recipient.objects.filter(campaign=campaign)
            .exclude(recommendation_id="")
            .values("recommendation_id")
        ).delete()
        Recipient.objects.filter(campaign=campaign).delete()
    entries = entries or {}
    report(2, "reading the audience")
    segments = _first_segments(campaign)
    counts = {"audience": 0, "excluded": dict.fromkeys(REASONS, 0), "control": 0, "treated": 0, "variants": {}}
    left_out: list[dict] = []
    control: list[dict | Recipient] = []
    treated: list[tuple] = []
    from marketing.waves import plan_for, waiting_recipient  # imports this module

    waves = None if customer_ids is not None else plan_for(campaign)  # adaptive sends: later waves wait
    audience = _audience_rows(campaign=campaign, now=now, customer_ids=customer_ids)
    not_targeted: set[int] = set()
    if targets_by_uplift(campaign):
        report(4, "predicting uplift")
        audience = list(audience)
        eligible = [row[0] for row in audience if not row[6]]
        not_targeted = below_uplift_cut(
            campaign=campaign, eligible=eligible, segments=segments, now=now, customer_ids=customer_ids
        )
        counts["excluded"][R.NOT_TARGETED] = 0
    for row in audience:
        customer_id, reason = row[0], row[6] or (R.NOT_TARGETED if row[0] in not_targeted else "")
        counts["audience"] += 1
        segment_id, segment_name = segments.get(customer_id, (None, ""))
        base = {
            "campaign_id": campaign.pk,
            "customer_id": customer_id,
            "entry": entries.get(customer_id, 1),
            "segment_id": segment_id,
            "segment_name": segment_name,
        }
        if waves is not None:
            base["wave"] = waves.wave_of(customer_id)
        if reason:
            counts["excluded"][reason] = counts["excluded"].get(reason, 0) + 1
            left_out.append({**base, "status": Recipient.Status.EXCLUDED, "exclusion": reason})
        elif base.get("wave", 1) > 1:
            control.append(waiting_recipient(campaign=campaign, base=base, counts=counts))
        elif is_control(campaign_id=campaign.pk, customer_id=customer_id, holdout_share=campaign.holdout_share):
            counts["control"] += 1
            control.append({**base, "status": Recipient.Status.CONTROL, "is_control": True, "sent_at": now})
        else:
            variant = pick_variant(campaign_id=campaign.pk, customer_id=customer_id, variants=variants)
            treated.append((row, base, variant))
    report(10, "writing left-out and control rows")
    for rows in (left_out, control):
        for start in range(0, len(rows), CHUNK):
            part = rows[start : start + CHUNK]
            # One transaction per chunk: in autocommit SQLite would commit (and write its journal) row by row.
            with transaction.atomic():
                insert_recipients([r for r in part if isinstance(r, dict)])
                Recipient.objects.bulk_create([r for r in part if isinstance(r, Recipient)], batch_size=CHUNK)
    del left_out, control

    report(11, "reading last purchases")
    last_products = last_purchases([base["customer_id"] for _, base, _ in treated])
    report(12, "issuing coupons")
    coupons = issue_coupons_for(
        campaign=campaign, customer_ids=[base["customer_id"] for _, base, _ in treated], now=now
    )
    builder = ContentBuilder.for_campaign(campaign, variants)
    builder.extra_context = extra_context or {}
    builder.served_at = connection.ops.adapt_datetimefield_value(now)
    total = len(treated)
    base_columns = (*BASE_COLUMNS, "wave") if waves is not None else BASE_COLUMNS
    columns = (*base_columns, *MESSAGE_COLUMNS)
    rows: list[tuple] = []
    served_rows: list[tuple] = []

    def write() -> None:
        with transaction.atomic():
            insert_recipient_rows(columns, rows)
            log_served(served_rows)
        counts["treated"] += len(rows)
        rows.clear()
        served_rows.clear()
        done = counts["treated"]
        report(12 + int(86 * done / max(total, 1)), f"rendered {done:,} of {total:,}")

    def collect(variant_names: list[str], rendered: list[tuple[tuple, tuple | None]]) -> None:
        for name in variant_names:
            counts["variants"][name] = counts["variants"].get(name, 0) + 1
        for row, served in rendered:
            rows.append(row)
            if served is not None:
                served_rows.append(served)
        if len(rows) >= WRITE_ROWS:
            write()

    # This process asks the recommender and writes the rows the renderer hands back (through the shop's bulk
    # writer, WRITE_ROWS at a time, so only a few chunks' messages are held in memory); rendering, the bulk of the
    # work, runs in worker processes for a large audience while this one writes.
    with MessageRenderer(builder, recipients=total) as renderer:
        for start in range(0, total, CHUNK):
            chunk = treated[start : start + CHUNK]
            prefetched = builder.prefetch([row[1] for row, _, _ in chunk])
            names, jobs = [], []
            for row, base, variant in chunk:
                customer_id, external_id, name, email, city, country, _ = row
                served = builder.pick(
                    external_id=external_id,
                    customer_id=customer_id,
                    last_product_id=last_products.get(customer_id),
                    prefetched=prefetched,
                )
                prefix = tuple(base[column] for column in base_columns)
                customer = (external_id, name, email, city, country)
                coupon = coupons.get(customer_id, "")
                jobs.append((prefix, variant.pk, customer, customer_id, base["entry"], coupon, served))
                names.append(variant.name)
            renderer.submit(jobs, names)
            for done_names, rendered in renderer.finished():
                collect(done_names, rendered)
        for done_names, rendered in renderer.finished(wait=True):
            collect(done_names, rendered)
    if rows:
        write()
    seconds = round(time.perf_counter() - started, 2)
    counts["built_at"] = now.isoformat()
    counts["seconds"] = seconds
    return BuildResult(counts=counts, seconds=seconds)


def exclusion_reason_for(*, campaign: Campaign, customer: Customer, now: datetime | None = None) -> str:
    """Why this customer would be left out of the campaign now ('' when they would not be)."""
    now = now or timezone.now()
    queryset = with_channel_address(Customer.objects.filter(pk=customer.pk), campaign.channel)
    rules = exclusion_conditions(campaign=campaign, queryset=queryset, now=now)
    return queryset.annotate(reason=reason_expression(rules)).values_list("reason", flat=True).first() or ""


def preview_message(*, campaign: Campaign, variant: Variant, customer: Customer) -> dict:
    """What the customer would get from this variant (recommendations as of now), written nowhere, and without
    tracking: no open pixel, plain product links, an inert unsubscribe link (see `ContentBuilder.render`).

    A unique-code offer shows the code issued to the customer once the audience is built, a placeholder before."""
    builder = ContentBuilder.for_campaign(campaign, [variant])
    last_product = (
        Interaction.objects.filter(customer=customer, kind=InteractionKind.PURCHASE)
        .order_by("-occurred_at", "-id")
        .values_list("product_id", flat=True)
        .first()
    )
    unique = campaign.offer is not None and campaign.offer.code_mode == campaign.offer.CodeMode.UNIQUE
    issued = (
        Recipient.objects.filter(campaign=campaign, customer=customer)
        .exclude(coupon_code="")
        .values_list("coupon_code", flat=True)
        .first()
        if unique
        else None
    )
    fields = builder.message(
        variant=variant,
        customer=customer_context(
            external_id=customer.external_id,
            name=customer.name,
            email=customer.email,
            city=customer.city,
            country=customer.country,
        ),
        customer_id=customer.pk,
        entry=1,
        coupon=issued or (f"{(campaign.offer.code or 'CODE').upper()}-XXXXXX" if unique else ""),
        last_product_id=last_product,
        preview=True,
    )
    fields["exclusion"] = exclusion_reason_for(campaign=campaign, customer=customer)
    fields["control"] = is_control(
        campaign_id=campaign.pk, customer_id=customer.pk, holdout_share=campaign.holdout_share
    )
    return fields
