"""Delivery: email through Django's email framework, SMS and push through a signed webhook; at most once each.

A sender claims a small batch of PENDING rows (PENDING -> SENDING with `claimed_at` and the attempt counted, in
its own transaction), sends them, and marks the ones that went SENT (and the ones refused FAILED) in another.
A sender killed in between leaves its batch SENDING: those rows may or may not have gone, so they are never sent
again — once their lease has passed they are marked FAILED ("interrupted"), and the resumed send carries on
with the PENDING rows. So a send interrupted at any point resumes without sending anyone twice, and a second
launch (or a re-delivered task) finds nothing PENDING to send.

Consent, suppression and an unsubscribe are checked again when a row is claimed: a customer who withdrew consent
after the audience was built is left out (UNSUBSCRIBED), whatever the audience said.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from marketing.conf import setting
from marketing.models import Campaign, Recipient, Suppression
from marketing.tracking import RecipientKey, RecipientLinks, tracking_base_url

logger = logging.getLogger(__name__)
S = Recipient.Status
MESSAGE_CHANNELS = (Campaign.Channel.EMAIL, Campaign.Channel.SMS, Campaign.Channel.PUSH)


@dataclass(frozen=True)
class Claimed:
    pk: int
    customer_id: int
    entry: int
    address: str
    external_id: str
    subject: str
    body_html: str
    body_text: str


@dataclass
class SendSummary:
    sent: int = 0
    failed: int = 0
    left_out: int = 0
    interrupted: int = 0
    stopped: bool = False  # paused or cancelled while sending


def _address_field(channel: str) -> str:
    if channel == Campaign.Channel.EMAIL:
        return "customer__email"
    attribute = setting(
        "MARKETING_PHONE_ATTRIBUTE" if channel == Campaign.Channel.SMS else "MARKETING_PUSH_TOKEN_ATTRIBUTE"
    )
    return f"customer__attributes__{attribute}"


def fail_interrupted(*, campaign: Campaign, now: datetime | None = None) -> int:
    """Rows left SENDING by a sender that died (lease passed): failed, never sent again (they may have gone)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=setting("MARKETING_SENDING_LEASE_SECONDS"))
    return Recipient.objects.filter(campaign=campaign, status=S.SENDING, claimed_at__lt=stale).update(
        status=S.FAILED, last_error="interrupted while sending; not sent again (delivery unknown, at most once)"
    )


def _suppressed(pending, channel: str):
    """The pending rows whose customer (or their address for the channel) is on the suppression list."""
    suppressions = Suppression.objects.filter(Q(channel="") | Q(channel=channel))
    q = Q(customer_id__in=suppressions.filter(customer__isnull=False).values("customer_id"))
    if channel == Campaign.Channel.EMAIL:
        pending = pending.annotate(email_lower=Lower("customer__email"))
        q |= Q(email_lower__in=suppressions.exclude(address="").values("address"))
    return pending.filter(q)


def claim_batch(*, campaign: Campaign, size: int, now: datetime | None = None) -> list[Claimed]:
    """Claim up to `size` PENDING rows for sending (PENDING -> SENDING), leaving out anyone who lost consent or
    was suppressed since the build. One short transaction per batch read.

    Consent and suppression are checked on the rows about to be claimed, not on every row still pending: each
    batch then costs the same at the end of a 100k send as at its start. Every pending row is checked when its
    turn comes, so nobody who withdrew is sent to."""
    now = now or timezone.now()
    channel = campaign.channel
    address_field = _address_field(channel)
    while True:
        with transaction.atomic():
            candidates = list(
                Recipient.objects.filter(campaign=campaign, status=S.PENDING)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", flat=True)[:size]
            )
            if not candidates:
                return []
            batch = Recipient.objects.filter(pk__in=candidates, status=S.PENDING)
            # Unsubscribed (or consent withdrawn any other way) since the build: never sent.
            batch.filter(**{f"customer__{channel}_consent": False}).update(
                status=S.EXCLUDED, exclusion=Recipient.Exclusion.UNSUBSCRIBED
            )
            Recipient.objects.filter(pk__in=_suppressed(batch, channel).values("pk")).update(
                status=S.EXCLUDED, exclusion=Recipient.Exclusion.SUPPRESSED
            )
            rows = list(
                batch.filter(**{f"customer__{channel}_consent": True})
                .order_by("pk")
                .values_list(
                    "pk",
                    "customer_id",
                    "entry",
                    address_field,
                    "customer__external_id",
                    "subject",
                    "body_html",
                    "body_text",
                )
            )
            if not rows:
                continue  # everyone in this batch was left out: on to the next rows
            ids = [r[0] for r in rows]
            claimed = Recipient.objects.filter(pk__in=ids, status=S.PENDING).update(
                status=S.SENDING, claimed_at=now, attempts=F("attempts") + 1
            )
            if claimed != len(ids):  # another sender took some between the read and the update (no row locks)
                ids_now = set(
                    Recipient.objects.filter(pk__in=ids, status=S.SENDING, claimed_at=now).values_list("pk", flat=True)
                )
                rows = [r for r in rows if r[0] in ids_now]
        return [Claimed(r[0], r[1], r[2], "" if r[3] is None else str(r[3]), *r[4:]) for r in rows]


