"""Campaign lifecycle: create and edit, schedule, launch, pause, resume, cancel, complete.

Every status change follows LEGAL_TRANSITIONS (an illegal one is refused with a ValidationError naming both
statuses), happens on the locked campaign row, and writes a CampaignAction with the acting user. Work that takes
time (building the audience, sending) is queued to Celery after the transaction commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from marketing.audience import MAX_VARIANTS, estimate_audience, parse_audience_rule
from marketing.models import LEGAL_TRANSITIONS, Campaign, CampaignAction, Suppression, Variant
from marketing.rendering import offer_context, validate_content
from marketing.report_summaries import campaign_summary_refresh
from shop.importers.common import ImportReport, read_delimited_bytes
from shop.models import Customer

S = Campaign.Status
MESSAGE_CHANNELS = frozenset({Campaign.Channel.EMAIL, Campaign.Channel.SMS, Campaign.Channel.PUSH})
CAMPAIGN_FIELDS = frozenset(
    {
        "name",
        "objective",
        "channel",
        "audience_rule",
        "send_at",
        "starts_at",
        "ends_at",
        "holdout_share",
        "offer",
        "recommendations_count",
        "attribution_window_days",
        "frequency_cap",
        "adaptive",
        "wave_share",
        "wave_interval_hours",
        "trigger",
        "trigger_parameters",
        "cooldown_days",
        "uplift_model",
        "uplift_target_share",
    }
)
VARIANT_FIELDS = ("name", "split_share", "subject", "html_template", "text_template", "position")


# --- Validation ---------------------------------------------------------------------------------------------------


def validate_variant_content(*, variant: Variant, campaign: Campaign) -> None:
    """Templates that parse and render against every placeholder; errors name the field, line and problem."""
    validate_content(
        subject=variant.subject,
        html_template=variant.html_template,
        text_template=variant.text_template,
        offer=offer_context(campaign.offer),
        products=campaign.recommendations_count,
    )


def validate_variants(*, campaign: Campaign, variants: list[Variant]) -> None:
    if not variants:
        raise ValidationError({"variants": gettext("A campaign needs at least one content variant.")})
    if len(variants) > MAX_VARIANTS:
        raise ValidationError(
            {
                "variants": gettext("At most %(max)d variants; this campaign has %(n)d.")
                % {"max": MAX_VARIANTS, "n": len(variants)}
            }
        )
    if sum(v.split_share for v in variants) <= 0:
        raise ValidationError(
            {"variants": gettext("The variants' split shares add up to 0: give at least one a share.")}
        )
    errors: dict[str, list[str]] = {}
    for variant in variants:
        try:
            validate_variant_content(variant=variant, campaign=campaign)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(f"variant {variant.name}: {m}" for m in messages)
    if errors:
        raise ValidationError(errors)


def validate_campaign_ready(*, campaign: Campaign) -> None:
    """What must hold before a campaign may be scheduled or launched, every problem named."""
    errors: dict[str, str] = {}
    if not campaign.is_triggered and not campaign.included_segments.exists():
        errors["included_segments"] = "Choose at least one segment to include."
    inactive = [
        s.name
        for s in campaign.included_segments.all().select_related("run__definition")
        if s.run.definition.active_run_id != s.run_id
    ]
    if inactive:
        errors["included_segments"] = (
            f"Not in an active segmentation (a newer run replaced it): {', '.join(sorted(inactive))}."
        )
    if campaign.channel == Campaign.Channel.ONSITE and not (campaign.starts_at and campaign.ends_at):
        errors["starts_at"] = "An on-site campaign needs a start and an end."
    if campaign.channel in (Campaign.Channel.SMS, Campaign.Channel.PUSH):
        from marketing.conf import setting

        if not setting("MARKETING_WEBHOOK_URL") or not setting("MARKETING_WEBHOOK_SECRET"):
            errors["channel"] = "SMS and push need MARKETING_WEBHOOK_URL and MARKETING_WEBHOOK_SECRET in the settings."
    if errors:
        raise ValidationError(errors)
    parse_audience_rule(campaign.audience_rule)
    variants = list(campaign.variants.all())
    validate_variants(campaign=campaign, variants=variants)
    from marketing.waves import validate_adaptive

    validate_adaptive(campaign=campaign, variants=variants)


# --- Create and edit ----------------------------------------------------------------------------------------------


def _apply(campaign: Campaign, data: Mapping[str, Any]) -> None:
    unknown = set(data) - CAMPAIGN_FIELDS - {"included_segments", "excluded_segments"}
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "Not a campaign field."))
    for name, value in data.items():
        if name in CAMPAIGN_FIELDS:
            setattr(campaign, name, value)


@transaction.atomic
def campaign_create(
    *,
    user=None,
    variants: Iterable[Mapping[str, Any]] = (),
    **data: Any,
) -> Campaign:
    """A draft campaign with its segments and variants (one default variant when none is given)."""
    campaign = Campaign(created_by=user if user and user.pk else None)
    _apply(campaign, data)
    parse_audience_rule(campaign.audience_rule)
    campaign.full_clean()
    campaign.save()
    if "included_segments" in data:
        campaign.included_segments.set(data["included_segments"])
    if "excluded_segments" in data:
        campaign.excluded_segments.set(data["excluded_segments"])
    rows = [Variant(campaign=campaign, **{k: v for k, v in spec.items() if k in VARIANT_FIELDS}) for spec in variants]
    if not rows:
        rows = [Variant(campaign=campaign, name="A")]
    for position, variant in enumerate(rows):
        variant.position = variant.position or position
        variant.full_clean()
    validate_variants(campaign=campaign, variants=rows)
    Variant.objects.bulk_create(rows)
    CampaignAction.objects.create(campaign=campaign, action="create", to_status=campaign.status, user=_user(user))
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, user=None, **data: Any) -> Campaign:
    """Edit a draft or scheduled campaign (a scheduled one goes back to draft: it must be scheduled again)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (S.DRAFT, S.SCHEDULED):
        raise ValidationError(
            gettext("Campaign %(name)r is %(status)s: only a draft can be edited.")
            % {"name": campaign.name, "status": campaign.get_status_display()}
        )
    _apply(campaign, data)
    parse_audience_rule(campaign.audience_rule)
    campaign.full_clean()
    was = campaign.status
    if was == S.SCHEDULED:
        campaign.status = S.DRAFT
    campaign.save()
    if "included_segments" in data:
        campaign.included_segments.set(data["included_segments"])
    if "excluded_segments" in data:
        campaign.excluded_segments.set(data["excluded_segments"])
    validate_variants(campaign=campaign, variants=list(campaign.variants.all()))
    CampaignAction.objects.create(
        campaign=campaign, action="edit", from_status=was, to_status=campaign.status, user=_user(user)
    )
    return campaign


