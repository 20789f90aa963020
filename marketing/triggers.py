"""Triggered campaigns (automation): who enters a running triggered campaign now, evaluated by a beat task.

Triggers and their parameters (`Campaign.trigger_parameters`, defaults in TRIGGER_DEFAULTS):
- segment_entry {"segment": id}: customers in that segment of its definition's active run who were not in the
  segment of the same key in the run it replaced; each run switch is evaluated once.
- abandoned_cart {"hours": 4, "lookback_hours": 72}: a cart event at least `hours` old, no purchase since and no
  cart activity in the last `hours`; the products carted since the last purchase go in the message (`cart`).
- browse_abandonment {"views": 3, "hours": 24}: viewed one product at least `views` times in the last `hours` and
  neither carted nor bought it then; those products go in the message (`cart`).
- win_back {"days": 90}: bought before, but nothing in the last `days`.
- welcome {"days": 7}: first seen (signed up, else created) in the last `days`.
Triggers other than segment entry are narrowed by the campaign's included / excluded segments when it has any.

A customer enters a campaign at most once per `cooldown_days` (entry 1, 2, ... on Recipient.entry). Entrants go
through the same audience build as one-off campaigns (marketing.audience.build_audience): consent, address,
suppression, frequency caps, quiet hours, the holdout by hashing, the variant split, coupons and rendering.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from marketing.models import Campaign, Recipient
from segments.models import Membership, Segment
from shop.models import Customer, Interaction, InteractionKind, Product

logger = logging.getLogger(__name__)

T = Campaign.Trigger
TRIGGER_DEFAULTS: dict[str, dict[str, int]] = {
    T.SEGMENT_ENTRY: {},
    T.ABANDONED_CART: {"hours": 4, "lookback_hours": 72},
    T.BROWSE_ABANDONMENT: {"views": 3, "hours": 24},
    T.WIN_BACK: {"days": 90},
    T.WELCOME: {"days": 7},
}
PARAMETER_RANGES = {
    "hours": (1, 24 * 90),
    "lookback_hours": (1, 24 * 365),
    "views": (1, 1000),
    "days": (1, 3650),
}
PRODUCTS_PER_MESSAGE = 10


def trigger_parameters(*, trigger: str, parameters: dict) -> dict:
    """The parameters with defaults filled in; ValidationError naming each unknown or out-of-range one."""
    if trigger not in TRIGGER_DEFAULTS:
        raise ValidationError({"trigger": f"Unknown trigger {trigger!r}; one of {', '.join(TRIGGER_DEFAULTS)}."})
    if not isinstance(parameters, dict):
        raise ValidationError({"trigger_parameters": "Must be a JSON object."})
    allowed = set(TRIGGER_DEFAULTS[trigger]) | ({"segment", "evaluated_run"} if trigger == T.SEGMENT_ENTRY else set())
    errors = []
    unknown = sorted(set(parameters) - allowed)
    if unknown:
        errors.append(f"{', '.join(unknown)} not used by {trigger} (it takes {', '.join(sorted(allowed)) or 'none'}).")
    cleaned = {**TRIGGER_DEFAULTS[trigger], **{k: v for k, v in parameters.items() if k in allowed}}
    for name, (low, high) in PARAMETER_RANGES.items():
        if name in cleaned:
            value = cleaned[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors.append(f"{name} must be a whole number from {low} to {high}; got {value!r}.")
    if trigger == T.SEGMENT_ENTRY:
        segment = cleaned.get("segment")
        if isinstance(segment, bool) or not isinstance(segment, int):
            errors.append("segment_entry needs the segment's id as 'segment'.")
        elif not Segment.objects.filter(pk=segment).exists():
            errors.append(f"No segment with id {segment}.")
    if errors:
        raise ValidationError({"trigger_parameters": errors})
    return cleaned


@dataclass
class TriggerResult:
    campaign_id: int
    candidates: int = 0
    entered: int = 0
    cooling_down: int = 0
    error: str = ""


def evaluate_triggered_campaigns(*, now: datetime | None = None) -> list[TriggerResult]:
    """Evaluate every running triggered campaign once; a failing campaign is reported, the others still run."""
    now = now or timezone.now()
    results = []
    ids = Campaign.objects.filter(status=Campaign.Status.RUNNING).exclude(trigger="").values_list("pk", flat=True)
    for campaign_id in list(ids):
        try:
            results.append(evaluate_trigger(campaign_id=campaign_id, now=now))
        except ValidationError as exc:
            message = "; ".join(exc.messages)
            Campaign.objects.filter(pk=campaign_id).update(error=message[:2000])
            results.append(TriggerResult(campaign_id, error=message))
    return results


def evaluate_trigger(*, campaign_id: int, now: datetime | None = None) -> TriggerResult:
    """Let the customers the trigger finds now enter the campaign (outside their cooldown), with their rows built."""
    from marketing.audience import build_audience

    now = now or timezone.now()
    with transaction.atomic():
        # One evaluation of a campaign at a time: a second beat tick waits here, then finds everyone entered.
        campaign = Campaign.objects.select_for_update(of=("self",)).select_related("offer").get(pk=campaign_id)
        result = TriggerResult(campaign.pk)
        if campaign.status != Campaign.Status.RUNNING or not campaign.trigger:
            return result
        parameters = trigger_parameters(trigger=campaign.trigger, parameters=campaign.trigger_parameters)
        found = _candidates(campaign, parameters, now)
        result.candidates = len(found)
        entries = _entries_after_cooldown(campaign, found, now)
        result.cooling_down = len(found) - len(entries)
        if entries:
            # Every entrant's template sees `cart` (empty for triggers without products).
            products = {cid: found[cid] for cid in entries}
            build_audience(
                campaign=campaign,
                now=now,
                customer_ids=list(entries),
                entries=entries,
                extra_context=_cart_context(campaign, entries, products),
            )
            _note_entries(campaign, entries, found, now)
        result.entered = len(entries)
    if entries:
        _deliver(campaign)
    return result


# --- who the trigger finds: customer id -> products for the message ------------------------------------------


def _candidates(campaign: Campaign, parameters: dict, now: datetime) -> dict[int, list[str]]:
    finder = {
        T.SEGMENT_ENTRY: _segment_entrants,
        T.ABANDONED_CART: _abandoned_carts,
        T.BROWSE_ABANDONMENT: _browse_abandoners,
        T.WIN_BACK: _lapsed,
        T.WELCOME: _newcomers,
    }[campaign.trigger]
    found = finder(campaign, parameters, now)
    if not found:
        return {}
    return _narrowed(campaign, found, by_included=campaign.trigger != T.SEGMENT_ENTRY)


def _narrowed(campaign: Campaign, found: dict[int, list[str]], *, by_included: bool) -> dict[int, list[str]]:
    ids = list(found)
    included = list(campaign.included_segments.values_list("pk", flat=True)) if by_included else []
    excluded = list(campaign.excluded_segments.values_list("pk", flat=True))
    keep = set(ids)
    if included:
        keep &= set(_members(included, ids))
    if excluded:
        keep -= set(_members(excluded, ids))
    return {cid: found[cid] for cid in ids if cid in keep}


def _members(segment_ids: list[int], customer_ids: list[int]) -> Iterable[int]:
    for start in range(0, len(customer_ids), 20_000):
        yield from Membership.objects.filter(
            segment_id__in=segment_ids, customer_id__in=customer_ids[start : start + 20_000]
        ).values_list("customer_id", flat=True)


def _segment_entrants(campaign: Campaign, parameters: dict, now: datetime) -> dict[int, list[str]]:
    segment = Segment.objects.select_related("run__definition").get(pk=parameters["segment"])
    active = segment.run.definition.active_run
    if active is None or active.previous_run_id is None or parameters.get("evaluated_run") == active.pk:
        return {}
    now_in = Membership.objects.filter(segment__run=active, segment__key=segment.key).values_list(
        "customer_id", flat=True
    )
    before = set(
        Membership.objects.filter(segment__run_id=active.previous_run_id, segment__key=segment.key).values_list(
            "customer_id", flat=True
        )
    )
    # Each switch once: the next evaluation of this run finds nothing new.
    Campaign.objects.filter(pk=campaign.pk).update(trigger_parameters={**parameters, "evaluated_run": active.pk})
    return {cid: [] for cid in now_in if cid not in before}


def _abandoned_carts(campaign: Campaign, parameters: dict, now: datetime) -> dict[int, list[str]]:
    quiet_since = now - timedelta(hours=parameters["hours"])
    window_start = now - timedelta(hours=parameters["lookback_hours"])
    carts = Interaction.objects.filter(kind=InteractionKind.CART, occurred_at__gte=window_start)
    last_cart = dict(carts.values_list("customer_id").annotate(last=Max("occurred_at")).order_by())
    waiting = {cid for cid, last in last_cart.items() if last < quiet_since}
    return _unbought(waiting, window_start, kinds=[InteractionKind.CART], now=now)


def _unbought(customer_ids: set[int], since: datetime, *, kinds: list[str], now: datetime) -> dict[int, list[str]]:
    """customer -> skus of their `kinds` events since their last purchase in the window (none bought after)."""
    if not customer_ids:
        return {}
    ids = list(customer_ids)
    last_purchase: dict[int, datetime] = {}
    events: dict[int, list[tuple[datetime, str]]] = {}
    for start in range(0, len(ids), 20_000):
        chunk = ids[start : start + 20_000]
        last_purchase.update(
            Interaction.objects.filter(kind=InteractionKind.PURCHASE, customer_id__in=chunk, occurred_at__gte=since)
            .values_list("customer_id")
            .annotate(last=Max("occurred_at"))
            .order_by()
        )
        for cid, at, sku in Interaction.objects.filter(
            kind__in=kinds, customer_id__in=chunk, occurred_at__gte=since, occurred_at__lte=now
        ).values_list("customer_id", "occurred_at", "product__sku"):
            events.setdefault(cid, []).append((at, sku))
    found = {}
    for cid in ids:
        bought_at = last_purchase.get(cid)
        items = sorted(e for e in events.get(cid, []) if bought_at is None or e[0] > bought_at)
        if items:
            found[cid] = list(dict.fromkeys(sku for _, sku in reversed(items)))[:PRODUCTS_PER_MESSAGE]
    return found


def _browse_abandoners(campaign: Campaign, parameters: dict, now: datetime) -> dict[int, list[str]]:
    since = now - timedelta(hours=parameters["hours"])
    viewed = (
        Interaction.objects.filter(kind=InteractionKind.VIEW, occurred_at__gte=since, occurred_at__lte=now)
        .values_list("customer_id", "product_id", "product__sku")
        .annotate(n=Count("pk"))
        .filter(n__gte=parameters["views"])
        .order_by("-n")
    )
    acted = set(
        Interaction.objects.filter(
            kind__in=[InteractionKind.CART, InteractionKind.PURCHASE], occurred_at__gte=since
        ).values_list("customer_id", "product_id")
    )
    found: dict[int, list[str]] = {}
    for cid, pid, sku, _n in viewed:
        if (cid, pid) not in acted and len(found.setdefault(cid, [])) < PRODUCTS_PER_MESSAGE:
            found[cid].append(sku)
    return {cid: skus for cid, skus in found.items() if skus}


def _lapsed(campaign: Campaign, parameters: dict, now: datetime) -> dict[int, list[str]]:
    cutoff = now - timedelta(days=parameters["days"])
    lapsed = (
        Interaction.objects.filter(kind=InteractionKind.PURCHASE)
        .values_list("customer_id")
        .annotate(last=Max("occurred_at"))
        .filter(last__lt=cutoff)
        .order_by()
        .values_list("customer_id", flat=True)
    )
    return {key: [] for key in lapsed}


def _newcomers(campaign: Campaign, parameters: dict, now: datetime) -> dict[int, list[str]]:
    since = now - timedelta(days=parameters["days"])
    first_seen = Customer.objects.annotate(first_seen=Coalesce("signed_up_at", "created_at")).filter(
        first_seen__gte=since, first_seen__lte=now, is_stub=False
    )
    return {key: [] for key in first_seen.values_list("pk", flat=True)}


# --- cooldown and entries ---------------------------------------------------------------------------------------


def _entries_after_cooldown(campaign: Campaign, found: dict[int, list[str]], now: datetime) -> dict[int, int]:
    """customer id -> their next entry number, for those whose last entry is older than the cooldown."""
    ids = list(found)
    last: dict[int, tuple[int, datetime | None]] = {}
    for start in range(0, len(ids), 20_000):
        rows = (
            Recipient.objects.filter(campaign=campaign, customer_id__in=ids[start : start + 20_000])
            .values_list("customer_id", "entry", "sent_at", "attributes")
            .order_by("customer_id", "entry")
        )
        for cid, entry, sent_at, attributes in rows:
            entered = (attributes or {}).get("entered_at")
            at = datetime.fromisoformat(entered) if entered else sent_at
            last[cid] = (entry, at)
    cooldown_start = now - timedelta(days=campaign.cooldown_days)
    entries = {}
    for cid in ids:
        previous = last.get(cid)
        if previous is None:
            entries[cid] = 1
        elif previous[1] is not None and previous[1] <= cooldown_start:
            entries[cid] = previous[0] + 1
    return entries


def _note_entries(campaign: Campaign, entries: dict[int, int], found: dict[int, list[str]], now: datetime) -> None:
    """Keep on each new row when and why the customer entered (the cooldown counts from here)."""
    wanted = set(entries.items())
    rows = [
        r
        for r in Recipient.objects.filter(campaign=campaign, customer_id__in=list(entries)).only(
            "pk", "customer_id", "entry", "attributes"
        )
        if (r.customer_id, r.entry) in wanted
    ]
    for row in rows:
        row.attributes = {
            **(row.attributes or {}),
            "trigger": campaign.trigger,
            "entered_at": now.isoformat(),
            "products": found.get(row.customer_id, []),
        }
    Recipient.objects.bulk_update(rows, ["attributes"], batch_size=1000)


def _cart_context(campaign: Campaign, entries: dict[int, int], products: dict[int, list[str]]) -> dict[int, dict]:
    """customer id -> {"cart": [product, ...]}: the trigger's products (the cart, the browsed items) with tracked
    links, for the message templates."""
    from marketing.conf import setting
    from marketing.tracking import RecipientKey, RecipientLinks, product_page_url

    skus = {sku for listed in products.values() for sku in listed}
    catalog = {
        sku: (pk, name, price, currency, attributes or {})
        for pk, sku, name, price, currency, attributes in Product.objects.filter(sku__in=skus).values_list(
            "pk", "sku", "name", "price", "currency", "attributes"
        )
    }
    out = {}
    for customer_id, listed in products.items():
        links = RecipientLinks(RecipientKey(campaign.pk, customer_id, entries[customer_id]))
        cart = []
        for sku in listed:
            pk, name, price, currency, attributes = catalog.get(sku, (None, sku, None, "", {}))
            image = attributes.get("image_link") or setting("MARKETING_PRODUCT_IMAGE_URL").format(sku=sku)
            cart.append(
                {
                    "sku": sku,
                    "name": name or sku,
                    "price": f"{price:.2f}" if price is not None else "",
                    "currency": currency,
                    "image_url": str(image),
                    # A catalogue product's link names only the product (its page is found on the click).
                    "url": (
                        links.product_click(pk)
                        if pk is not None
                        else links.click(product_page_url(sku=sku, attributes=attributes))
                    ),
                }
            )
        out[customer_id] = {"cart": cart}
    return out


def _deliver(campaign: Campaign) -> None:
    """Send the new entrants' messages (on-site entrants are shown by the offers endpoint instead)."""
    from marketing import delivery

    if campaign.channel in delivery.MESSAGE_CHANNELS:
        delivery.send_campaign_messages(campaign=campaign)
