"""Campaign reports: each variant against the control group, overall and per segment or attribute.

Selectors only (reads). The recipients a report counts are read in one query into a DataFrame, one row per
recipient, and handed to `marketing.ml.stats.campaign_uplift_table`, which does the statistics. The same
dict feeds `campaign_report --json`, the staff report page and the CSV export.

Who is counted (intention to treat): every recipient assigned to a variant whose message went out (or failed
to: the assignment, not the delivery, is what is compared), and every control recipient. Recipients left out
(no consent, caps...) and those still waiting to be sent are not counted. A recipient converted when it has at
least one attributed purchase (`marketing.attribution`); revenue is the amount of those purchases.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import connection
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy

from marketing.ml.stats import campaign_uplift_table
from marketing.models import Campaign, Recipient

CONTROL = "(control)"  # the group label of control recipients (variant names are free text; None is refused)
SEGMENT = "segment"  # --by segment: the recipient's segment when the audience was built
NO_VALUE = None  # recipients without the attribute form their own group, shown last
MAX_GROUPS = 12  # a numeric attribute with more distinct values is shown in quantile bands
BANDS = 5
CHUNK = 20_000
# Why a campaign cannot be measured, by code: a stored summary keeps the code and the page words it in the
# reader's language.
PROBLEMS = {
    "no_control": gettext_lazy("campaign “%(name)s” has no control recipients to compare against"),
    "no_treated": gettext_lazy("campaign “%(name)s” has no treated recipients yet"),
}


def campaign_by_reference(reference: str | int) -> Campaign:
    """A campaign by its exact name, else by its id. Raises Campaign.DoesNotExist naming what was asked."""
    text = str(reference).strip()
    campaign = Campaign.objects.filter(name=text).first()
    if campaign is None and text.isdigit():
        campaign = Campaign.objects.filter(pk=int(text)).first()
    if campaign is None:
        raise Campaign.DoesNotExist(f"no campaign named or numbered {text!r}")
    return campaign


def measured_recipients(campaign: Campaign):
    """The recipients a report counts: treated (sent, or failed to send) and control; not left out, pending or
    waiting for their wave."""
    treated = Q(is_control=False, status__in=[Recipient.Status.SENT, Recipient.Status.FAILED])
    control = Q(is_control=True) & ~Q(status=Recipient.Status.WAITING)  # an adaptive send's unreleased wave
    return Recipient.objects.filter(campaign=campaign, exclusion="").filter(treated | control)


def _rows(queryset, columns: list[str]) -> pd.DataFrame:
    """The queryset's plain columns in one fetch, without the ORM's per-row converters (the report reads 100,000
    rows; converting each value through Python costs more than the query). Booleans come back as 0/1 on SQLite,
    JSON as text there and as dicts on PostgreSQL; the caller normalises."""
    sql, params = queryset.values_list(*columns).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)


def recipients_frame(campaign: Campaign, *, by: str | None = None, attributes: bool = False) -> pd.DataFrame:
    """One row per measured recipient: group (variant name or CONTROL), conversions, revenue[, by][, attributes].

    `by` is "segment" (the segment name at send time) or an attribute key; `attributes=True` adds the whole
    attributes dict and the recipient's ids (for the uplift model).
    """
    fields = ["is_control", "variant_id", "conversions", "revenue"]
    # An imported experiment has no segment at send time: --by segment reads its own "segment" column, if any.
    by_segment = by == SEGMENT and (
        campaign.origin != Campaign.Origin.IMPORTED
        or Recipient.objects.filter(campaign=campaign).exclude(segment_name="").exists()
    )
    want_attributes = attributes or (by is not None and not by_segment)
    if by_segment:
        fields.append("segment_name")
    if attributes:
        fields = ["id", "customer_id", "external_ref", *fields]
    if want_attributes:
        fields.append("attributes")
    # Row order matters only to the uplift model's splits (reproducible); the report is order-free.
    recipients = measured_recipients(campaign)
    frame = _rows(recipients.order_by("pk") if attributes else recipients.order_by(), fields)
    names = dict(campaign.variants.values_list("pk", "name"))
    variant_names = frame["variant_id"].map(names).astype(object).where(frame["variant_id"].notna(), "")
    frame["group"] = np.where(frame["is_control"].astype(bool), CONTROL, variant_names.fillna(""))
    frame = frame.drop(columns=["is_control", "variant_id"]).rename(columns={"id": "recipient_id"})
    frame["conversions"] = frame["conversions"].astype("int64")
    frame["revenue"] = frame["revenue"].astype(float)
    if want_attributes:
        frame["attributes"] = [json.loads(a) if isinstance(a, str) else (a or {}) for a in frame["attributes"]]
    if by_segment:
        frame[SEGMENT] = frame.pop("segment_name").astype(object).replace("", NO_VALUE)
    elif by is not None:
        values = [a.get(by) if isinstance(a, dict) else None for a in frame["attributes"]]
        if frame.empty or all(v is None for v in values):
            known = attribute_keys(campaign)
            raise ValidationError(
                f"no recipient of {campaign.name!r} has the attribute {by!r}; "
                f"use --by segment or one of: {', '.join(known) or 'none (this campaign has no attributes)'}"
            )
        frame[by] = banded(pd.Series(values, index=frame.index, dtype=object))
    if not attributes:
        frame = frame.drop(columns=["attributes"], errors="ignore")
    return frame


def banded(values: pd.Series) -> pd.Series:
    """Values as they are when few; a numeric attribute with many values in quantile bands like "12.5–30"."""
    present = values.dropna()
    if present.nunique() <= MAX_GROUPS:
        return values
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        return values  # text with many values: shown as it is
    edges = np.unique(np.quantile(numbers.to_numpy(dtype=float), np.linspace(0, 1, BANDS + 1)))
    if len(edges) < 3:
        return values
    codes = np.clip(np.searchsorted(edges, numbers.to_numpy(dtype=float), side="right") - 1, 0, len(edges) - 2)
    labels = [f"{_short(edges[i])}–{_short(edges[i + 1])}" for i in range(len(edges) - 1)]
    # Bands sort by their position, not their text: prefix the band's number.
    named = [f"{i + 1}: {labels[i]}" for i in codes]
    out = pd.Series([NO_VALUE] * len(values), index=values.index, dtype=object)
    out.loc[present.index] = named
    return out


def _short(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


def attribute_keys(campaign: Campaign) -> list[str]:
    """Attribute names recipients of this campaign carry (from a sample of rows)."""
    keys: dict[str, None] = {}
    for attributes in Recipient.objects.filter(campaign=campaign).values_list("attributes", flat=True)[:500]:
        if isinstance(attributes, dict):
            keys.update(dict.fromkeys(attributes))
    return list(keys)


def campaign_report(campaign: Campaign, *, by: str | None = None) -> dict[str, Any]:
    """The campaign report: control, each variant with its uplift, and with `by` the breakdown.

    Raises ValidationError when there is nothing to compare (no control group, no treated recipient) or the
    breakdown names an attribute no recipient has.
    """
    frame = recipients_frame(campaign, by=by)
    if not (frame["group"] == CONTROL).any():
        raise ValidationError(PROBLEMS["no_control"], code="no_control", params={"name": campaign.name})
    if not (frame["group"] != CONTROL).any():
        raise ValidationError(PROBLEMS["no_treated"], code="no_treated", params={"name": campaign.name})
    table = campaign_uplift_table(
        frame, group_col="group", control=CONTROL, conversion_col="conversions", revenue_col="revenue", by=by
    )
    return {"campaign": campaign.name, **table}


def campaign_report_or_none(campaign: Campaign, *, by: str | None = None) -> tuple[dict | None, str]:
    """(report, "") or (None, why not): for pages that show a campaign whether or not it can be measured."""
    try:
        return campaign_report(campaign, by=by), ""
    except (ValidationError, ObjectDoesNotExist) as exc:
        return None, "; ".join(getattr(exc, "messages", [str(exc)]))


# --- CSV and text -------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "campaign",
    "by",
    "group",
    "variant",
    "recipients",
    "conversions",
    "conversion_rate",
    "control_recipients",
    "control_conversions",
    "control_conversion_rate",
    "uplift",
    "uplift_ci_low",
    "uplift_ci_high",
    "relative_uplift",
    "p_value",
    "q_value",
    "significant",
    "revenue_per_recipient",
    "control_revenue_per_recipient",
    "revenue_uplift",
    "revenue_uplift_ci_low",
    "revenue_uplift_ci_high",
    "incremental_conversions",
    "incremental_revenue",
]


def report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per variant, overall first, then per breakdown group (the CSV export's rows)."""
    sections = [("", "(all)", report["control"], report["variants"])]
    breakdown = report.get("breakdown")
    if breakdown:
        for group in breakdown["groups"]:
            label = "(none)" if group["value"] is None else group["value"]
            sections.append((breakdown["by"], label, group["control"], group["variants"]))
    rows = []
    for by, label, control, variants in sections:
        for variant in variants:
            ci = variant.get("uplift_ci") or [None, None]
            revenue_ci = variant.get("revenue_uplift_ci") or [None, None]
            rows.append(
                {
                    "campaign": report["campaign"],
                    "by": by,
                    "group": label,
                    "variant": variant["name"],
                    "recipients": variant["recipients"],
                    "conversions": variant["conversions"],
                    "conversion_rate": variant["conversion_rate"],
                    "control_recipients": control["recipients"],
                    "control_conversions": control["conversions"],
                    "control_conversion_rate": control["conversion_rate"],
                    "uplift": variant["uplift"],
                    "uplift_ci_low": ci[0],
                    "uplift_ci_high": ci[1],
                    "relative_uplift": variant["relative_uplift"],
                    "p_value": variant["p_value"],
                    "q_value": variant.get("q_value"),
                    "significant": variant["significant"],
                    "revenue_per_recipient": variant["revenue_per_recipient"],
                    "control_revenue_per_recipient": control["revenue_per_recipient"],
                    "revenue_uplift": variant["revenue_uplift"],
                    "revenue_uplift_ci_low": revenue_ci[0],
                    "revenue_uplift_ci_high": revenue_ci[1],
                    "incremental_conversions": variant["incremental_conversions"],
                    "incremental_revenue": variant["incremental_revenue"],
                }
            )
    return rows