@transaction.atomic
def variant_save(*, variant: Variant, user=None) -> Variant:
    """Save a variant after checking its templates (and the campaign's variant count)."""
    campaign = Campaign.objects.select_for_update().get(pk=variant.campaign_id)
    if campaign.status not in (S.DRAFT, S.SCHEDULED):
        raise ValidationError(
            gettext("Campaign %(name)r is %(status)s: its content can no longer change.")
            % {"name": campaign.name, "status": campaign.get_status_display()}
        )
    variant.full_clean()
    others = list(campaign.variants.exclude(pk=variant.pk))
    validate_variants(campaign=campaign, variants=[*others, variant])
    variant.save()
    return variant


def campaign_estimate(*, campaign: Campaign, now: datetime | None = None) -> dict:
    """Estimate the audience (counts in the database) and store it on the campaign for the editor."""
    estimate = estimate_audience(campaign=campaign, now=now)
    Campaign.objects.filter(pk=campaign.pk).update(estimate=estimate)
    campaign.estimate = estimate
    return estimate


# --- Status changes ----------------------------------------------------------------------------------------------


def _user(user):
    return user if user is not None and getattr(user, "pk", None) else None


def _transition(campaign: Campaign, to: str, *, user, action: str, note: str = "", **fields: Any) -> Campaign:
    """Move the (locked) campaign to `to` if legal, with an audit row; ValidationError naming from and to."""
    if to not in LEGAL_TRANSITIONS[campaign.status]:
        allowed = ", ".join(sorted(LEGAL_TRANSITIONS[campaign.status])) or "nothing (it is final)"
        raise ValidationError(
            gettext("Campaign %(name)r cannot go from %(status)s to %(to)s (from %(status)s: %(allowed)s).")
            % {"name": campaign.name, "status": campaign.status, "to": to, "allowed": allowed}
        )
    was = campaign.status
    campaign.status = to
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.save(update_fields=["status", "updated_at", *fields])
    CampaignAction.objects.create(
        campaign=campaign, action=action, from_status=was, to_status=to, user=_user(user), note=note[:500]
    )
    return campaign


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def _queue(task_name: str, campaign_id: int) -> None:
    from marketing import tasks

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(campaign_id))


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, user=None, send_at: datetime | None = None) -> Campaign:
    """Draft -> scheduled, after checking segments, rule and templates. It launches at `send_at` (beat)."""
    campaign = _locked(campaign)
    if send_at is not None:
        campaign.send_at = send_at
    validate_campaign_ready(campaign=campaign)
    return _transition(campaign, S.SCHEDULED, user=user, action="schedule", send_at=campaign.send_at)


