"""The campaign editor for marketers: templates checked on save, estimate, preview, launch with confirmation,
recipient lists, suppression upload; the two staff groups enforced."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from marketing.models import Campaign, CampaignAction, Suppression
from tests.factories import CustomerFactory
from tests.marketing.campaign_helpers import (  # noqa: F401
    active_segment,
    campaign_for,
    customers,
    fresh_serving,
    popular_products,
)

pytestmark = pytest.mark.django_db


def _staff(username: str, group: str):
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def marketer(client):
    client.force_login(_staff("mia", "Marketers"))
    return client


@pytest.fixture
def data_staff(client):
    client.force_login(_staff("dan", "Data staff"))
    return client


@pytest.fixture
def campaign():
    popular_products(3)
    return campaign_for(active_segment(customers(3)))


def _form(campaign, segment, **overrides):
    variant = campaign.variants.get() if campaign else None
    data = {
        "name": "Admin campaign",
        "objective": "conversion",
        "channel": "email",
        "included_segments": [segment.pk],
        "audience_rule": "",
        "recommendations_count": 4,
        "holdout_share": 10,
        "attribution_window_days": 7,
        "trigger": "",
        "cooldown_days": 30,
        "wave_share": 20,
        "wave_interval_hours": 24,
        "variants-TOTAL_FORMS": 1,
        "variants-INITIAL_FORMS": 1 if variant else 0,
        "variants-MIN_NUM_FORMS": 1,
        "variants-MAX_NUM_FORMS": 4,
        "variants-0-name": "A",
        "variants-0-split_share": 100,
        "variants-0-position": 0,
        "variants-0-subject": "Hi {{ customer.first_name }}",
        "variants-0-html_template": "<p>{% for p in products %}{{ p.name }}{% endfor %}</p>",
        "variants-0-text_template": "Hello",
    }
    if variant:
        data["variants-0-id"] = variant.pk
        data["variants-0-campaign"] = campaign.pk
    data.update(overrides)
    return data


def test_groups_exist_with_their_permissions():
    marketers = set(Group.objects.get(name="Marketers").permissions.values_list("codename", flat=True))
    data = set(Group.objects.get(name="Data staff").permissions.values_list("codename", flat=True))
    assert {"add_campaign", "launch_campaign", "view_segment", "add_suppression", "add_offer"} <= marketers
    assert "add_importjob" not in marketers
    assert {"add_importjob", "add_segmentationdefinition", "add_trainingrun", "add_periodictask"} <= data
    assert "launch_campaign" not in data and "add_campaign" not in data


def test_marketer_creates_a_campaign_and_a_template_error_names_the_line(marketer):
    segment = active_segment(customers(2))
    bad = _form(None, segment, **{"variants-0-html_template": "<p>\n{% for p in products %}\n"})
    response = marketer.post("/admin/marketing/campaign/add/", bad)
    assert response.status_code == 200
    assert "HTML template, line 2: Unexpected end of template" in response.content.decode()
    assert not Campaign.objects.exists()
    response = marketer.post("/admin/marketing/campaign/add/", _form(None, segment))
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = Campaign.objects.get(name="Admin campaign")
    assert campaign.created_by.username == "mia" and campaign.variants.count() == 1


def test_unsafe_template_refused_in_the_editor(marketer, campaign):
    segment = campaign.included_segments.get()
    data = _form(campaign, segment, **{"variants-0-subject": "{{ ''.__class__.__mro__ }}"})
    response = marketer.post(f"/admin/marketing/campaign/{campaign.pk}/change/", data)
    assert response.status_code == 200 and "not allowed in a campaign template" in response.content.decode()


def test_bad_audience_rule_refused(marketer, campaign):
    segment = campaign.included_segments.get()
    data = _form(campaign, segment, audience_rule="wat = 1")
    response = marketer.post(f"/admin/marketing/campaign/{campaign.pk}/change/", data)
    assert response.status_code == 200 and "unknown field" in response.content.decode()


def test_estimate_preview_and_launch_with_confirmation(marketer, campaign, django_capture_on_commit_callbacks):
    response = marketer.get(f"/admin/marketing/campaign/{campaign.pk}/estimate/", follow=True)
    assert "Estimated audience: 3" in response.content.decode()
    page = marketer.get(f"/admin/marketing/campaign/{campaign.pk}/change/").content.decode()
    assert "Launch…" in page and "Audience" in page

    person = campaign.included_segments.get().memberships.first().customer
    preview = marketer.get(f"/admin/marketing/campaign/{campaign.pk}/preview/?customer={person.external_id}")
    body = preview.content.decode()
    assert preview.status_code == 200
    assert f"Hi {person.name.split()[0]}" in body and "Product P0" in body
    assert marketer.get(f"/admin/marketing/campaign/{campaign.pk}/preview/?customer=nobody").status_code == 200

    confirm = marketer.get(f"/admin/marketing/campaign/{campaign.pk}/launch/confirm/")
    assert confirm.status_code == 200 and "Yes, launch" in confirm.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"  # the confirmation page changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        marketer.post(f"/admin/marketing/campaign/{campaign.pk}/launch/confirm/")
    campaign.refresh_from_db()
    assert campaign.status == "running" and len(mail.outbox) == 3
    assert CampaignAction.objects.get(campaign=campaign, action="launch").user.username == "mia"
    recipients = marketer.get(f"/admin/marketing/recipient/?campaign__id__exact={campaign.pk}&status__exact=sent")
    assert recipients.status_code == 200 and "3 recipients" in recipients.content.decode()


def test_data_staff_cannot_launch_or_edit_campaigns(data_staff, campaign):
    assert data_staff.get(f"/admin/marketing/campaign/{campaign.pk}/launch/confirm/").status_code == 403
    assert data_staff.post(f"/admin/marketing/campaign/{campaign.pk}/launch/confirm/").status_code == 403
    assert data_staff.get("/admin/marketing/campaign/add/").status_code == 403
    assert data_staff.get("/admin/shop/importjob/").status_code == 200
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_marketer_cannot_reach_imports(marketer):
    assert marketer.get("/admin/shop/importjob/").status_code == 403


def test_suppression_csv_upload(marketer):
    CustomerFactory(external_id="known")
    csv = b"email,external_id,reason\nA@Example.com,,bounced\n,known,asked\nnot-an-email@,,x\n"
    response = marketer.post(
        "/admin/marketing/suppression/upload/",
        {"file": SimpleUploadedFile("list.csv", csv), "channel": "email", "reason": ""},
        follow=True,
    )
    body = response.content.decode()
    assert "Added 2" in body and "Line 4: &#x27;not-an-email@&#x27; is not an e-mail address" in body
    assert set(Suppression.objects.values_list("address", "channel")) == {("a@example.com", "email"), ("", "email")}


# --- No raw JSON and no raw fractions in the editor ------------------------------------------------------------


def test_shares_are_shown_and_typed_as_percentages(marketer, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(holdout_share=0.1, wave_share=0.25)
    page = marketer.get(f"/admin/marketing/campaign/{campaign.pk}/change/").content.decode()
    assert 'name="holdout_share" value="10"' in page
    assert 'name="wave_share" value="25"' in page
    assert 'name="variants-0-split_share" value="100"' in page

    segment = campaign.included_segments.get()
    response = marketer.post(
        f"/admin/marketing/campaign/{campaign.pk}/change/", _form(campaign, segment, holdout_share="12.5")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign.refresh_from_db()
    assert campaign.holdout_share == 0.125 and campaign.wave_share == 0.2
    assert campaign.variants.get().split_share == 1.0

    too_big = marketer.post(
        f"/admin/marketing/campaign/{campaign.pk}/change/", _form(campaign, segment, holdout_share=95)
    )
    assert too_big.status_code == 200 and "Give at most 90 %." in too_big.content.decode()


def test_the_audience_rule_is_read_and_written_as_rule_text(marketer, campaign):
    segment = campaign.included_segments.get()
    text = 'monetary > 100 and (country = "Germany" or frequency between 2 and 5)'
    response = marketer.post(
        f"/admin/marketing/campaign/{campaign.pk}/change/", _form(campaign, segment, audience_rule=text)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign.refresh_from_db()
    assert campaign.audience_rule == {
        "all": [
            {"field": "monetary", "op": ">", "value": 100},
            {
                "any": [
                    {"field": "country", "op": "=", "value": "Germany"},
                    {"field": "frequency", "op": "between", "value": [2, 5]},
                ]
            },
        ]
    }
    page = marketer.get(f"/admin/marketing/campaign/{campaign.pk}/change/").content.decode()
    assert "monetary &gt; 100 and (country = &quot;Germany&quot; or frequency between 2 and 5)" in page
    assert "&quot;op&quot;" not in page  # the rule nowhere as JSON

    typo = marketer.post(
        f"/admin/marketing/campaign/{campaign.pk}/change/", _form(campaign, segment, audience_rule="monetary 100")
    )
    assert typo.status_code == 200
    assert "Character 10, at “100”: expected an operator after “monetary”" in typo.content.decode()
    chinese = marketer.post(
        f"/admin/marketing/campaign/{campaign.pk}/change/",
        _form(campaign, segment, audience_rule="monetary 100"),
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    ).content.decode()
    assert "第 10 个字符，“100”处：“monetary”后面应为运算符" in chinese


def test_trigger_parameters_are_named_fields_for_the_chosen_trigger(marketer, campaign):
    segment = campaign.included_segments.get()
    url = f"/admin/marketing/campaign/{campaign.pk}/change/"
    response = marketer.post(
        url, _form(campaign, segment, trigger="abandoned_cart", cart_quiet_hours=6, browse_views=9)
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign.refresh_from_db()
    # The browse-abandonment field belongs to another trigger: not stored; the look-back takes its default.
    assert campaign.trigger_parameters == {"hours": 6, "lookback_hours": 72}
    page = marketer.get(url).content.decode()
    assert 'name="cart_quiet_hours" value="6"' in page and 'name="trigger_parameters"' not in page

    out_of_range = marketer.post(url, _form(campaign, segment, trigger="win_back", win_back_days=0))
    assert out_of_range.status_code == 200
    assert "Ensure this value is greater than or equal to 1." in out_of_range.content.decode()

    no_segment = marketer.post(url, _form(campaign, segment, trigger="segment_entry"))
    assert "Choose the segment whose new members enter the campaign." in no_segment.content.decode()
    entered = marketer.post(url, _form(campaign, segment, trigger="segment_entry", entry_segment=segment.pk))
    assert entered.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).trigger_parameters == {"segment": segment.pk}


def test_a_launched_campaign_reads_its_settings_in_words(marketer, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(
        status="running",
        holdout_share=0.15,
        audience_rule={"field": "monetary", "op": ">", "value": 100},
        trigger="win_back",
        trigger_parameters={"days": 60},
    )
    page = marketer.get(f"/admin/marketing/campaign/{campaign.pk}/change/").content.decode()
    assert "15 %" in page and "100 %" in page  # holdout, the variant's split
    assert "monetary &gt; 100" in page and "Days without a purchase: 60" in page
    assert "&quot;op&quot;" not in page and "&quot;days&quot;" not in page and "0.15" not in page


def test_the_campaign_history_reads_in_words_in_either_language(marketer, campaign):
    CampaignAction.objects.create(campaign=campaign, action="draft_from_suggestion", to_status="draft")
    CampaignAction.objects.create(campaign=campaign, action="schedule", from_status="draft", to_status="scheduled")
    url = f"/admin/marketing/campaign/{campaign.pk}/change/"

    english = marketer.get(url).content.decode()
    assert "drafted from a suggestion (now Draft), by the system" in english
    assert "scheduled (Draft → Scheduled), by the system" in english
    assert "draft_from_suggestion" not in english

    chinese = marketer.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "根据建议创建草稿（当前：草稿），操作人：系统" in chinese