def report_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report_rows(report):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{100 * value:.{digits}f}%"


def _points(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.2f}"


def _ci(ci: list[float] | None) -> str:
    return "—" if not ci else f"[{100 * ci[0]:+.2f}, {100 * ci[1]:+.2f}]"


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _p(value: float | None) -> str:
    return "—" if value is None else (f"{value:.3f}" if value >= 0.001 else "<0.001")


def report_text(report: dict[str, Any]) -> str:
    """A readable table: uplift in percentage points with its 95 % interval, p-value, revenue per recipient."""
    head = (
        f"{'group':<24} {'variant':<14} {'recipients':>10} {'conv.':>7} {'rate':>8} {'uplift pts':>10} "
        f"{'95% interval (pts)':>20} {'p':>7} {'q':>7} {'rev/recip.':>10} {'rev. uplift':>11}"
    )
    lines = [f"Campaign {report['campaign']}", "", head, "-" * len(head)]

    def block(label: str, control: dict, variants: list[dict]) -> None:
        lines.append(
            f"{label[:24]:<24} {'control':<14} {control['recipients']:>10} {control['conversions']:>7} "
            f"{_pct(control['conversion_rate']):>8} {'':>10} {'':>20} {'':>7} {'':>7} "
            f"{_money(control['revenue_per_recipient']):>10} {'':>11}"
        )
        for v in variants:
            mark = " *" if v["significant"] else ""
            lines.append(
                f"{'':<24} {str(v['name'])[:14]:<14} {v['recipients']:>10} {v['conversions']:>7} "
                f"{_pct(v['conversion_rate']):>8} {_points(v['uplift']):>10} {_ci(v['uplift_ci']):>20} "
                f"{_p(v['p_value']):>7} {_p(v.get('q_value')):>7} {_money(v['revenue_per_recipient']):>10} "
                f"{_money(v['revenue_uplift']):>11}{mark}"
            )

    block("(all recipients)", report["control"], report["variants"])
    breakdown = report.get("breakdown")
    if breakdown:
        lines += ["", f"By {breakdown['by']} (q: Benjamini-Hochberg across the groups):"]
        for group in breakdown["groups"]:
            block("(none)" if group["value"] is None else str(group["value"]), group["control"], group["variants"])
    lines += ["", "* p < 0.05. Uplift and intervals in percentage points (Newcombe); revenue per recipient."]
    for v in report["variants"]:
        if v["incremental_conversions"] is not None:
            revenue = v["incremental_revenue"]
            lines.append(
                f"{v['name']}: {v['incremental_conversions']:+.1f} incremental conversions"
                + ("" if revenue is None else f", {revenue:+.2f} incremental revenue")
                + " against no message."
            )
    return "\n".join(lines)