@transaction.atomic
def campaign_unschedule(*, campaign: Campaign, user=None) -> Campaign:
    return _transition(_locked(campaign), S.DRAFT, user=user, action="unschedule")


@transaction.atomic
def campaign_launch(*, campaign: Campaign, user=None, now: datetime | None = None) -> Campaign:
    """Start the campaign now: message channels go to sending (audience built, then sent by a task), on-site and
    triggered campaigns to running. A campaign already launched is left as it is (a second launch does nothing)."""
    now = now or timezone.now()
    campaign = _locked(campaign)
    if campaign.launched_at is not None and campaign.status in (S.SENDING, S.RUNNING, S.PAUSED, S.COMPLETED):
        return campaign
    if campaign.status == S.DRAFT:
        validate_campaign_ready(campaign=campaign)
        _transition(campaign, S.SCHEDULED, user=user, action="schedule")
    elif campaign.status == S.SCHEDULED:
        validate_campaign_ready(campaign=campaign)
    if campaign.channel in MESSAGE_CHANNELS and not campaign.is_triggered:
        _transition(campaign, S.SENDING, user=user, action="launch", launched_at=now, progress=0, stage="queued")
        _queue("build_and_send_campaign", campaign.pk)
    else:
        _transition(campaign, S.RUNNING, user=user, action="launch", launched_at=now)
    return campaign


@transaction.atomic
def campaign_pause(*, campaign: Campaign, user=None) -> Campaign:
    """Stop sending (the sender stops after its current batch) or stop showing / triggering."""
    return _transition(_locked(campaign), S.PAUSED, user=user, action="pause")


@transaction.atomic
def campaign_resume(*, campaign: Campaign, user=None) -> Campaign:
    """Paused -> sending when messages are left to send, else running."""
    campaign = _locked(campaign)
    if campaign.status != S.PAUSED:
        raise ValidationError(
            gettext("Campaign %(name)r cannot go from %(status)s to resumed: not paused.")
            % {"name": campaign.name, "status": campaign.status}
        )
    unsent = campaign.recipients.filter(status__in=["pending", "waiting"]).exists()
    unsent = unsent or not campaign.audience_counts.get("built_at")
    if campaign.channel in MESSAGE_CHANNELS and not campaign.is_triggered and unsent:
        _transition(campaign, S.SENDING, user=user, action="resume")
        _queue("build_and_send_campaign", campaign.pk)
    else:
        _transition(campaign, S.RUNNING, user=user, action="resume")
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, user=None, reason: str = "") -> Campaign:
    """Cancel: nothing more is sent; rows already sent stay for measurement."""
    return _transition(_locked(campaign), S.CANCELLED, user=user, action="cancel", note=reason)


@transaction.atomic
def campaign_complete(*, campaign: Campaign, user=None, now: datetime | None = None) -> Campaign:
    """Running -> completed (its attribution window is over); its report figures are worked out once more, after
    the commit (no lock held while they are read)."""
    campaign = _transition(
        _locked(campaign), S.COMPLETED, user=user, action="complete", completed_at=now or timezone.now()
    )
    transaction.on_commit(lambda: campaign_summary_refresh(campaign=campaign))
    return campaign


# --- Suppression list --------------------------------------------------------------------------------------------


