"""Two walks through the staff site in Chromium, each step checked for what its user would see: data staff
schedule a retraining and watch it in the job monitor (open in another tab, never reloaded); a marketer goes from
the segment explorer's suggested next campaign to the campaign opened prefilled, previews it for one customer,
launches it and reads its report. Every page is screenshotted and checked by axe-core (see conftest)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from marketing.models import Campaign
from recommender.models import TrainingRun
from shop.models import Customer
from tests.e2e.conftest import PageWatch
from tests.staff.data import build_shop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The campaign editor is Django admin's change form: its autocomplete (select2) and split date-time widgets have no
# labels axe-core can find (serious and critical violations). Left out of the check until the editor labels them;
# everything else on those pages is checked.
ADMIN_WIDGETS = (".select2-container", ".datetime")


@pytest.fixture
def shop(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECOMMENDER_LOG_SERVED = False
    shop = build_shop()
    Customer.objects.update(email_consent=True)  # customers who agreed to e-mail, so a campaign reaches someone
    return shop


def test_data_staff_schedule_a_retraining_and_watch_it_in_the_job_monitor(logged_in_page, live_server, shop, tmp_path):
    page = logged_in_page
    base = live_server.url
    page.goto(f"{base}{reverse('staff:schedules')}")
    page.audit("schedules")
    page.click("text=New schedule")
    page.wait_for_url(f"{base}{reverse('staff:schedule-new')}")
    page.audit("schedule-new")
    page.select_option("#id_job", "retrain")
    page.select_option("#id_algorithm", "popularity")
    page.select_option("#id_frequency", "daily")
    page.fill("#id_time", "03:00")
    page.fill("#id_timezone", "Europe/Berlin")
    page.fill("#id_name", "Nightly popularity model")
    page.click("form.schedule-form input[type=submit]")
    page.wait_for_url(f"{base}{reverse('staff:schedules')}")
    page.audit("schedule-saved")
    assert "Schedule “Nightly popularity model” saved." in page.inner_text(".messagelist")
    row = page.locator("tr", has_text="Nightly popularity model")
    assert "Retrain the recommender" in row.inner_text()
    assert "03:00" in row.inner_text() and "Europe/Berlin" in row.inner_text()  # the timing in words

    # The job monitor, opened in a second tab before the run and never reloaded.
    monitor = page.context.new_page()
    monitor_watch = PageWatch(monitor, tmp_path)
    monitor.goto(f"{base}{reverse('staff:jobs')}")
    monitor_watch.audit("jobs-before")
    before = set(TrainingRun.objects.values_list("pk", flat=True))
    monitor.evaluate("window.__notReloaded = true")

    row.locator("button", has_text="Run now").click()
    page.wait_for_url(f"{base}{reverse('staff:schedules')}")
    page.audit("schedule-ran")
    # The tests have no broker: the job ran in the server's process, and the page says so instead of "queued".
    assert "“Nightly popularity model” ran now" in page.inner_text(".messagelist")
    (run,) = TrainingRun.objects.exclude(pk__in=before)
    assert run.algorithm == "popularity" and run.status == TrainingRun.Status.SUCCEEDED

    job = monitor.locator(f'tr[data-job="training-{run.pk}"]').first
    job.wait_for(timeout=15_000)  # drawn by the monitor's own polling
    assert "popularity" in job.inner_text()
    # The poll may have drawn the row while the run was still going; the next polls bring it to its end.
    expect(job.locator("[data-field=status]")).to_contain_text("Succeeded", timeout=15_000)
    expect(job.locator("[data-field=stage]")).to_contain_text("100 %", timeout=15_000)
    assert monitor.evaluate("window.__notReloaded") is True
    monitor_watch.audit("jobs-after")
    monitor_watch.verify()


def test_marketer_launches_the_suggested_campaign_and_reads_its_report(logged_in_page, live_server, shop, settings):
    settings.MARKETING_BASE_URL = live_server.url  # the site messages link to (and load product pictures from)
    page = logged_in_page
    base = live_server.url
    segment = shop["segments"][0]
    page.goto(f"{base}{reverse('staff:segmentation-run', args=[shop['rfm_run'].pk])}")
    page.audit("segment-explorer")
    suggestion = page.locator(f"form[action='{reverse('marketing-reports:draft', args=[segment.pk])}']")
    assert "Suggested next campaign" in page.inner_text("#content-main")

    before = set(Campaign.objects.values_list("pk", flat=True))
    suggestion.locator("button").click()
    page.wait_for_url("**/admin/marketing/campaign/*/change/")
    page.audit("campaign-prefilled", exclude=ADMIN_WIDGETS)
    (campaign,) = Campaign.objects.exclude(pk__in=before)
    assert "review it before scheduling" in page.inner_text(".messagelist")
    # Opened prefilled: its name, the segment as the audience, a holdout and a message to send.
    assert page.input_value("#id_name") == campaign.name and segment.name in campaign.name
    assert page.locator("#id_included_segments option:checked").inner_text().startswith(segment.name)
    assert page.input_value("#id_holdout_share") == "10"  # per cent of the audience held out
    assert campaign.variants.count() == 1 and page.input_value("#id_variants-0-subject")

    page.click("text=Preview for a customer")
    page.wait_for_url("**/preview/**")
    page.audit("campaign-preview")
    member = segment.memberships.select_related("customer").order_by("customer__external_id").first().customer
    page.fill("input[name=customer]", member.external_id)
    page.click("form:has(input[name=customer]) input[type=submit]")
    page.wait_for_url(f"**customer={member.external_id}**")
    page.audit("campaign-preview-customer")
    # The message as this customer would get it: who, the subject with the customer's data, the body.
    assert page.locator("#content h2").inner_text().startswith(f"{member} ({member.external_id}")
    subject = campaign.variants.get().subject
    assert "Subject:" in page.inner_text("#content") and "{{" not in page.inner_text("#content")
    assert page.locator("iframe[srcdoc]").count() == 1, subject

    change_url = f"{base}{reverse('admin:marketing_campaign_change', args=[campaign.pk])}"
    page.click(f".breadcrumbs a[href$='/{campaign.pk}/change/']")
    page.wait_for_url(change_url)
    page.click("text=Estimate audience")
    page.wait_for_url(change_url)
    page.audit("campaign-estimated", exclude=ADMIN_WIDGETS)
    campaign.refresh_from_db()
    assert campaign.estimate["treated"] > 0
    assert f"({campaign.estimate['treated']} treated, {campaign.estimate['control']} control)" in page.inner_text(
        ".messagelist"
    )

    page.click("a:has-text('Launch…')")
    page.wait_for_url("**/launch/confirm/")
    page.audit("campaign-launch-confirm")
    text = page.inner_text("#content")
    assert "Build the audience now and start sending." in text
    estimated = campaign.estimate
    assert f"Estimated: {estimated['treated']} to message, {estimated['control']} held out as control." in text
    page.click("form input[type=submit][value^='Yes, launch']")
    page.wait_for_url(f"**/admin/marketing/campaign/{campaign.pk}/change/")
    page.audit("campaign-launched", exclude=ADMIN_WIDGETS)
    campaign.refresh_from_db()
    assert campaign.status != Campaign.Status.DRAFT
    assert f"Launch: {campaign.name} is now {campaign.get_status_display().lower()}." in page.inner_text(".messagelist")

    page.goto(f"{base}{reverse('marketing-reports:list')}")
    page.audit("reports")
    page.click(f"text={campaign.name}")
    page.wait_for_url(f"{base}{reverse('marketing-reports:detail', args=[campaign.pk])}")
    page.audit("report")
    assert page.locator("h1").inner_text() == f"Report: {campaign.name}"
    # The funnel counts what the launch did: everyone in the treated audience was sent the message.
    treated = campaign.recipients.filter(is_control=False, exclusion="")
    funnel = page.locator("#funnel-table tbody").inner_text().splitlines()
    assert funnel[0].startswith(f"audience\t{treated.count()}\t") and treated.count() > 0
    assert funnel[1].startswith(f"sent\t{treated.filter(status='sent').count()}\t")
