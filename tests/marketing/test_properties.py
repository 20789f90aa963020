"""Property: whatever the segments, caps, suppressions and consent changes, nobody without consent for the
channel is ever sent a message, and nobody is sent one twice."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from marketing import delivery, services
from marketing.audience import build_audience
from marketing.models import Campaign, Recipient, Suppression
from shop.models import Customer
from tests.marketing.campaign_helpers import active_segment, campaign_for, fresh_serving  # noqa: F401

CHANNELS = ["email", "sms", "push"]

customer_strategy = st.fixed_dictionaries(
    {
        "email_consent": st.booleans(),
        "sms_consent": st.booleans(),
        "push_consent": st.booleans(),
        "has_phone": st.booleans(),
        "has_token": st.booleans(),
        "has_email": st.booleans(),
        "segments": st.sets(st.integers(0, 2), max_size=3),
        "recent_sends": st.integers(0, 4),
        "suppressed": st.booleans(),
        "withdraws_before_send": st.booleans(),
    }
)


@pytest.mark.django_db
@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=st.lists(customer_strategy, min_size=1, max_size=12),
    channel=st.sampled_from(CHANNELS),
    included=st.sets(st.integers(0, 2), min_size=1, max_size=3),
    excluded=st.sets(st.integers(0, 2), max_size=2),
    holdout=st.sampled_from([0.0, 0.1, 0.5]),
    cap=st.integers(1, 4),
)
def test_no_message_without_consent(settings, monkeypatch, people, channel, included, excluded, holdout, cap):
    settings.MARKETING_FREQUENCY_CAP = cap
    settings.MARKETING_QUIET_HOURS = ""
    settings.MARKETING_WEBHOOK_URL = "http://127.0.0.1:9/unused"
    settings.MARKETING_WEBHOOK_SECRET = "s"
    posted: list[dict] = []
    monkeypatch.setattr(delivery, "post_webhook", lambda *, payload, idempotency_key: posted.append(payload))
    mail.outbox = []
    with transaction.atomic():
        customers = []
        for i, spec in enumerate(people):
            attributes = {}
            if spec["has_phone"]:
                attributes["phone"] = f"+44{i:06d}"
            if spec["has_token"]:
                attributes["push_token"] = f"tok{i}"
            customers.append(
                Customer.objects.create(
                    external_id=f"p{i}",
                    email=f"p{i}@example.com" if spec["has_email"] else "",
                    email_consent=spec["email_consent"],
                    sms_consent=spec["sms_consent"],
                    push_consent=spec["push_consent"],
                    attributes=attributes,
                )
            )
        segments = [
            active_segment([c for c, spec in zip(customers, people, strict=True) if k in spec["segments"]], key=f"s{k}")
            for k in range(3)
        ]
        earlier = campaign_for(segments[0], name="Earlier", channel=channel)
        for customer, spec in zip(customers, people, strict=True):
            for n in range(spec["recent_sends"]):
                Recipient.objects.create(
                    campaign=earlier,
                    customer=customer,
                    entry=n + 1,
                    status="sent",
                    sent_at=timezone.now() - timedelta(days=1),
                )
            if spec["suppressed"]:
                Suppression.objects.create(customer=customer, channel=channel)
        campaign = campaign_for(segments[min(included)], name="Now", channel=channel, holdout=holdout)
        campaign.included_segments.set([segments[k] for k in included])
        campaign.excluded_segments.set([segments[k] for k in excluded])
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
        campaign.refresh_from_db()
        build_audience(campaign=campaign)
        # Some withdraw consent between the build and the send (an unsubscribe from another message).
        for customer, spec in zip(customers, people, strict=True):
            if spec["withdraws_before_send"]:
                Customer.objects.filter(pk=customer.pk).update(**{f"{channel}_consent": False})
        services.campaign_deliver(campaign_id=campaign.pk)

        reached = [to for m in mail.outbox for to in m.to] if channel == "email" else [p["to"] for p in posted]
        allowed = {
            (c.email if channel == "email" else c.attributes.get("phone" if channel == "sms" else "push_token"))
            for c, spec in zip(customers, people, strict=True)
            if spec[f"{channel}_consent"] and not spec["withdraws_before_send"]
        }
        assert set(reached) <= allowed
        assert len(reached) == len(set(reached))
        sent_rows = Recipient.objects.filter(campaign=campaign, status="sent")
        assert sent_rows.count() == len(reached)
        assert not sent_rows.filter(**{f"customer__{channel}_consent": False}).exists()
        assert not sent_rows.filter(is_control=True).exists()
        transaction.set_rollback(True)
