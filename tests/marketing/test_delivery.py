"""Delivery: multipart email with unsubscribe headers, at most once per recipient even when interrupted."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.utils import timezone

from marketing import delivery, services
from marketing.models import Campaign, Recipient, Suppression
from marketing.tracking import read_unsubscribe_token
from tests.marketing.campaign_helpers import active_segment, campaign_for, customers, fresh_serving  # noqa: F401

pytestmark = pytest.mark.django_db
S = Recipient.Status


def _sending(n: int, **fields) -> Campaign:
    campaign = campaign_for(active_segment(customers(n)), **fields)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    campaign.refresh_from_db()
    services.campaign_build_audience(campaign=campaign)
    return campaign


def test_email_is_multipart_with_one_click_unsubscribe():
    campaign = _sending(1)
    delivery.send_campaign_messages(campaign=campaign)
    [message] = mail.outbox
    row = campaign.recipients.get()
    assert message.to == [row.customer.email]
    assert message.subject == row.subject
    assert message.body == row.body_text
    assert message.alternatives[0].content == row.body_html and message.alternatives[0].mimetype == "text/html"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message.extra_headers["List-Unsubscribe"].strip("<>")
    key = read_unsubscribe_token(url.rsplit("/", 1)[1])
    assert (key.campaign_id, key.customer_id) == (campaign.pk, row.customer_id)
    row.refresh_from_db()
    assert row.status == S.SENT and row.sent_at is not None and row.attempts == 1


def test_one_connection_per_batch(monkeypatch):
    opened = []
    original = EmailBackend.open

    def counting_open(self):
        opened.append(1)
        return original(self)

    monkeypatch.setattr(EmailBackend, "open", counting_open)
    campaign = _sending(7)
    delivery.send_campaign_messages(campaign=campaign, batch_size=3)
    assert len(mail.outbox) == 7
    assert len(opened) == 3


class Killed(BaseException):
    """The worker dying mid-send (not an Exception: nothing in the sender may catch it)."""


def _die_after(monkeypatch, messages: int):
    original = EmailBackend.send_messages
    sent = []

    def send(self, batch):
        if len(sent) >= messages:
            raise Killed
        sent.extend(batch)
        return original(self, batch)

    monkeypatch.setattr(EmailBackend, "send_messages", send)
    return lambda: monkeypatch.setattr(EmailBackend, "send_messages", original)


@pytest.mark.parametrize("killed_after", [0, 2, 4, 5, 9])
def test_interrupted_send_resumes_without_sending_anyone_twice(monkeypatch, settings, killed_after):
    campaign = _sending(10)
    restore = _die_after(monkeypatch, killed_after)
    with pytest.raises(Killed):
        delivery.send_campaign_messages(campaign=campaign, batch_size=3)
    restore()
    assert len(mail.outbox) == killed_after
    # A resume while the dead sender's lease runs leaves its batch alone...
    delivery.send_campaign_messages(campaign=campaign, batch_size=3)
    in_flight = set(campaign.recipients.filter(status=S.SENDING).values_list("pk", flat=True))
    # The dead sender's whole batch (the one it died in) is left in flight, the messages it sent included.
    assert len(in_flight) == min(3, 10 - 3 * (killed_after // 3))
    # ...and once it has passed, those rows are failed (they may have gone), never sent again.
    settings.MARKETING_SENDING_LEASE_SECONDS = 0
    summary = delivery.send_campaign_messages(campaign=campaign, batch_size=3)
    assert summary.interrupted == len(in_flight)
    addresses = Counter(to for message in mail.outbox for to in message.to)
    assert max(addresses.values()) == 1
    statuses = Counter(campaign.recipients.values_list("status", flat=True))
    assert statuses[S.SENT] + statuses[S.FAILED] == 10
    assert statuses[S.FAILED] == len(in_flight)
    assert set(campaign.recipients.filter(status=S.FAILED).values_list("pk", flat=True)) == in_flight
    # Every row marked sent did go out; nothing goes out on another run.
    sent_to = set(campaign.recipients.filter(status=S.SENT).values_list("customer__email", flat=True))
    assert sent_to <= set(addresses)
    delivery.send_campaign_messages(campaign=campaign)
    assert sum(addresses.values()) == len(mail.outbox)


def test_second_sender_finds_nothing_to_send():
    campaign = _sending(4)
    delivery.send_campaign_messages(campaign=campaign)
    delivery.send_campaign_messages(campaign=campaign)
    assert len(mail.outbox) == 4


def test_consent_withdrawn_or_suppressed_after_the_build_is_not_sent():
    campaign = _sending(3)
    first, second, third = campaign.recipients.select_related("customer").order_by("pk")
    first.customer.email_consent = False
    first.customer.save()
    Suppression.objects.create(address=second.customer.email.upper().lower())
    delivery.send_campaign_messages(campaign=campaign)
    assert [m.to for m in mail.outbox] == [[third.customer.email]]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.exclusion) == (S.EXCLUDED, Recipient.Exclusion.UNSUBSCRIBED)
    assert (second.status, second.exclusion) == (S.EXCLUDED, Recipient.Exclusion.SUPPRESSED)


def test_rate_limit_spaces_batches(monkeypatch):
    sleeps = []
    monkeypatch.setattr(delivery.time, "sleep", sleeps.append)
    campaign = _sending(6)
    delivery.send_campaign_messages(campaign=campaign, batch_size=2, rate=2.0)
    assert len(mail.outbox) == 6
    # 6 messages at 2 per second take about 3 s: the sender waited most of it.
    assert sum(sleeps) > 2.0


def test_paused_campaign_stops_after_the_batch():
    campaign = _sending(4)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    summary = delivery.send_campaign_messages(campaign=campaign)
    assert summary.stopped and mail.outbox == []


def test_stalled_sends_are_found_for_resumption(settings):
    campaign = _sending(1)
    Campaign.objects.filter(pk=campaign.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert services.stalled_sends() == [campaign.pk]


def test_webhook_body_is_signed():
    body = b'{"a":1}'
    signature = delivery.sign_body(body, "secret")
    import hashlib
    import hmac

    assert signature == "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()


def test_a_batch_of_only_withdrawn_customers_does_not_end_the_send():
    campaign = _sending(5)
    rows = list(campaign.recipients.select_related("customer").order_by("pk"))
    for row in rows[:2]:  # the whole first batch of two
        row.customer.email_consent = False
        row.customer.save()
    Suppression.objects.create(address=rows[3].customer.email)  # one in a later batch
    summary = delivery.send_campaign_messages(campaign=campaign, batch_size=2)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([rows[2].customer.email, rows[4].customer.email])
    assert summary.sent == 2
    statuses = dict(campaign.recipients.values_list("pk", "exclusion"))
    assert [statuses[r.pk] for r in rows] == ["unsubscribed", "unsubscribed", "", "suppressed", ""]
