"""`manage.py list_campaigns [--json]`."""

import json

import pytest
from django.core.management import call_command

from marketing.models import Recipient
from tests.marketing.factories import CampaignFactory, ControlRecipientFactory, RecipientFactory

pytestmark = pytest.mark.django_db


def test_json_lists_every_campaign_with_recipients_and_sent(capsys, django_assert_num_queries):
    first = CampaignFactory(name="First", channel="email")
    second = CampaignFactory(name="Second", channel="sms", status="running")
    RecipientFactory.create_batch(3, campaign=first)
    RecipientFactory(campaign=first, status=Recipient.Status.PENDING)
    RecipientFactory(campaign=first, status=Recipient.Status.EXCLUDED, exclusion="no_consent")
    ControlRecipientFactory(campaign=first)
    with django_assert_num_queries(1):
        call_command("list_campaigns", "--json")
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {"id": second.pk, "name": "Second", "status": "running", "channel": "sms", "recipients": 0, "sent": 0},
        {"id": first.pk, "name": "First", "status": "draft", "channel": "email", "recipients": 5, "sent": 3},
    ]


def test_table_and_empty(capsys):
    call_command("list_campaigns")
    assert capsys.readouterr().out.strip() == "No campaigns."
    CampaignFactory(name="Only")
    call_command("list_campaigns")
    out = capsys.readouterr().out
    assert "Only" in out and "draft" in out