# A phone number as people write one: digits with spaces, dots, dashes or brackets, an optional leading +.
_PHONE = re.compile(r"\+?(?=(?:\D*\d){6,15}\D*$)[\d ().-]+")


def _normalised_address(address: str) -> str:
    return address.strip().lower()


@transaction.atomic
def suppression_add(
    *, address: str = "", customer: Customer | None = None, channel: str = "", reason: str = ""
) -> Suppression:
    suppression = Suppression(
        customer=customer, address=_normalised_address(address), channel=channel, reason=reason[:200]
    )
    suppression.full_clean()
    suppression.save()
    return suppression


def suppressions_import_csv(*, data: bytes | str, channel: str = "", reason: str = "") -> dict:
    """Add a CSV of addresses or customer ids to the suppression list.

    Columns (header row): `email`, `address`, `phone` or `external_id` (at least one), optional `channel` and
    `reason`. An `email` must be an e-mail address, a `phone` a phone number, an `address` either. Rows already
    on the list are skipped; a bad row is reported with its line number and never stops the others, and the
    file is read by the importers' rules (an unterminated quote is a bad line, not the end of the file).
    Returns {"added": n, "skipped": n, "errors": ["line 3: ..."]}.
    """
    raw = data.encode() if isinstance(data, str) else data
    report = ImportReport(kind="suppressions", source="upload")
    table = read_delimited_bytes(raw, name=gettext("The uploaded list"), report=report)
    columns = {column.strip().lower() for column in table.columns}
    if not columns & {"email", "address", "phone", "external_id"}:
        raise ValidationError(gettext("The CSV needs a header with an email, address, phone or external_id column."))
    channels = {c.value for c in Campaign.Channel} | {""}
    rows, errors = [], []
    for reason_code, lines in report.skipped_lines.items():
        errors.extend(f"line {line}: {reason_code.replace('_', ' ')}" for line in lines)
        if report.skipped[reason_code] > len(lines):
            errors.append(f"{report.skipped[reason_code] - len(lines):,} more lines: {reason_code.replace('_', ' ')}")
    wanted_ids: set[str] = set()
    parsed = []
    for line, raw_row in zip(table.lines.tolist(), table.frame.to_dict("records"), strict=True):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw_row.items()}
        email, phone = _normalised_address(row.get("email", "")), row.get("phone", "")
        address = email or _normalised_address(row.get("address", "")) or phone
        external_id = row.get("external_id", "")
        row_channel = (row.get("channel") or channel).lower()
        if row_channel not in channels:
            errors.append(f"line {line}: unknown channel {row_channel!r}")
            continue
        if not address and not external_id:
            errors.append(f"line {line}: no email, address, phone or external_id")
            continue
        if email or "@" in address:
            try:
                validate_email(address)
            except ValidationError:
                errors.append(f"line {line}: {address!r} is not an e-mail address")
                continue
        elif address and not _PHONE.fullmatch(address):
            errors.append(f"line {line}: {address!r} is neither an e-mail address nor a phone number")
            continue
        wanted_ids.add(external_id) if external_id else None
        parsed.append((line, address, external_id, row_channel, row.get("reason") or reason))
    customers = dict(Customer.objects.filter(external_id__in=wanted_ids).values_list("external_id", "pk"))
    existing = set(Suppression.objects.values_list("address", "customer_id", "channel"))
    skipped = 0
    for line, address, external_id, row_channel, row_reason in parsed:
        customer_id = customers.get(external_id) if external_id else None
        if external_id and customer_id is None and not address:
            errors.append(f"line {line}: no customer {external_id!r}")
            continue
        key = (address, customer_id, row_channel)
        if key in existing:
            skipped += 1
            continue
        existing.add(key)
        rows.append(Suppression(address=address, customer_id=customer_id, channel=row_channel, reason=row_reason[:200]))
    Suppression.objects.bulk_create(rows, batch_size=1000)
    return {"added": len(rows), "skipped": skipped, "errors": errors}


# --- Delivery (run by tasks) --------------------------------------------------------------------------------------


def _progress_writer(campaign_id: int):
    def write(percent: int, stage: str) -> None:
        Campaign.objects.filter(pk=campaign_id).update(
            progress=max(0, min(100, percent)), stage=stage[:100], updated_at=timezone.now()
        )

    return write


