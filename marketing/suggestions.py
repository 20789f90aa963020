"""Next-best campaign per segment: what to send each segment of the active segmentations next.

Evidence first: when past campaigns reached the segment (the recipient's segment at send time, matched to
today's segment by segmentation and key) and one of them moved it — its 95 % interval of uplift, treated
against control within the segment, lies above zero — the suggestion is to repeat that campaign, with its
measured uplift and interval and the incremental conversions it would bring on today's audience. A campaign
that lowered conversions in the segment is named as one to avoid.

Otherwise the segment's profile decides (how far its members stand from the average customer, on the scale the
segmentation names segments by): lapsed high spenders get a win-back with a discount, new customers a welcome,
browsers who rarely buy a browse-abandonment reminder, loyal regulars a cross-sell of products bought together,
lapsed low spenders a reminder with recommendations, and everyone else recommendations.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketing.ml.stats import compare_proportions
from marketing.models import Campaign, CampaignAction, Offer, Variant
from marketing.report_summaries import campaign_summaries
from segments.models import Segment
from segments.naming import segment_description, segment_name
from segments.services import segments_reachable_store

MEASURED_STATUSES = (Campaign.Status.RUNNING, Campaign.Status.COMPLETED)
MIN_PER_ARM = 30  # fewer treated or control recipients in the segment: not evidence either way
STRONG = 0.5  # distinctiveness (z on the naming scale) that makes a trait the segment's
HOLDOUT = 0.10
# A draft asked for again this soon after the last (a double click, a resent form) is that same draft.
REPEAT_CLICK = timedelta(minutes=10)

# kind -> what the draft campaign is
PLAYBOOK: dict[str, dict[str, Any]] = {
    "win_back_discount": {
        # xgettext:no-python-format
        "title": gettext_lazy("Win-back with 15 % off"),
        "objective": Campaign.Objective.WIN_BACK,
        "offer": {"kind": Offer.Kind.PERCENT, "value": Decimal("15"), "code": "COMEBACK"},
        "subject": "{{ customer.first_name or 'Hello' }}, we miss you: 15 % off your next order",
        "intro": "It has been a while. Here is 15 % off to welcome you back, with picks chosen for you.",
    },
    "win_back": {
        "title": gettext_lazy("Win-back reminder with recommendations"),
        "objective": Campaign.Objective.WIN_BACK,
        "offer": None,
        "subject": "{{ customer.first_name or 'Hello' }}, new things picked for you",
        "intro": "A lot has arrived since your last visit. These are picked for you.",
    },
    "welcome": {
        # xgettext:no-python-format
        "title": gettext_lazy("Welcome with 10 % off the first order"),
        "objective": Campaign.Objective.WELCOME,
        "offer": {"kind": Offer.Kind.PERCENT, "value": Decimal("10"), "code": "WELCOME"},
        "subject": "Welcome, {{ customer.first_name or 'friend' }}: 10 % off your first order",
        "intro": "Welcome! Here is 10 % off your first order and a few favourites to start with.",
    },
    "browse_abandonment": {
        "title": gettext_lazy("Browse abandonment: what you looked at"),
        "objective": Campaign.Objective.CONVERSION,
        "offer": None,
        "subject": "{{ customer.first_name or 'Hello' }}, still thinking about these?",
        "intro": "You had a look around recently. These are the products we think you will like most.",
    },
    "cross_sell": {
        "title": gettext_lazy("Cross-sell: goes well with the last order"),
        "objective": Campaign.Objective.CROSS_SELL,
        "offer": None,
        "subject": "{{ customer.first_name or 'Hello' }}, goes well with your last order",
        "intro": "Thank you for shopping with us again. These go well with what you bought.",
    },
    "recommendations": {
        "title": gettext_lazy("Recommendations newsletter"),
        "objective": Campaign.Objective.CONVERSION,
        "offer": None,
        "subject": "{{ customer.first_name or 'Hello' }}, picked for you",
        "intro": "A few products picked for you.",
    },
}


def _trait(profile: dict, name: str) -> float:
    row = (profile or {}).get("features", {}).get(name) or {}
    value = row.get("distinctiveness")
    if value is None:
        value = row.get("z")
    return float(value or 0.0)


def profile_kind(segment: Segment) -> tuple[str, str]:
    """(playbook kind, why) from the segment's profile: which trait stands out decides the campaign."""
    profile = segment.profile or {}
    recency, spend = (
        _trait(profile, "recency_days"),
        max(_trait(profile, "monetary"), _trait(profile, "avg_order_value")),
    )
    tenure, frequency = _trait(profile, "tenure_days"), _trait(profile, "frequency")
    browsing = max(_trait(profile, "views"), _trait(profile, "browsing_minutes"), _trait(profile, "carts"))
    conversion = _trait(profile, "conversion")
    no_purchases = segment.key == "no_purchases"
    if recency >= STRONG and spend >= STRONG / 2 and not no_purchases:
        return "win_back_discount", _("lapsed customers who spent well above average: worth a discount to win back")
    if tenure <= -STRONG or (no_purchases and browsing < STRONG):
        return "welcome", _("new customers (or not yet buying): a welcome offer to make the first order")
    if browsing >= STRONG and (conversion <= -STRONG / 2 or no_purchases):
        return "browse_abandonment", _("they browse a lot but rarely buy: remind them of what they looked at")
    if frequency >= STRONG and recency <= 0:
        return "cross_sell", _("loyal, regular buyers: cross-sell products bought together with their last order")
    if recency >= STRONG:
        return "win_back", _("lapsed customers with modest spend: a reminder with recommendations, no discount")
    return "recommendations", _("no trait stands out: personalised recommendations")


