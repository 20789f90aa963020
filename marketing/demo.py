"""Demo campaigns (`manage.py setup_demo_campaigns`): three finished email campaigns and a running on-site one.

The finished campaigns are built by the real audience build (segments, consent, frequency cap, holdout by
hashing, coupons, each recipient's recommended products and rendered message) as of their send date in the
past; what followed is simulated from each customer's hidden demo persona (`Customer.attributes["persona"]`):
opens and clicks, and for treated customers an extra purchase inside the attribution window with the
probability the persona responds to that offer (lapsed customers to the win-back discount, bargain hunters to
the percentage offer, nobody else). Those purchases go through the events service carrying the recipient's
coupon most of the time, and attribution then counts every purchase in each recipient's window — the demo
shop's own purchases included, which is the baseline the control group measures.

Two of the finished campaigns hold out 10 % of their audience, as a shop usually does: enough to measure the
campaign, too few control recipients (~75 in a held-out fifth of a 5,000-customer demo) to tell an uplift model
from random targeting on every split. The third is a targeting test, sent to learn whom an offer moves: half its
audience held out and a three-day window (the offer's own life), so the baseline purchases a control group
measures are fewer, and its held-out split can judge an uplift model (`train_uplift`).

The simulated truth is kept for the measurement side to check its estimates against: each recipient's
`attributes` hold its persona and `true_effect` (the probability of the extra purchase had it been treated),
and SIMULATED_EFFECTS below lists them per campaign.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from marketing.models import Campaign, Offer, Recipient
from segments.models import Segment, SegmentationDefinition
from shop.models import Customer, Product

logger = logging.getLogger(__name__)

WIN_BACK = "Win-back: 20% off for customers we miss"
SUMMER = "Summer sale: 15% off everything"
TARGETING_TEST = "Targeting test: 20% off for three days, half held out"
ONSITE = "On-site: free shipping this fortnight"

# Probability that a treated customer of this persona makes an extra purchase in the window because of the
# campaign (the ground truth the uplift report should recover, per persona).
SIMULATED_EFFECTS: dict[str, dict[str, float]] = {
    WIN_BACK: {"lapsed": 0.15, "bargain_hunter": 0.04, "loyal_big_spender": 0.0, "new_customer": 0.0, "browser": 0.0},
    SUMMER: {"bargain_hunter": 0.12, "new_customer": 0.03, "loyal_big_spender": 0.0, "lapsed": 0.0, "browser": 0.0},
    TARGETING_TEST: {
        "lapsed": 0.2,
        "bargain_hunter": 0.06,
        "new_customer": 0.03,
        "loyal_big_spender": 0.0,
        "browser": 0.0,
    },
}
OPEN_RATE = {"bargain_hunter": 0.38, "loyal_big_spender": 0.48, "lapsed": 0.14, "new_customer": 0.42, "browser": 0.3}
CLICK_GIVEN_OPEN = {
    "bargain_hunter": 0.3,
    "loyal_big_spender": 0.22,
    "lapsed": 0.2,
    "new_customer": 0.25,
    "browser": 0.12,
}
COUPON_USE = 0.8  # share of the campaign's extra purchases that carry the code

HTML = """<html><body style="font-family: sans-serif">
<h1>{{ customer.first_name or 'Hello' }}, {{ offer.description }}</h1>
<p>Use code <b>{{ offer.code }}</b>{% if offer.valid_until %} until {{ offer.valid_until }}{% endif %}.</p>
{% for p in products %}<p><a href="{{ p.url }}"><img src="{{ p.image_url }}" width="120" alt=""><br>{{ p.name }}</a>
{{ p.price }} {{ p.currency }}</p>{% endfor %}
<p style="font-size: small"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>"""
TEXT = """{{ customer.first_name or 'Hello' }}, {{ offer.description }} with code {{ offer.code }}.
{% for p in products %}- {{ p.name }} ({{ p.price }} {{ p.currency }}): {{ p.url }}
{% endfor %}
Unsubscribe: {{ unsubscribe_url }}"""
ONSITE_HTML = """<div class="offer"><strong>{{ offer.description }}</strong> with code {{ offer.code }}
{% for p in products %}<a href="{{ p.url }}">{{ p.name }}</a>{% endfor %}</div>"""
# What the shop's page shows beside the headline (the browser client lists the products itself): one line, no
# links and no unsubscribe line, which belong to an e-mail.
ONSITE_TEXT = """{{ offer.description }} with the code {{ offer.code }}."""


@dataclass(frozen=True)
class FinishedCampaign:
    name: str
    objective: str
    days_ago: int
    offer: dict
    subject: str
    holdout_share: float = 0.1
    window_days: int = 7


FINISHED = (
    FinishedCampaign(
        name=WIN_BACK,
        objective=Campaign.Objective.WIN_BACK,
        days_ago=45,
        offer={"name": "Win-back 20%", "kind": Offer.Kind.PERCENT, "value": Decimal("20"), "code": "BACK"},
        subject="{{ customer.first_name or 'Hello' }}, we miss you: 20% off",
    ),
    FinishedCampaign(
        name=SUMMER,
        objective=Campaign.Objective.CONVERSION,
        days_ago=20,
        offer={
            "name": "Summer 15%",
            "kind": Offer.Kind.PERCENT,
            "value": Decimal("15"),
            "code": "SUMMER15",
            "code_mode": Offer.CodeMode.SHARED,
        },
        subject="{{ customer.first_name or 'Hello' }}, 15% off for the summer",
    ),
    # Last, so the campaigns above keep their random streams and ids (hence their holdouts) as before.
    FinishedCampaign(
        name=TARGETING_TEST,
        objective=Campaign.Objective.WIN_BACK,
        days_ago=10,
        offer={"name": "Targeting test 20%", "kind": Offer.Kind.PERCENT, "value": Decimal("20"), "code": "TEST20"},
        subject="{{ customer.first_name or 'Hello' }}, 20% off for three days",
        holdout_share=0.5,
        window_days=3,
    ),
)


def _target_segments() -> list[Segment]:
    """Every segment of one active segmentation (RFM when there is one): the whole segmented customer base."""
    definitions = list(SegmentationDefinition.objects.with_active_run().order_by("-method", "name"))
    if not definitions:
        raise CommandError("No active segmentation: run `manage.py setup_demo` (or run_segmentation) first.")
    chosen = next((d for d in definitions if d.method == "rfm"), definitions[0])
    return list(Segment.objects.filter(run_id=chosen.active_run_id))


def setup_demo_campaigns(*, seed: int = 7, now: datetime | None = None) -> list[str]:
    """Create whatever of the demo campaigns is missing; one line per campaign saying what was done."""
    if seed < 0:
        raise ValidationError({"seed": "The seed must not be negative."})
    now = now or timezone.now()
    if not Customer.objects.exists():
        raise CommandError("No customers: run `manage.py setup_demo` (or generate_demo_data) first.")
    segments = _target_segments()
    if connection.vendor == "sqlite":
        # A freshly loaded demo database has no planner statistics yet; without them SQLite reads each customer's
        # last purchase through the (kind, time) index, scanning every purchase once per customer.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    lines = []
    for index, spec in enumerate(FINISHED):
        if Campaign.objects.filter(name=spec.name).exists():
            lines.append(f"{spec.name}: already there")
            continue
        started = time.perf_counter()
        summary = _finished_campaign(spec, segments=segments, now=now, rng=np.random.default_rng(seed + index))
        lines.append(f"{spec.name}: {summary} ({time.perf_counter() - started:.1f} s)")
    if Campaign.objects.filter(name=ONSITE).exists():
        lines.append(f"{ONSITE}: already there")
    else:
        lines.append(f"{ONSITE}: {_onsite_campaign(segments=segments, now=now)}")
    return lines


def _offer(spec: dict, *, valid_from: datetime, valid_until: datetime) -> Offer:
    offer, _ = Offer.objects.get_or_create(
        name=spec["name"],
        defaults={
            "kind": spec["kind"],
            "value": spec.get("value", Decimal("0")),
            "code": spec["code"],
            "code_mode": spec.get("code_mode", Offer.CodeMode.UNIQUE),
            "min_basket": spec.get("min_basket"),
            "valid_from": valid_from,
            "valid_until": valid_until,
        },
    )
    return offer


def _finished_campaign(spec: FinishedCampaign, *, segments: list[Segment], now: datetime, rng) -> str:
    from marketing import attribution, services
    from marketing.audience import build_audience
    from marketing.offers import redeem_coupons

    sent_at = (now - timedelta(days=spec.days_ago)).replace(hour=9, minute=30, second=0, microsecond=0)
    window = timedelta(days=spec.window_days)
    with transaction.atomic():
        offer = _offer(spec.offer, valid_from=sent_at, valid_until=sent_at + window)
        campaign = services.campaign_create(
            name=spec.name,
            objective=spec.objective,
            channel=Campaign.Channel.EMAIL,
            included_segments=segments,
            send_at=sent_at,
            holdout_share=spec.holdout_share,
            offer=offer,
            recommendations_count=4,
            attribution_window_days=spec.window_days,
            variants=[{"name": "A", "subject": spec.subject, "html_template": HTML, "text_template": TEXT}],
        )
        counts = build_audience(campaign=campaign, now=sent_at).counts
        events = _simulate(campaign, spec=spec, sent_at=sent_at, window=window, rng=rng)
        Campaign.objects.filter(pk=campaign.pk).update(
            status=Campaign.Status.COMPLETED,
            launched_at=sent_at,
            completed_at=sent_at + window,
            audience_counts=counts,
            progress=100,
            stage="sent (demo: simulated responses)",
        )
    stored = _record_purchases(events)
    redeemed = redeem_coupons(interaction_ids=stored)
    attribution.attribute_campaign(campaign.pk)
    treated = Recipient.objects.filter(campaign=campaign, status=Recipient.Status.SENT).count()
    converted = Recipient.objects.filter(campaign=campaign, conversions__gt=0).count()
    return (
        f"{treated:,} sent, {counts['control']:,} in control, {len(events):,} simulated extra purchases "
        f"({redeemed} unique coupons redeemed), {converted:,} recipients converted"
    )


def _simulate(campaign: Campaign, *, spec: FinishedCampaign, sent_at: datetime, window: timedelta, rng) -> list:
    """Opens, clicks and extra purchases from each recipient's persona; returns the purchase events to record."""
    effects = SIMULATED_EFFECTS[spec.name]
    products = dict(
        Product.objects.filter(is_active=True, is_merchandise=True, price__isnull=False).values_list("sku", "price")
    )
    fallback = sorted(products)
    rows = list(
        Recipient.objects.filter(campaign=campaign)
        .exclude(status=Recipient.Status.EXCLUDED)
        .order_by("pk")
        .values_list("pk", "customer_id", "is_control", "coupon_code", "recommended_skus")
    )
    customers = {
        pk: (external_id, str(persona or "unknown"))
        for pk, external_id, persona in Customer.objects.filter(pk__in=[r[1] for r in rows]).values_list(
            "pk", "external_id", "attributes__persona"
        )
    }
    by_persona: dict[str, list[int]] = {}
    responses = []  # (opened_at, clicked_at, recipient id) of the treated rows
    events = []
    seconds = window.total_seconds()
    for pk, customer_id, is_control, coupon_code, recommended in rows:
        external_id, persona = customers[customer_id]
        by_persona.setdefault(persona, []).append(pk)
        if is_control:
            continue
        responds = rng.random() < effects.get(persona, 0.0)
        opened = responds or rng.random() < OPEN_RATE.get(persona, 0.3)
        clicked = opened and ((responds and rng.random() < 0.7) or rng.random() < CLICK_GIVEN_OPEN.get(persona, 0.2))
        opened_at = sent_at + timedelta(seconds=float(rng.exponential(6 * 3600)) % seconds) if opened else None
        clicked_at = opened_at + timedelta(seconds=float(rng.uniform(5, 900))) if clicked else None
        responses.append((opened_at, clicked_at, pk))
        if responds:
            candidates = [s for s in (recommended or []) if s in products] or fallback
            sku = candidates[int(rng.integers(len(candidates)))]
            at = (clicked_at or opened_at or sent_at) + timedelta(seconds=float(rng.uniform(60, 36 * 3600)))
            at = min(at, sent_at + window - timedelta(minutes=1))
            events.append(
                {
                    "event_id": f"demo-campaign-{campaign.pk}-{pk}",
                    "customer_id": external_id,
                    "sku": sku,
                    "kind": "purchase",
                    "quantity": 1,
                    "amount": str(products[sku]),
                    "order_ref": f"DEMO-C{campaign.pk}-{pk}",
                    "source": "email",
                    "occurred_at": at.isoformat(),
                    "coupon": coupon_code if rng.random() < COUPON_USE else "",
                }
            )
    # The demo's messages went out at the send time (the build wrote them pending, as a real send would find them).
    Recipient.objects.filter(campaign=campaign, status=Recipient.Status.PENDING).update(
        status=Recipient.Status.SENT, sent_at=sent_at
    )
    for persona, ids in by_persona.items():
        truth = {"persona": persona, "true_effect": effects.get(persona, 0.0)}
        for start in range(0, len(ids), 5000):
            Recipient.objects.filter(pk__in=ids[start : start + 5000]).update(attributes=truth)
    _write_responses(responses)
    return events


