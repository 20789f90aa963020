"""Campaign lifecycle: only legal status changes, each with an audit row naming the user."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError

from marketing import services
from marketing.models import LEGAL_TRANSITIONS, Campaign, CampaignAction, Recipient, Suppression
from tests.marketing.campaign_helpers import active_segment, campaign_for, customers

pytestmark = pytest.mark.django_db
S = Campaign.Status


@pytest.fixture
def user():
    return get_user_model().objects.create_user("marketer", password="x")


@pytest.fixture
def campaign():
    return campaign_for(active_segment(customers(5)))


def test_launch_builds_sends_and_records_who_did_it(campaign, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_launch(campaign=campaign, user=user)
    campaign.refresh_from_db()
    assert campaign.status == S.RUNNING
    assert len(mail.outbox) == 5
    actions = list(
        CampaignAction.objects.filter(campaign=campaign).order_by("id").values_list("action", "to_status", "user")
    )
    assert actions == [("schedule", "scheduled", user.pk), ("launch", "sending", user.pk), ("sent", "running", None)]
    assert campaign.recipients.filter(status=Recipient.Status.SENT).count() == 5


def test_second_launch_does_nothing(campaign, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_launch(campaign=campaign, user=user)
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_launch(campaign=campaign, user=user)
    assert len(mail.outbox) == 5
    assert CampaignAction.objects.filter(campaign=campaign, action="launch").count() == 1


@pytest.mark.parametrize("start", list(S))
@pytest.mark.parametrize("target", [S.SCHEDULED, S.PAUSED, S.CANCELLED, S.COMPLETED, S.DRAFT])
def test_only_legal_transitions(campaign, user, start, target):
    Campaign.objects.filter(pk=campaign.pk).update(status=start)
    campaign.refresh_from_db()
    action = {
        S.SCHEDULED: lambda: services.campaign_schedule(campaign=campaign, user=user),
        S.PAUSED: lambda: services.campaign_pause(campaign=campaign, user=user),
        S.CANCELLED: lambda: services.campaign_cancel(campaign=campaign, user=user),
        S.COMPLETED: lambda: services.campaign_complete(campaign=campaign, user=user),
        S.DRAFT: lambda: services.campaign_unschedule(campaign=campaign, user=user),
    }[target]
    if target in LEGAL_TRANSITIONS[start]:
        action()
        campaign.refresh_from_db()
        assert campaign.status == target
        assert CampaignAction.objects.get(campaign=campaign, to_status=target).user == user
    else:
        with pytest.raises(ValidationError) as caught:
            action()
        assert f"from {start} to {target}" in str(caught.value)
        campaign.refresh_from_db()
        assert campaign.status == start


def test_pause_then_resume_sends_the_rest(campaign, user, django_capture_on_commit_callbacks):
    Campaign.objects.filter(pk=campaign.pk).update(status=S.SENDING)
    campaign.refresh_from_db()
    services.campaign_build_audience(campaign=campaign)
    services.campaign_pause(campaign=campaign, user=user)
    services.campaign_deliver(campaign_id=campaign.pk)  # paused: sends nothing
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_resume(campaign=campaign, user=user)
    campaign.refresh_from_db()
    assert campaign.status == S.RUNNING
    assert len(mail.outbox) == 5


def test_cancelled_campaign_sends_nothing_more(campaign, user):
    Campaign.objects.filter(pk=campaign.pk).update(status=S.SENDING)
    services.campaign_build_audience(campaign=campaign)
    services.campaign_cancel(campaign=campaign, user=user, reason="wrong offer")
    services.campaign_deliver(campaign_id=campaign.pk)
    assert mail.outbox == []
    with pytest.raises(ValidationError, match="from cancelled to sending"):
        services.campaign_launch(campaign=campaign, user=user)


def test_schedule_refuses_a_broken_template_naming_the_line(campaign, user):
    variant = campaign.variants.get()
    variant.text_template = "Hello\n{{ customer.first_name }\n"
    variant.save()
    with pytest.raises(ValidationError) as caught:
        services.campaign_schedule(campaign=campaign, user=user)
    assert "text template, line 2" in str(caught.value)
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT


def test_schedule_needs_a_segment(user):
    campaign = Campaign.objects.create(name="Nobody")
    campaign.variants.create(name="A")
    with pytest.raises(ValidationError, match="at least one segment"):
        services.campaign_schedule(campaign=campaign, user=user)


def test_create_validates_rule_and_templates(user):
    segment = active_segment(customers(2))
    with pytest.raises(ValidationError, match="unknown field 'nope'"):
        services.campaign_create(
            user=user,
            name="Bad rule",
            included_segments=[segment],
            audience_rule={"field": "nope", "op": "=", "value": 1},
        )
    with pytest.raises(ValidationError, match="not allowed"):
        services.campaign_create(
            user=user,
            name="Unsafe",
            included_segments=[segment],
            variants=[{"name": "A", "subject": "{{ ''.__class__ }}"}],
        )
    campaign = services.campaign_create(
        user=user, name="Good", included_segments=[segment], variants=[{"name": "A"}, {"name": "B", "split_share": 0.5}]
    )
    assert campaign.variants.count() == 2
    assert campaign.created_by == user
    assert CampaignAction.objects.get(campaign=campaign).action == "create"


def test_edit_only_while_draft(campaign, user):
    services.campaign_update(campaign=campaign, user=user, holdout_share=0.2)
    campaign.refresh_from_db()
    assert campaign.holdout_share == 0.2
    Campaign.objects.filter(pk=campaign.pk).update(status=S.RUNNING)
    with pytest.raises(ValidationError, match="only a draft can be edited"):
        services.campaign_update(campaign=campaign, user=user, holdout_share=0.3)


# --- The suppression list's CSV upload ----------------------------------------------------------------------------


def test_suppression_upload_checks_each_column_for_what_it_holds():
    data = (
        "email,phone,address,reason\n"
        "A@Example.com,,,bounced\n"
        "not-an-email,,,typo\n"
        ",+49 30 1234-567,,asked\n"
        ",call me,,x\n"
        ",,b@example.org,asked\n"
        ",,12 High Street,x\n"
    )

    result = services.suppressions_import_csv(data=data, channel="email")

    assert result["added"] == 3
    assert result["errors"] == [
        "line 3: 'not-an-email' is not an e-mail address",
        "line 5: 'call me' is neither an e-mail address nor a phone number",
        "line 7: '12 high street' is neither an e-mail address nor a phone number",
    ]
    assert set(Suppression.objects.values_list("address", flat=True)) == {
        "a@example.com",
        "+49 30 1234-567",
        "b@example.org",
    }


def test_an_unterminated_quote_in_the_suppression_upload_is_one_bad_line_not_the_rest_of_the_file():
    data = 'email,reason\na@example.com,ok\n"b@example.com,broken quote\nc@example.com,ok\nd@example.com,ok\n'

    result = services.suppressions_import_csv(data=data.encode())

    assert result["errors"] == ["line 3: unterminated quote"]
    assert set(Suppression.objects.values_list("address", flat=True)) == {
        "a@example.com",
        "c@example.com",
        "d@example.com",
    }


def test_a_suppression_upload_that_is_not_text_is_refused_in_one_line():
    with pytest.raises(ValidationError, match="is not a text \\(CSV\\) file"):
        services.suppressions_import_csv(data=bytes(range(256)) * 40)