def _evidence(segments: list[Segment]) -> dict[int, list[dict]]:
    """segment id -> uplift of each past campaign on it (treated, all variants, against control), best first.

    From the stored summaries of measured campaigns (their recipients per segment at send time and arm), matched
    to today's segments by segmentation and key: two queries, whatever the number of recipients.
    """
    by_key = {(s.run.definition_id, s.key): s.pk for s in segments}
    if not by_key:
        return {}
    campaigns = list(
        Campaign.objects.filter(status__in=MEASURED_STATUSES, origin=Campaign.Origin.NATIVE)
        .only("pk", "name", "objective")
        .order_by("pk")
    )
    summaries = campaign_summaries(campaigns, with_report=False)
    arms: dict[tuple[int, int, str, str], dict] = defaultdict(dict)
    for campaign in campaigns:
        for definition_id, key, is_control, n, converted in summaries[campaign.pk].segment_arms:
            segment_id = by_key.get((definition_id, key))
            if segment_id is None:
                continue
            arm = arms[(segment_id, campaign.pk, campaign.name, campaign.objective)]
            side = "control" if is_control else "treated"
            total, hits = arm.get(side, (0, 0))
            arm[side] = (total + n, hits + converted)
    evidence: dict[int, list[dict]] = defaultdict(list)
    for (segment_id, campaign_id, name, objective), arm in arms.items():
        (n_t, c_t), (n_c, c_c) = arm.get("treated", (0, 0)), arm.get("control", (0, 0))
        if min(n_t, n_c) < MIN_PER_ARM:
            continue
        result = compare_proportions(c_t, n_t, c_c, n_c)
        evidence[segment_id].append(
            {
                "campaign": name,
                "campaign_id": campaign_id,
                "objective": objective,
                "recipients": n_t + n_c,
                "uplift": result.uplift,
                "uplift_ci": result.uplift_ci,
                "p_value": result.p_value,
            }
        )
    for items in evidence.values():
        items.sort(key=lambda e: -(e["uplift_ci"][0] if e["uplift_ci"] else float("-inf")))
    return dict(evidence)


def _reachable(segments: list[Segment]) -> dict[int, int]:
    """segment id -> members with email consent (the default channel of a draft), as their run stored it."""
    return {s.pk: s.reachable for s in segments_reachable_store(segments=segments)}


