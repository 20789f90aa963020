"""Email to a real SMTP server on loopback (aiosmtpd, started here): the MIME messages read back have the
unsubscribe headers, both parts, each recipient's own products, and links that work."""

import email
import re
import socket
from email import policy
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from django.test import Client

from marketing import delivery, services
from marketing.models import Campaign, Recipient
from shop.models import Customer
from tests.marketing.campaign_helpers import (  # noqa: F401
    active_segment,
    campaign_for,
    customers,
    fresh_serving,
    popular_products,
)

pytestmark = pytest.mark.django_db


class Collector:
    """Keeps every message; refuses mail for addresses starting with "refused"."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp(settings):
    handler = Collector()
    with socket.socket() as probe:  # a free port on loopback (the controller checks it is up by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    settings.MARKETING_BASE_URL = "http://testserver"
    yield handler
    controller.stop()


def _campaign(n: int) -> Campaign:
    popular_products(6)
    campaign = campaign_for(active_segment(customers(n)))
    campaign.recommendations_count = 3
    campaign.save()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    campaign.refresh_from_db()
    services.campaign_build_audience(campaign=campaign)
    return campaign


def test_messages_read_back_from_a_real_smtp_server(smtp):
    campaign = _campaign(4)
    summary = delivery.send_campaign_messages(campaign=campaign, batch_size=3)
    assert summary.sent == 4 and len(smtp.messages) == 4
    rows = {r.customer.email: r for r in campaign.recipients.select_related("customer")}
    client = Client()
    for rcpt_tos, raw in smtp.messages:
        message = email.message_from_bytes(raw, policy=policy.default)
        [to] = rcpt_tos
        row = rows[to]
        assert message["To"] == to
        assert message["Subject"] == row.subject
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = message["List-Unsubscribe"].strip().strip("<>")
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        assert text.replace("\r\n", "\n").strip() == row.body_text.strip()
        assert len(row.recommended_skus) == 3
        for sku in row.recommended_skus:
            assert f"Product {sku}" in html and f"Product {sku}" in text
        # Every product link goes through the click redirect to the product, carrying the recommendation id.
        links = re.findall(r'href="([^"]+/m/c/[^"]+)"', html)
        assert len(links) == 3
        for link in links:
            response = client.get(urlsplit(link).path)
            assert response.status_code == 302
            assert response["Location"].startswith("https://shop.example.com/products/P")
            assert f"rec={row.recommendation_id}" in response["Location"]
        row.refresh_from_db()
        assert row.status == Recipient.Status.SENT and row.clicked_at is not None
        # One-click unsubscribe from the header, as a mail provider does it.
        assert client.post(urlsplit(unsubscribe).path, {"List-Unsubscribe": "One-Click"}).status_code == 200
        assert Customer.objects.get(email=to).email_consent is False


def test_a_refused_address_fails_alone(smtp):
    campaign = _campaign(3)
    refused = campaign.recipients.select_related("customer").order_by("pk")[1]
    Customer.objects.filter(pk=refused.customer_id).update(email="refused@example.com")
    delivery.send_campaign_messages(campaign=campaign)
    assert len(smtp.messages) == 2
    refused.refresh_from_db()
    assert refused.status == Recipient.Status.FAILED and "550" in refused.last_error
    assert campaign.recipients.filter(status=Recipient.Status.SENT).count() == 2