# --- Power: which uplift a campaign can tell from chance -------------------------------------------------


def _power(audience: int, holdout_share: float, baseline: float, **extra: Any) -> dict[str, Any]:
    from marketing.ml.power import minimum_detectable_uplift, power_sentence

    baseline = min(max(baseline, 0.0), 0.999)
    mde = minimum_detectable_uplift(audience=audience, holdout_share=holdout_share, baseline_rate=baseline)
    sentence = power_sentence(audience=audience, holdout_share=holdout_share, baseline_rate=baseline)
    return {
        "audience": audience,
        "holdout_share": holdout_share,
        "baseline_rate": baseline,
        "minimum_detectable_uplift": mde,
        "sentence": sentence[0].upper() + sentence[1:] + ".",
        **extra,
    }


def segments_purchase_rate(*, segment_ids: list[int], days: int) -> tuple[float | None, int]:
    """(share of the segments' members who bought in the last `days` days of data, members): the baseline.

    "Recent" counts back from the newest recorded event (from the daily counts, not a scan of the events table),
    so data ending in the past still has a last week. No segments means every customer. The buyers are counted
    from the window's purchases (the kind-and-time index), not by looking up each member's history.
    """
    from django.db.models import Max

    from segments.models import Membership
    from shop.counts.selectors import counted_days
    from shop.models import Customer, Interaction, InteractionKind

    latest = counted_days().aggregate(latest=Max("last_interaction_at"))["latest"]
    if latest is None:
        return None, 0
    customers = Customer.objects.filter(is_stub=False)
    if segment_ids:
        customers = customers.filter(pk__in=Membership.objects.filter(segment_id__in=segment_ids).values("customer_id"))
    window = Interaction.objects.filter(
        kind=InteractionKind.PURCHASE, occurred_at__gt=latest - timedelta(days=days), occurred_at__lte=latest
    )
    counts = customers.aggregate(members=Count("pk"), buyers=Count("pk", filter=Q(pk__in=window.values("customer_id"))))
    members, buyers = counts["members"], counts["buyers"]
    if not members:
        return None, 0
    return buyers / members, members


