"""Adaptive sends: a campaign goes out in waves, and each later wave's treated recipients get the variant that
Thompson sampling on the conversions observed so far favours (`marketing.ml.bandit`).

At the build every recipient gets a wave by hashing (campaign, customer), as the holdout does. Wave 1 is built
as any campaign is (control held out, variants by split share, messages rendered, PENDING). The rows of later
waves are written WAITING: their control rows are control already (`is_control` is set at the build and never
changes, so the control group is the same hashed share of every wave and a variant's uplift against control
stays unbiased), their treated rows have no variant and no message yet.

A beat task (`marketing.wave_tasks`) releases the next wave of a sending campaign once `wave_interval_hours`
have passed since the previous one: it refreshes the campaign's attribution, shares the wave's treated rows
among the variants in proportion to each one's posterior probability of converting best (every variant keeps
a small share, so none stops learning), renders their messages, marks them PENDING and the wave's control rows
CONTROL from that moment (their would-be send time, where their attribution window starts), logs the wave on
the campaign and queues the send. Rows move WAITING -> PENDING once, on the locked campaign row, and the
sender claims only PENDING rows (`marketing.delivery`), so nobody is sent twice; the campaign stays SENDING
until its last wave has gone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from marketing.audience import (
    ContentBuilder,
    _unit,  # the holdout's hash; waves use it with their own salt
    customer_context,
    is_control,
    issue_coupons_for,
    last_purchases,
)
from marketing.ml.bandit import thompson_allocation
from marketing.models import Campaign, Recipient, Variant

S = Recipient.Status
MESSAGE_CHANNELS = (Campaign.Channel.EMAIL, Campaign.Channel.SMS, Campaign.Channel.PUSH)
RENDER_CHUNK = 2000
# Each variant keeps at least this share of a wave's treated recipients, so a variant behind by chance can recover.
MIN_VARIANT_SHARE = 0.05


# --- The plan, fixed at the build -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WavePlan:
    campaign_id: int
    share: float

    @property
    def count(self) -> int:
        return max(1, math.ceil(1 / self.share - 1e-9))

    def wave_of(self, customer_id: int) -> int:
        """1, 2, ... count: the same on every rebuild (a hash independent of the holdout and variant ones)."""
        return min(int(_unit(self.campaign_id, customer_id, "wave") / self.share) + 1, self.count)


def plan_for(campaign: Campaign) -> WavePlan | None:
    """The campaign's waves, or None when it sends everyone at once (not adaptive, triggered, on-site)."""
    if not campaign.adaptive or campaign.is_triggered or campaign.channel not in MESSAGE_CHANNELS:
        return None
    plan = WavePlan(campaign_id=campaign.pk, share=campaign.wave_share)
    return plan if plan.count > 1 else None


def waiting_recipient(*, campaign: Campaign, base: dict, counts: dict) -> Recipient:
    """A later wave's row at the build: control or not by the campaign's holdout hash, no variant, no message."""
    control = is_control(campaign_id=campaign.pk, customer_id=base["customer_id"], holdout_share=campaign.holdout_share)
    counts["control" if control else "treated"] += 1
    counts["waiting"] = counts.get("waiting", 0) + 1
    return Recipient(**base, status=S.WAITING, is_control=control)


def validate_adaptive(*, campaign: Campaign, variants: list[Variant]) -> None:
    """An adaptive campaign sends messages, once, with at least two variants to choose between."""
    if not campaign.adaptive:
        return
    if campaign.channel not in MESSAGE_CHANNELS:
        raise ValidationError({"adaptive": "Only e-mail, SMS and push campaigns can be sent in waves."})
    if campaign.is_triggered:
        raise ValidationError({"adaptive": "A triggered campaign sends as customers enter: it has no waves."})
    if sum(1 for v in variants if v.split_share > 0) < 2:
        raise ValidationError(
            {"adaptive": "Sending in waves moves the audience toward the better variant: give it two variants or more."}
        )
    if WavePlan(campaign_id=campaign.pk or 0, share=campaign.wave_share).count < 2:
        raise ValidationError({"wave_share": "A wave share of 1 is a single wave: choose a smaller share."})


# --- Releasing a wave -----------------------------------------------------------------------------------------------


def _released_at(campaign: Campaign) -> datetime | None:
    """When the campaign's latest wave went out (wave 1: the build)."""
    if campaign.wave_log:
        return parse_datetime(campaign.wave_log[-1]["released_at"])
    built = (campaign.audience_counts or {}).get("built_at")
    return parse_datetime(built) if built else None


def next_release_at(campaign: Campaign) -> datetime | None:
    released = _released_at(campaign)
    return released + timedelta(hours=campaign.wave_interval_hours) if released else None


def measuring_since(campaign: Campaign) -> datetime | None:
    """When the last released wave went out: the attribution window of an adaptive send closes after it."""
    return _released_at(campaign) if campaign.wave_log else None


def variant_results(campaign: Campaign) -> dict[int, tuple[int, int]]:
    """variant id -> (recipients who converted, recipients sent) among the treated rows sent so far."""
    rows = (
        Recipient.objects.filter(campaign=campaign, is_control=False, status=S.SENT, variant__isnull=False)
        .values("variant_id")
        .annotate(sent=Count("pk"), converted=Count("pk", filter=Q(conversions__gt=0)))
        .order_by()
    )
    return {r["variant_id"]: (r["converted"], r["sent"]) for r in rows}


def _due(campaign: Campaign, *, now: datetime, force: bool) -> bool:
    if campaign.status != Campaign.Status.SENDING or not campaign.adaptive:
        return False
    due = next_release_at(campaign)
    return due is not None and (force or due <= now)