def _write_responses(responses: list[tuple]) -> None:
    """Each treated row's open and click times, in one statement run for all rows (bulk_update builds a CASE per
    row, far slower for thousands of distinct values)."""
    adapt = connection.ops.adapt_datetimefield_value
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(Recipient._meta.db_table)} SET {quote('opened_at')} = %s, {quote('clicked_at')} = %s "
        f"WHERE {quote('id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(adapt(o), adapt(c), pk) for o, c, pk in responses if o is not None])


def _record_purchases(events: list[dict]) -> list[int]:
    """Store the purchases through the events service (idempotent by event id); their interaction ids."""
    from shop.models import Interaction
    from shop.services import record_events

    for start in range(0, len(events), 1000):
        results = record_events(events=events[start : start + 1000])
        rejected = [r for r in results if r.status == "rejected"]
        if rejected:
            raise CommandError(f"Demo purchases rejected: {rejected[0].reason}")
    return list(Interaction.objects.filter(event_id__in=[e["event_id"] for e in events]).values_list("pk", flat=True))


def _onsite_campaign(*, segments: list[Segment], now: datetime) -> str:
    from marketing import services

    offer = _offer(
        {
            "name": "Free shipping fortnight",
            "kind": Offer.Kind.FREE_SHIPPING,
            "code": "SHIPFREE",
            "code_mode": Offer.CodeMode.SHARED,
            "min_basket": Decimal("30"),
        },
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=14),
    )
    campaign = services.campaign_create(
        name=ONSITE,
        objective=Campaign.Objective.CONVERSION,
        channel=Campaign.Channel.ONSITE,
        included_segments=segments,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=14),
        holdout_share=0.1,
        offer=offer,
        recommendations_count=4,
        variants=[
            {
                "name": "A",
                "subject": "Free shipping on orders over 30",
                "html_template": ONSITE_HTML,
                "text_template": ONSITE_TEXT,
            }
        ],
    )
    services.campaign_launch(campaign=campaign, user=None, now=now)
    return f"running until {campaign.ends_at:%Y-%m-%d} (GET /api/v1/customers/<id>/offers)"