def campaign_power_inputs(campaign: Campaign) -> tuple[int, float, float] | None:
    """(audience, holdout share, baseline rate) of `campaign_power`, or None (the part that reads the data)."""
    segment_ids = list(campaign.included_segments.values_list("pk", flat=True)) if campaign.pk else []
    baseline, members = segments_purchase_rate(segment_ids=segment_ids, days=campaign.attribution_window_days)
    audience = (campaign.estimate or {}).get("eligible")
    if audience is None:
        audience = members
    if baseline is None or not audience:
        return None
    return int(audience), float(campaign.holdout_share), baseline


def estimate_power(inputs: tuple[int, float, float] | list | None) -> dict[str, Any] | None:
    """`campaign_power` from its inputs (worded in the current language)."""
    return None if inputs is None else _power(int(inputs[0]), float(inputs[1]), float(inputs[2]), basis="estimate")


def campaign_power(campaign: Campaign) -> dict[str, Any] | None:
    """Before launch: the minimum detectable uplift from the estimated audience, the holdout share and the
    included segments' recent purchase rate over the attribution window, with the plain sentence.

    Audience: the campaign's stored estimate (eligible customers) when there is one, else the members of
    its included segments. None when there is no audience or no purchase history to take a baseline from.
    """
    return estimate_power(campaign_power_inputs(campaign))


def report_power(report: dict[str, Any]) -> dict[str, Any] | None:
    """After the fact: what the campaign as sent could detect (its recipients, its control share, the control
    group's conversion rate as the baseline), shown beside the result so a null result is read rightly."""
    control = report["control"]
    treated = sum(v["recipients"] for v in report["variants"])
    audience = control["recipients"] + treated
    if not audience or control["conversion_rate"] is None:
        return None
    return _power(audience, control["recipients"] / audience, control["conversion_rate"], basis="result")