def release_due_waves(*, now: datetime | None = None) -> list[int]:
    """Release the next wave of every sending adaptive campaign whose interval has passed; their ids."""
    now = now or timezone.now()
    candidates = (
        Campaign.objects.filter(adaptive=True, status=Campaign.Status.SENDING)
        .filter(pk__in=Recipient.objects.filter(status=S.WAITING).values("campaign_id"))
        .values_list("pk", flat=True)
    )
    return [pk for pk in candidates if release_next_wave(campaign_id=pk, now=now) is not None]


def release_next_wave(*, campaign_id: int, now: datetime | None = None, force: bool = False) -> dict | None:
    """Share the campaign's next waiting wave among its variants and make it sendable; its log entry.

    None when nothing is due: the campaign is not sending, has no waiting wave, or its interval has not passed
    (`force` releases regardless of the interval).
    """
    from marketing import attribution

    now = now or timezone.now()
    if not _due(Campaign.objects.get(pk=campaign_id), now=now, force=force):
        return None
    attribution.attribute_campaign(campaign_id)  # conversions up to now, for the posterior
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(of=("self",)).select_related("offer").get(pk=campaign_id)
        if not _due(campaign, now=now, force=force):  # another release got there first
            return None
        wave = (
            Recipient.objects.filter(campaign=campaign, status=S.WAITING)
            .order_by("wave")
            .values_list("wave", flat=True)
            .first()
        )
        if wave is None:
            return None
        variants = [v for v in campaign.variants.order_by("position", "pk") if v.split_share > 0]
        observed = variant_results(campaign)
        results = {v.pk: observed.get(v.pk, (0, 0)) for v in variants}
        waiting = Recipient.objects.filter(campaign=campaign, status=S.WAITING, wave=wave)
        treated = list(
            waiting.filter(is_control=False)
            .order_by("pk")
            .values_list(
                "pk",
                "customer_id",
                "entry",
                "customer__external_id",
                "customer__name",
                "customer__email",
                "customer__city",
                "customer__country",
            )
        )
        rng = np.random.default_rng([campaign.pk, wave])
        allocation = thompson_allocation(
            results, wave_size=len(treated), control_share=0.0, rng=rng, min_share=MIN_VARIANT_SHARE
        )
        order = rng.permutation(len(treated))
        by_variant = {v.pk: v for v in variants}
        assigned: list[tuple[tuple, Variant]] = []
        start = 0
        for variant_id, count in allocation.variants.items():
            assigned += [(treated[i], by_variant[variant_id]) for i in order[start : start + count]]
            start += count
        _render(campaign, variants, assigned, now=now)
        control = waiting.filter(is_control=True).update(status=S.CONTROL, sent_at=now)
        names = {v.pk: v.name for v in variants}
        entry = {
            "wave": wave,
            "released_at": now.isoformat(),
            "treated": len(treated),
            "control": control,
            "allocation": {names[pk]: n for pk, n in allocation.variants.items()},
            "probability_best": {names[pk]: round(p, 4) for pk, p in allocation.probability_best.items()},
            "observed": {names[pk]: {"converted": c, "sent": n} for pk, (c, n) in results.items()},
        }
        campaign.wave_log = [*campaign.wave_log, entry]
        Campaign.objects.filter(pk=campaign.pk).update(
            wave_log=campaign.wave_log, stage=f"wave {wave} released"[:100], updated_at=timezone.now()
        )
    return entry


def _render(campaign: Campaign, variants: list[Variant], assigned: list[tuple[tuple, Variant]], *, now) -> None:
    """Each assigned row's message (recommendations, coupon, rendered content), written PENDING."""
    if not assigned:
        return
    customer_ids = [row[1] for row, _ in assigned]
    last_products = last_purchases(customer_ids)
    coupons = issue_coupons_for(campaign=campaign, customer_ids=customer_ids, now=now)
    builder = ContentBuilder.for_campaign(campaign, variants)
    fields = ["variant", "status", "recommendation_id", "recommended_skus", "coupon_code", "subject"]
    fields += ["body_html", "body_text"]
    for start in range(0, len(assigned), RENDER_CHUNK):
        rows = []
        for (pk, customer_id, entry, external_id, name, email, city, country), variant in assigned[
            start : start + RENDER_CHUNK
        ]:
            message = builder.message(
                variant=variant,
                customer=customer_context(external_id=external_id, name=name, email=email, city=city, country=country),
                customer_id=customer_id,
                entry=entry,
                coupon=coupons.get(customer_id, ""),
                last_product_id=last_products.get(customer_id),
            )
            rows.append(Recipient(pk=pk, variant=variant, status=S.PENDING, **message))
        Recipient.objects.bulk_update(rows, fields, batch_size=500)


# --- What the campaign page shows -------------------------------------------------------------------------------------


def wave_status(campaign: Campaign) -> dict | None:
    """Waves released and waiting, the next release time, and each released wave's allocation and evidence."""
    if not campaign.adaptive:
        return None
    counts = dict(
        Recipient.objects.filter(campaign=campaign, wave__isnull=False)
        .values_list("wave")
        .annotate(waiting=Count("pk", filter=Q(status=S.WAITING)))
        .order_by("wave")
    )
    waiting_waves = sorted(w for w, n in counts.items() if n)
    first = {"wave": 1, "released_at": (campaign.audience_counts or {}).get("built_at"), "by": "split shares"}
    return {
        "waves": len(counts) or WavePlan(campaign_id=campaign.pk, share=campaign.wave_share).count,
        "released": [first, *campaign.wave_log] if first["released_at"] else [],
        "waiting": waiting_waves,
        "next_release_at": next_release_at(campaign) if waiting_waves else None,
    }