def campaign_build_audience(*, campaign: Campaign, now: datetime | None = None) -> dict:
    """Build the recipient rows (left out with reasons, control, treated with their messages) and store the
    counts on the campaign. Only before anything was sent."""
    from marketing.audience import build_audience

    result = build_audience(campaign=campaign, now=now, progress=_progress_writer(campaign.pk))
    Campaign.objects.filter(pk=campaign.pk).update(
        audience_counts=result.counts, progress=100, stage="audience built", updated_at=timezone.now()
    )
    campaign.audience_counts = result.counts
    return result.counts


def campaign_deliver(*, campaign_id: int) -> dict:
    """Build the audience of a SENDING campaign if not built yet, send what is pending, and move the campaign to
    running once nothing is left to send. Safe to run again at any point: it resumes (see marketing.delivery)."""
    from marketing.delivery import send_campaign_messages

    campaign = Campaign.objects.select_related("offer").get(pk=campaign_id)
    if campaign.status != S.SENDING:
        return {"status": campaign.status, "sent": 0}
    try:
        if not campaign.audience_counts.get("built_at"):
            campaign_build_audience(campaign=campaign)
        treated = max(int(campaign.audience_counts.get("treated", 0)), 1)
        already = campaign.recipients.filter(status="sent").count()
        write = _progress_writer(campaign.pk)

        def progress(done: int, sent: int) -> None:
            write(int(100 * min(already + sent, treated) / treated), f"sent {already + sent:,} of {treated:,}")

        write(int(100 * already / treated), "sending")
        summary = send_campaign_messages(campaign=campaign, progress=progress)
    except Exception as exc:
        Campaign.objects.filter(pk=campaign.pk).update(error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    # An adaptive send stays sending until its last wave has gone (marketing.waves releases them).
    left = campaign.recipients.filter(status__in=["pending", "sending", "waiting"]).exists()
    if not summary.stopped and not left:
        with transaction.atomic():
            locked = _locked(campaign)
            if locked.status == S.SENDING:
                _transition(locked, S.RUNNING, user=None, action="sent", progress=100, stage="sent")
    return {"status": campaign.status, "sent": summary.sent, "failed": summary.failed, "left_out": summary.left_out}


def launch_due_campaigns(*, now: datetime | None = None) -> list[int]:
    """Launch scheduled campaigns whose send time (or on-site start) has come. Returns their ids."""
    now = now or timezone.now()
    due = Campaign.objects.filter(status=S.SCHEDULED).filter(
        (Q(send_at__lte=now) & ~Q(channel=Campaign.Channel.ONSITE))
        | Q(channel=Campaign.Channel.ONSITE, starts_at__lte=now)
        | Q(send_at__isnull=True, starts_at__isnull=True)
    )
    launched = []
    for campaign in due:
        try:
            campaign_launch(campaign=campaign, user=None, now=now)
        except ValidationError as exc:
            Campaign.objects.filter(pk=campaign.pk).update(error="; ".join(exc.messages)[:2000])
            continue
        launched.append(campaign.pk)
    return launched


def stalled_sends(*, now: datetime | None = None) -> list[int]:
    """Campaigns left SENDING with no progress for a lease (their worker died): to be resumed."""
    from marketing.conf import setting

    now = now or timezone.now()
    stale = now - timedelta(seconds=setting("MARKETING_SENDING_LEASE_SECONDS"))
    return list(Campaign.objects.filter(status=S.SENDING, updated_at__lt=stale).values_list("pk", flat=True))


def complete_finished_campaigns(*, now: datetime | None = None) -> list[int]:
    """Complete running campaigns whose attribution window has closed (after the send, or the on-site end)."""
    from marketing.waves import measuring_since

    now = now or timezone.now()
    done = []
    for campaign in Campaign.objects.filter(status=S.RUNNING):
        start = (
            campaign.ends_at
            if (campaign.channel == Campaign.Channel.ONSITE or campaign.is_triggered)
            else (measuring_since(campaign) or campaign.launched_at)
        )
        if start is None or start + timedelta(days=campaign.attribution_window_days) > now:
            continue
        campaign_complete(campaign=campaign, user=None, now=now)
        done.append(campaign.pk)
    return done