def _mark(*, sent: list[int], failed: dict[int, str], now: datetime) -> None:
    with transaction.atomic():
        if sent:
            Recipient.objects.filter(pk__in=sent, status=S.SENDING).update(status=S.SENT, sent_at=now, last_error="")
        for pk, error in failed.items():
            Recipient.objects.filter(pk=pk, status=S.SENDING).update(status=S.FAILED, last_error=error[:500])


# --- Email -----------------------------------------------------------------------------------------------------


def email_message(
    *, campaign: Campaign, row: Claimed, connection=None, from_email: str | None = None, base_url: str | None = None
) -> EmailMultiAlternatives:
    """The multipart (text + HTML) message with List-Unsubscribe (one-click, RFC 8058) headers.

    `from_email` and `base_url` (MARKETING_FROM_EMAIL and MARKETING_BASE_URL by default) are read once per batch
    by the sender rather than once per message."""
    links = RecipientLinks(RecipientKey(campaign.pk, row.customer_id, row.entry), base=base_url)
    message = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body_text,
        from_email=from_email or setting("MARKETING_FROM_EMAIL"),
        to=[row.address],
        connection=connection,
        headers={
            "List-Unsubscribe": f"<{links.unsubscribe()}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Campaign-Id": str(campaign.pk),
        },
    )
    message.attach_alternative(row.body_html, "text/html")
    return message


def _send_email_batch(campaign: Campaign, rows: list[Claimed]) -> tuple[list[int], dict[int, str]]:
    """Send over one connection; every message's outcome is known (sent or refused) unless the process dies."""
    sent: list[int] = []
    failed: dict[int, str] = {}
    connection = get_connection(fail_silently=False)
    from_email, base_url = setting("MARKETING_FROM_EMAIL"), tracking_base_url()
    try:
        connection.open()
        for index, row in enumerate(rows):
            if not row.address:
                failed[row.pk] = "no e-mail address"
                continue
            # The message is handed to this batch's connection: it needs no connection of its own.
            message = email_message(campaign=campaign, row=row, from_email=from_email, base_url=base_url)
            try:
                count = connection.send_messages([message])
            except (OSError, ValueError) as exc:
                failed[row.pk] = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, OSError) and not _refused_recipient(exc):
                    # The connection itself broke: the rest of the batch was not attempted.
                    return sent, failed | _unattempted(rows[index + 1 :])
                continue
            if count:
                sent.append(row.pk)
            else:
                failed[row.pk] = "refused by the mail server"
    finally:
        with contextlib.suppress(OSError):
            connection.close()
    return sent, failed


def _refused_recipient(exc: Exception) -> bool:
    import smtplib

    return isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError | smtplib.SMTPSenderRefused)


class _Unattempted(str):
    """A row of a batch whose connection broke before its turn: back to PENDING, safe to send later."""


def _unattempted(rows: list[Claimed]) -> dict[int, str]:
    return {row.pk: _Unattempted("not attempted") for row in rows}


# --- Webhook (SMS and push) ----------------------------------------------------------------------------------------


