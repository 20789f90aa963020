"""Staff report pages: the campaign report with its chart and table, the CSV, and drafts from suggestions."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from marketing import report_views
from marketing.models import Campaign, Recipient
from segments.models import Membership, Segment, SegmentationDefinition, SegmentationRun
from tests.factories import CustomerFactory
from tests.marketing.factories import CampaignFactory, VariantFactory
from tests.staff.data import chart_islands, visible_text

pytestmark = pytest.mark.django_db


def add(campaign, variant, n, converted, segment):
    Recipient.objects.bulk_create(
        Recipient(
            campaign=campaign,
            variant=variant,
            is_control=variant is None,
            status="control" if variant is None else "sent",
            conversions=int(i < converted),
            revenue=Decimal("12") if i < converted else Decimal("0"),
            segment_name=segment,
            attributes={"channel": "web" if i % 2 else "app"},
        )
        for i in range(n)
    )


@pytest.fixture
def campaign():
    campaign = CampaignFactory(name="Autumn", status=Campaign.Status.COMPLETED)
    variant = VariantFactory(campaign=campaign, name="A")
    add(campaign, variant, 200, 60, "Loyal")
    add(campaign, None, 200, 10, "Loyal")
    add(campaign, variant, 200, 20, "<b>New</b>")
    add(campaign, None, 200, 20, "<b>New</b>")
    return campaign


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    return user


def test_pages_are_for_staff_only(client, campaign):
    for url in (
        reverse("marketing-reports:list"),
        reverse("marketing-reports:detail", args=[campaign.pk]),
        reverse("marketing-reports:export", args=[campaign.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_report_page_draws_the_chart_and_the_table(client, staff, campaign):
    response = client.get(reverse("marketing-reports:detail", args=[campaign.pk]), {"by": "segment"})
    assert response.status_code == 200
    page = response.content.decode()
    groups = chart_islands(page)["chart-groups"]
    assert groups["type"] == "interval" and groups["labels"] == ["<b>New</b>", "Loyal"]  # one interval per segment
    assert [r["verdict"] for r in groups["rows"]] == ["unclear", "above"]
    assert "<b>New</b>" not in visible_text(page) and "&lt;b&gt;New&lt;/b&gt;" in page  # labels escaped
    table = page[page.index('id="chart-table"') :]
    assert "Loyal" in table and "worked" in table and "cannot be told from chance" in table
    assert "+25.00 points" in table  # Loyal: 30 % against 5 %, in points rather than a raw fraction
    assert "Power:" in page and "800 recipients and a 50 % holdout" in page
    assert f'href="/staff/marketing/reports/{campaign.pk}/export.csv?by=segment"' in page


def test_an_imported_experiment_says_what_its_file_did_not_record(client, staff, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(origin=Campaign.Origin.IMPORTED)
    page = client.get(reverse("marketing-reports:detail", args=[campaign.pk])).content.decode()
    funnel = page[page.index('id="funnel-table"') : page.index("</table>", page.index('id="funnel-table"'))]
    opened = funnel[funnel.index("opened or shown") : funnel.index("</tr>", funnel.index("opened or shown"))]
    assert "0.0 %" not in opened and opened.count("–") == 4  # not recorded, rather than nobody opened
    assert "The imported file does not say who opened or clicked." in page
    assert "not when: there is no revenue over time to draw" in page  # not "no conversion attributed yet"
    assert "attribution window" not in page and "from the imported file" in page


def test_unknown_breakdown_is_a_404(client, staff, campaign):
    response = client.get(reverse("marketing-reports:detail", args=[campaign.pk]), {"by": "colour"})
    assert response.status_code == 404


def test_a_campaign_that_cannot_be_measured_says_why(client, staff):
    campaign = CampaignFactory(name="Unsent", status=Campaign.Status.RUNNING)
    response = client.get(reverse("marketing-reports:detail", args=[campaign.pk]))
    assert response.status_code == 200
    assert "has no control recipients" in response.content.decode()
    assert client.get(reverse("marketing-reports:export", args=[campaign.pk])).status_code == 409


def test_csv_export_matches_the_report(client, staff, campaign):
    response = client.get(reverse("marketing-reports:export", args=[campaign.pk]), {"by": "channel"})
    assert response["Content-Type"].startswith("text/csv")
    assert f"campaign-{campaign.pk}-by-channel.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["group"] for r in rows] == ["(all)", "app", "web"]
    assert float(rows[0]["uplift"]) == pytest.approx(0.125)


def test_list_shows_campaigns_and_a_suggestion_per_segment(client, staff, campaign):
    definition = SegmentationDefinition.objects.create(name="Clusters", method="rules")
    run = SegmentationRun.objects.create(definition=definition, method="rules", status="succeeded")
    SegmentationDefinition.objects.filter(pk=definition.pk).update(active_run=run)
    Segment.objects.create(
        run=run, key="0", name="Lapsed big spenders", size=0,
        profile={"features": {"recency_days": {"distinctiveness": 1.2}, "monetary": {"distinctiveness": 1.0}}},
    )  # fmt: skip
    page = client.get(reverse("marketing-reports:list")).content.decode()
    assert "Autumn" in page
    assert "Lapsed big spenders" in page and "Win-back with 15 % off" in page
    assert "Create draft" not in page  # this staff member may not add campaigns


def test_draft_needs_post_and_permission_then_opens_the_editor(client, staff):
    definition = SegmentationDefinition.objects.create(name="Clusters", method="rules")
    run = SegmentationRun.objects.create(definition=definition, method="rules", status="succeeded")
    SegmentationDefinition.objects.filter(pk=definition.pk).update(active_run=run)
    segment = Segment.objects.create(run=run, key="new", name="New customers", size=1)
    Membership.objects.create(segment=segment, customer=CustomerFactory())
    url = reverse("marketing-reports:draft", args=[segment.pk])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="add_campaign"))
    response = client.post(url)
    assert response.status_code == 302
    draft = Campaign.objects.get(status=Campaign.Status.DRAFT)
    assert str(draft.pk) in response["Location"]
    assert list(draft.included_segments.all()) == [segment]
    assert client.post(reverse("marketing-reports:draft", args=[99999])).status_code == 404


def test_a_segment_is_said_to_have_worked_only_if_it_holds_after_the_false_discovery_correction():
    def variant(ci, significant_after_fdr):
        return {
            "name": "A",
            "uplift_ci": ci,
            "significant_after_fdr": significant_after_fdr,
            "conversions": 30,
            "recipients": 100,
        }

    control = {"conversions": 10, "recipients": 100}
    report = {
        "variants": [variant([0.01, 0.2], None)],
        "control": control,
        "breakdown": {
            "by": "segment",
            "groups": [
                {"value": "At Risk", "control": control, "variants": [variant([0.05, 0.2], True)]},
                {"value": "Hibernating", "control": control, "variants": [variant([0.002, 0.2], False)]},
                {"value": "Lost", "control": control, "variants": [variant([-0.3, -0.01], True)]},
            ],
        },
    }

    verdicts = {row["label"]: row["verdict"] for row in report_views._chart_groups(report)}

    assert verdicts == {"At Risk": "worked", "Hibernating": "unclear", "Lost": "backfired"}
