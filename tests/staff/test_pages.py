"""The staff site: who may see it, what each page shows (numbers for people, no raw JSON), and that its
query count does not grow with the rows shown."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommender.models import ModelSwitch, TrainingRun
from tests.staff.data import build_shop, visible_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return build_shop()


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def pages(shop) -> list[str]:
    return [
        reverse("staff:dashboard"),
        reverse("staff:segmentations"),
        reverse("staff:segmentation-run", args=[shop["rfm_run"].pk]),
        reverse("staff:segmentation-run", args=[shop["km_run"].pk]),
        reverse("staff:customers") + "?q=Customer",
        reverse("staff:customer", args=["s0"]),
        reverse("staff:models"),
        reverse("staff:jobs"),
        reverse("staff:job-status"),
    ]


def test_every_page_is_for_staff_only(client, shop, django_user_model):
    for url in pages(shop):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    django_user_model.objects.create_user("shopper", password="pw")
    client.login(username="shopper", password="pw")
    for url in pages(shop):
        assert client.get(url).status_code == 302, url


def test_every_page_answers_staff(staff, shop):
    for url in pages(shop):
        response = staff.get(url)
        assert response.status_code == 200, url


def test_admin_links_to_the_staff_site(staff, shop):
    page = staff.get(reverse("admin:index")).content.decode()
    assert 'href="/staff/"' in page  # "View site" and the header link
    assert "Staff dashboard" in page


def test_dashboard_shows_numbers_for_people(staff, shop):
    page = staff.get(reverse("staff:dashboard")).content.decode()
    assert "33.3 %" in page  # a segment's share of 0.3333, not the raw fraction
    assert "0.3333" not in page
    assert "4.8 s" in page  # the model's training time, not 4.790661623000005
    assert "4.79066" not in page
    assert "Spring sale" in page and "points" in page  # the campaign with its uplift in points
    assert "clustering" in page  # the running segmentation's stage
    assert 'data-chart="chart-events"' in page and "Events per week as a table" in page  # every chart has its table


def test_segment_explorer_draws_profile_grid_movement_and_suggestion(staff, shop):
    page = staff.get(reverse("staff:segmentation-run", args=[shop["rfm_run"].pk])).content.decode()
    assert "Recency × frequency-and-spend grid" in page
    assert page.count("Champions<br>") == 4  # R 4–5 × FM 4–5
    assert "Movement since the previous run" in page and "Everyone" in page
    assert "+1.00" in page  # the Champions' frequency z-score, as a signed number
    assert "spend on Books" in page  # a category share's label said shortly
    assert "43.2 % of spend" in page
    assert "Suggested next campaign" in page
    assert reverse("marketing-reports:draft", args=[shop["segments"][0].pk]) in page
    assert '{"' not in visible_text(page)  # no raw JSON outside the charts' data islands


def test_kmeans_run_has_no_rfm_grid(staff, shop):
    page = staff.get(reverse("staff:segmentation-run", args=[shop["km_run"].pk])).content.decode()
    assert "Book lovers" in page and "Recency × frequency-and-spend grid" not in page


def test_customer_profile_shows_segments_history_and_campaigns(staff, shop):
    page = staff.get(reverse("staff:customer", args=["s0"])).content.decode()
    assert "Champions" in page and "Book lovers" in page and "Everyone" in page  # now and before
    assert "Spring sale" in page
    assert "A book" in page  # the purchase in the activity


def test_unknown_customer_is_404(staff, shop):
    assert staff.get(reverse("staff:customer", args=["nobody"])).status_code == 404


def test_customer_search_goes_straight_to_one_match(staff, shop):
    response = staff.get(reverse("staff:customers") + "?q=s3")
    assert response.status_code == 302 and response["Location"] == reverse("staff:customer", args=["s3"])


def test_promote_from_the_registry_goes_through_the_service_with_reason(staff, shop):
    candidate = shop["runs"][1]
    url = reverse("staff:model-switch", args=[candidate.pk])
    response = staff.post(url, {"action": "promote", "reason": "better ndcg"})
    assert response.status_code == 302
    candidate.refresh_from_db()
    assert candidate.is_active
    switch = ModelSwitch.objects.get()
    assert switch.kind == ModelSwitch.Kind.PROMOTE and switch.reason == "better ndcg"
    assert switch.acting_user.username == "boss" and switch.from_run_id == shop["serving"].pk
    page = staff.get(reverse("staff:models")).content.decode()
    assert "better ndcg" in page and "boss" in page  # the history on the page

    response = staff.post(
        reverse("staff:model-switch", args=[shop["serving"].pk]), {"action": "rollback", "reason": "clicks fell"}
    )
    assert TrainingRun.objects.get(is_active=True).pk == shop["serving"].pk
    assert ModelSwitch.objects.filter(kind=ModelSwitch.Kind.ROLLBACK, reason="clicks fell").exists()


def test_switch_without_reason_changes_nothing_and_says_why(staff, shop):
    candidate = shop["runs"][1]
    response = staff.post(reverse("staff:model-switch", args=[candidate.pk]), {"action": "promote"}, follow=True)
    assert "Give a reason" in response.content.decode()
    assert not ModelSwitch.objects.exists()
    assert TrainingRun.objects.get(is_active=True).pk == shop["serving"].pk


def test_switch_needs_the_permission(client, shop, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    response = client.post(
        reverse("staff:model-switch", args=[shop["runs"][1].pk]), {"action": "promote", "reason": "x"}
    )
    assert response.status_code == 403
    assert not ModelSwitch.objects.exists()


def test_job_status_reports_running_progress_and_failures(staff, shop):
    data = staff.get(reverse("staff:job-status")).json()
    running = {job["kind"]: job for job in data["running"]}
    assert running["segmentation"]["progress"] == 40 and running["segmentation"]["stage"] == "clustering"
    failed = [job for job in data["recent"] if job["status"] == "failed"]
    assert failed and failed[0]["error"] == "out of memory while fitting"
    page = staff.get(reverse("staff:jobs")).content.decode()
    assert "Failed jobs, with their reasons" in page and "out of memory while fitting" in page


def test_dates_are_shown_in_the_staff_members_time_zone(staff, shop):
    from datetime import UTC, datetime

    shop["campaign"].launched_at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    shop["campaign"].save(update_fields=["launched_at"])
    staff.cookies["staff_tz"] = "Asia/Shanghai"
    page = staff.get(reverse("staff:dashboard")).content.decode()
    assert "July 1, 2026, 8 p.m." in page  # 12:00 UTC is 20:00 in Shanghai
    staff.cookies["staff_tz"] = "Not/AZone"
    assert "July 1, 2026, noon" in staff.get(reverse("staff:dashboard")).content.decode()


def test_customer_admin_page_links_to_the_profile(staff, shop):
    customer = shop["customers"][0]
    page = staff.get(reverse("admin:shop_customer_change", args=[customer.pk])).content.decode()
    assert reverse("staff:customer", args=[customer.external_id]) in page


def test_dashboard_uplift_is_the_reports_uplift(shop):
    from marketing.report_summaries import campaign_summary
    from marketing.reports import campaign_report
    from marketing.staff.selectors import uplift_from_arms

    campaign = shop["campaign"]
    report = campaign_report(campaign)
    quick = uplift_from_arms(campaign_summary(campaign).uplift_arms)["variant"]  # as the dashboard reads it
    assert quick["name"] == report["variants"][0]["name"]
    assert quick["uplift"] == pytest.approx(report["variants"][0]["uplift"])
    assert quick["uplift_ci"] == pytest.approx(report["variants"][0]["uplift_ci"])