def sign_body(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_payload(*, campaign: Campaign, row: Claimed) -> dict:
    return {
        "campaign": campaign.pk,
        "channel": campaign.channel,
        "recipient": row.pk,
        "customer": row.external_id,
        "to": row.address,
        "title": row.subject,
        "text": row.body_text,
    }


def post_webhook(*, payload: dict, idempotency_key: str, sleep: Callable[[float], None] = time.sleep) -> None:
    """POST the signed payload, retrying connection errors, 429 and 5xx with exponential backoff. Raises the last
    error when every attempt failed, or at once on another 4xx (retrying would not help)."""
    url, secret = setting("MARKETING_WEBHOOK_URL"), setting("MARKETING_WEBHOOK_SECRET")
    if not url or not secret:
        raise RuntimeError("MARKETING_WEBHOOK_URL and MARKETING_WEBHOOK_SECRET must be set to send SMS or push")
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Signature-SHA256": sign_body(body, secret),
        "Idempotency-Key": idempotency_key,
    }
    attempts = max(1, int(setting("MARKETING_WEBHOOK_ATTEMPTS")))
    backoff = float(setting("MARKETING_WEBHOOK_BACKOFF_SECONDS"))
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=setting("MARKETING_WEBHOOK_TIMEOUT_SECONDS")) as response:
                response.read()
                return
        except urllib.error.HTTPError as exc:
            if exc.code != 429 and exc.code < 500:
                raise
            error: Exception = exc
        except (urllib.error.URLError, OSError) as exc:
            error = exc
        if attempt + 1 < attempts:
            sleep(backoff * 2**attempt)
    raise error


def _send_webhook_batch(campaign: Campaign, rows: list[Claimed]) -> tuple[list[int], dict[int, str]]:
    sent: list[int] = []
    failed: dict[int, str] = {}
    for row in rows:
        if not row.address:
            failed[row.pk] = f"no {campaign.channel} address"
            continue
        try:
            post_webhook(payload=webhook_payload(campaign=campaign, row=row), idempotency_key=f"recipient-{row.pk}")
        except Exception as exc:  # noqa: BLE001 - one recipient's failure is recorded, the batch goes on
            failed[row.pk] = f"{type(exc).__name__}: {exc}"
            continue
        sent.append(row.pk)
    return sent, failed


# --- The send loop ---------------------------------------------------------------------------------------------


def send_campaign_messages(
    *,
    campaign: Campaign,
    batch_size: int | None = None,
    rate: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SendSummary:
    """Send every PENDING row of the campaign, batch by batch, while the campaign is SENDING.

    `rate` caps messages per second (MARKETING_SEND_RATE; 0: no cap). Stops after the current batch when the
    campaign is paused or cancelled meanwhile.
    """
    if campaign.channel not in MESSAGE_CHANNELS:
        raise ValueError(f"{campaign.channel} campaigns are not sent")
    size = batch_size or int(setting("MARKETING_SEND_BATCH"))
    rate = float(setting("MARKETING_SEND_RATE") if rate is None else rate)
    send_batch = _send_email_batch if campaign.channel == Campaign.Channel.EMAIL else _send_webhook_batch
    summary = SendSummary(interrupted=fail_interrupted(campaign=campaign))
    started = time.monotonic()
    done = 0
    while True:
        status, trigger = Campaign.objects.filter(pk=campaign.pk).values_list("status", "trigger").first()
        # A triggered campaign sends its new entrants while it runs; a one-off campaign only while sending.
        if status != Campaign.Status.SENDING and not (trigger and status == Campaign.Status.RUNNING):
            summary.stopped = True
            break
        rows = claim_batch(campaign=campaign, size=size)
        if not rows:
            break
        sent, failed = send_batch(campaign, rows)
        unattempted = [pk for pk, error in failed.items() if isinstance(error, _Unattempted)]
        failed = {pk: error for pk, error in failed.items() if not isinstance(error, _Unattempted)}
        _mark(sent=sent, failed=failed, now=timezone.now())
        if unattempted:
            Recipient.objects.filter(pk__in=unattempted, status=S.SENDING).update(status=S.PENDING, claimed_at=None)
            logger.warning("campaign %s: connection lost; %d messages left pending", campaign.pk, len(unattempted))
            summary.stopped = True
            break
        summary.sent += len(sent)
        summary.failed += len(failed)
        done += len(rows)
        if progress:
            progress(done, summary.sent)
        if rate > 0:
            ahead = done / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    return summary
