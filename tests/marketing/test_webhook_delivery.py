"""SMS and push through a signed webhook, against a local HTTP server that fails the first attempts."""

import hashlib
import hmac
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from marketing import delivery, services
from marketing.models import Campaign, Recipient
from tests.marketing.campaign_helpers import active_segment, campaign_for, customers, fresh_serving  # noqa: F401

pytestmark = pytest.mark.django_db
SECRET = "webhook-secret"


class Gateway(ThreadingHTTPServer):
    """Fails each message's first `failures` attempts with 503; answers 400 for numbers ending in 99."""

    def __init__(self, failures: int):
        super().__init__(("127.0.0.1", 0), Handler)
        self.failures = failures
        self.attempts: Counter = Counter()
        self.accepted: list[dict] = []
        self.bad_signatures = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        server: Gateway = self.server
        if not hmac.compare_digest(expected, self.headers.get("X-Signature-SHA256", "")):
            server.bad_signatures += 1
            self.send_response(401)
            self.end_headers()
            return
        key = self.headers["Idempotency-Key"]
        server.attempts[key] += 1
        payload = json.loads(body)
        if payload["to"].endswith("99"):
            self.send_response(400)
        elif server.attempts[key] <= server.failures:
            self.send_response(503)
        else:
            server.accepted.append(payload)
            self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(settings):
    server = Gateway(failures=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.MARKETING_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/send"
    settings.MARKETING_WEBHOOK_SECRET = SECRET
    settings.MARKETING_WEBHOOK_BACKOFF_SECONDS = 0.01
    settings.MARKETING_QUIET_HOURS = ""
    yield server
    server.shutdown()
    server.server_close()


def test_sms_retried_with_backoff_until_accepted(gateway):
    people = customers(3)
    for i, person in enumerate(people):
        person.attributes = {"phone": f"+4470000000{i}"}
        person.save()
    people[2].attributes = {"phone": "+447000000099"}  # the gateway rejects this one for good
    people[2].save()
    campaign = campaign_for(active_segment(people), channel=Campaign.Channel.SMS)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    campaign.refresh_from_db()
    services.campaign_build_audience(campaign=campaign)
    summary = delivery.send_campaign_messages(campaign=campaign)
    assert (summary.sent, summary.failed) == (2, 1)
    assert gateway.bad_signatures == 0
    assert sorted(p["to"] for p in gateway.accepted) == ["+44700000000", "+44700000001"]
    ok = [k for k, n in gateway.attempts.items() if n == 3]
    assert len(ok) == 2  # two 503s, then accepted
    assert list(gateway.attempts.values()).count(1) == 1  # the 400 is not retried
    accepted = gateway.accepted[0]
    row = Recipient.objects.get(pk=accepted["recipient"])
    assert accepted["text"] == row.body_text and accepted["customer"] == row.customer.external_id
    assert row.status == Recipient.Status.SENT
    rejected = Recipient.objects.get(customer=people[2], campaign=campaign)
    assert rejected.status == Recipient.Status.FAILED and "400" in rejected.last_error
    # Nothing is posted again on a second run.
    delivery.send_campaign_messages(campaign=campaign)
    assert len(gateway.accepted) == 2


def test_backoff_doubles_and_gives_up_after_the_attempts(gateway, settings):
    settings.MARKETING_WEBHOOK_ATTEMPTS = 2
    settings.MARKETING_WEBHOOK_BACKOFF_SECONDS = 0.5
    sleeps: list[float] = []
    with pytest.raises(Exception, match="503"):
        delivery.post_webhook(payload={"to": "+1"}, idempotency_key="k1", sleep=sleeps.append)
    assert sleeps == [0.5]
    settings.MARKETING_WEBHOOK_ATTEMPTS = 4
    sleeps.clear()
    delivery.post_webhook(payload={"to": "+1"}, idempotency_key="k2", sleep=sleeps.append)
    assert sleeps == [0.5, 1.0]


def test_unreachable_gateway_fails_after_retries(settings):
    settings.MARKETING_WEBHOOK_URL = "http://127.0.0.1:9/closed"
    settings.MARKETING_WEBHOOK_SECRET = SECRET
    settings.MARKETING_WEBHOOK_ATTEMPTS = 3
    sleeps: list[float] = []
    with pytest.raises(OSError):
        delivery.post_webhook(payload={}, idempotency_key="k", sleep=sleeps.append)
    assert len(sleeps) == 2