def _suggest(segment: Segment, evidence: list[dict], reachable: int) -> dict[str, Any]:
    moved = [e for e in evidence if e["uplift_ci"] and e["uplift_ci"][0] > 0]
    harmed = [e for e in evidence if e["uplift_ci"] and e["uplift_ci"][1] < 0]
    treated = round(reachable * (1 - HOLDOUT))
    base = {
        "segment": segment.pk,
        "segment_name": segment.name,
        "segmentation": segment.run.definition.name,
        "size": segment.size,
        "reachable": reachable,
        "expected_audience": treated,
        "evidence": evidence,
        "avoid": [e["campaign"] for e in harmed],
    }
    if moved:
        best = moved[0]
        kind = _kind_of(best["objective"])
        lo, hi = best["uplift_ci"]
        return {
            **base,
            "basis": "measured",
            "kind": kind,
            "title": _("Repeat %(campaign)r") % {"campaign": best["campaign"]},
            "objective": best["objective"],
            "reason": _("%(campaign)r raised conversion here by %(uplift)s points (95 %% interval %(low)s to %(high)s)")
            % {
                "campaign": best["campaign"],
                "uplift": f"{100 * best['uplift']:+.1f}",
                "low": f"{100 * lo:+.1f}",
                "high": f"{100 * hi:+.1f}",
            },
            "source_campaign": best["campaign_id"],
            "expected_uplift": best["uplift"],
            "expected_uplift_ci": best["uplift_ci"],
            "expected_incremental_conversions": best["uplift"] * treated,
            "expected_incremental_conversions_ci": [lo * treated, hi * treated],
        }
    kind, why = profile_kind(segment)
    playbook = PLAYBOOK[kind]
    note = (
        _("No past campaign has measured evidence on it yet.")
        if not evidence
        else _("Past campaigns on it showed no clear effect either way.")
    )
    return {
        **base,
        "basis": "profile",
        "kind": kind,
        "title": str(playbook["title"]),
        "objective": playbook["objective"],
        "reason": _("%(segment)s: %(why)s. %(note)s")
        % {"segment": segment_description(segment) or segment_name(segment), "why": why, "note": note},
        "source_campaign": None,
        "expected_uplift": None,
        "expected_uplift_ci": None,
        "expected_incremental_conversions": None,
        "expected_incremental_conversions_ci": None,
    }


def _kind_of(objective: str) -> str:
    return {
        Campaign.Objective.WIN_BACK: "win_back",
        Campaign.Objective.WELCOME: "welcome",
        Campaign.Objective.CROSS_SELL: "cross_sell",
    }.get(objective, "recommendations")


def _segments(ids: list[int] | None = None) -> list[Segment]:
    queryset = Segment.objects.active().with_definition().order_by("run__definition__name", "-size", "key")
    if ids is not None:
        queryset = queryset.filter(pk__in=ids)
    return list(queryset)


def suggestions() -> list[dict[str, Any]]:
    """A suggestion for every segment of every active segmentation (three queries in all, once every measured
    campaign has its summary stored and every segment its reachable members)."""
    segments = _segments()
    evidence = _evidence(segments)
    reachable = _reachable(segments)
    return [_suggest(s, evidence.get(s.pk, []), reachable.get(s.pk, 0)) for s in segments]


def suggest_campaign(segment_id: int) -> dict[str, Any]:
    """The next-best campaign for one segment. Raises Segment.DoesNotExist for a segment not active today."""
    segments = _segments([segment_id])
    if not segments:
        raise Segment.DoesNotExist(f"no segment {segment_id} in an active segmentation")
    segment = segments[0]
    return _suggest(segment, _evidence(segments).get(segment.pk, []), _reachable(segments).get(segment.pk, 0))


def _offer(kind: str) -> Offer | None:
    spec = PLAYBOOK[kind]["offer"]
    if spec is None:
        return None
    name = f"{PLAYBOOK[kind]['title']} (suggested)"
    offer = Offer.objects.filter(name=name).first()
    if offer is None:
        offer = Offer(name=name, kind=spec["kind"], value=spec["value"], code=spec["code"])
        offer.code_mode = Offer.CodeMode.UNIQUE
        offer.full_clean()
        offer.save()
    return offer


def _unique_name(base: str) -> str:
    name, n = base[:200], 2
    while Campaign.objects.filter(name=name).exists():
        name = f"{base[:190]} ({n})"
        n += 1
    return name


def _templates(kind: str) -> dict[str, str]:
    playbook = PLAYBOOK[kind]
    products = "cross_sell or products" if kind == "cross_sell" else "products"
    html = (
        '<html><body style="font-family: sans-serif">\n'
        "<p>Hello {{ customer.first_name or 'there' }},</p>\n"
        f"<p>{playbook['intro']}</p>\n"
        "{% if offer %}<p><strong>{{ offer.description }}</strong>{% if offer.code %} with the code "
        "<strong>{{ offer.code }}</strong>{% endif %}.</p>{% endif %}\n"
        f"<table>{{% for p in {products} %}}\n"
        '<tr><td><a href="{{ p.url }}"><img src="{{ p.image_url }}" alt="{{ p.name }}" width="120"></a></td>\n'
        '<td><a href="{{ p.url }}">{{ p.name }}</a><br>{{ p.price }} {{ p.currency }}</td></tr>{% endfor %}\n'
        "</table>\n"
        '<p><small><a href="{{ unsubscribe_url }}">Unsubscribe</a></small></p>\n'
        "</body></html>"
    )
    text = (
        "Hello {{ customer.first_name or 'there' }},\n\n"
        f"{playbook['intro']}\n"
        "{% if offer %}\n{{ offer.description }}{% if offer.code %} with the code {{ offer.code }}{% endif %}.\n"
        "{% endif %}\n"
        f"{{% for p in {products} %}}- {{{{ p.name }}}} ({{{{ p.price }}}} {{{{ p.currency }}}}): {{{{ p.url }}}}\n"
        "{% endfor %}\nUnsubscribe: {{ unsubscribe_url }}\n"
    )
    return {"subject": playbook["subject"], "html_template": html, "text_template": text}


@transaction.atomic
def create_draft_from_suggestion(segment_id: int, user=None) -> Campaign:
    """A draft campaign for the segment, prefilled from its suggestion: objective, the segment as audience, a
    10 % holdout, the offer (created once per playbook) or the measured campaign's offer, and one variant with
    subject, HTML and text templates. The marketer reviews it in the editor before scheduling it."""
    # What is stored (the campaign's and offer's names, the action's note) stays in English, whoever clicks.
    with translation.override("en"):
        return _create_draft(segment_id, user)


def _create_draft(segment_id: int, user) -> Campaign:
    suggestion = suggest_campaign(segment_id)
    segment = Segment.objects.get(pk=segment_id)
    source = (
        Campaign.objects.filter(pk=suggestion["source_campaign"]).select_related("offer").first()
        if suggestion["source_campaign"]
        else None
    )
    kind = suggestion["kind"]
    name = f"{suggestion['title']} — {segment.name} {date.today():%Y-%m-%d}"
    # A second click within minutes (a double click, a resent form) opens the draft the first one made.
    existing = (
        Campaign.objects.filter(
            name=name,
            status=Campaign.Status.DRAFT,
            included_segments=segment,
            created_at__gte=timezone.now() - REPEAT_CLICK,
        )
        .order_by("-created_at")
        .first()
    )
    if existing is not None:
        return existing
    campaign = Campaign(
        name=_unique_name(name),
        objective=suggestion["objective"],
        channel=source.channel if source else Campaign.Channel.EMAIL,
        status=Campaign.Status.DRAFT,
        holdout_share=HOLDOUT,
        offer=source.offer if source else _offer(kind),
        attribution_window_days=source.attribution_window_days if source else 7,
        recommendations_count=4,
        created_by=user if getattr(user, "pk", None) else None,
    )
    campaign.full_clean()
    campaign.save()
    campaign.included_segments.set([segment])
    if source is not None and source.variants.exists():
        for position, old in enumerate(source.variants.order_by("position", "id")):
            Variant.objects.create(
                campaign=campaign,
                name=old.name,
                split_share=old.split_share,
                subject=old.subject,
                html_template=old.html_template,
                text_template=old.text_template,
                position=position,
            )
    else:
        Variant.objects.create(campaign=campaign, name="A", split_share=1.0, **_templates(kind))
    CampaignAction.objects.create(
        campaign=campaign,
        action="draft_from_suggestion",
        to_status=Campaign.Status.DRAFT,
        user=campaign.created_by,
        note=f"{suggestion['basis']}: {suggestion['reason']}"[:500],
    )
    return campaign
