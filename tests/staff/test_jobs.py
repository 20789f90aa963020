"""The job monitor: its tables are redrawn from a partial that htmx polls every 2 s (no page reload), with the
running jobs' progress and the failures' reasons."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from marketing.models import Campaign
from segments.models import SegmentationRun
from tests.staff.data import build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def test_the_monitor_polls_its_partial_every_two_seconds_with_htmx(staff):
    build_shop()
    page = staff.get(reverse("staff:jobs")).content.decode()
    live = re.search(r'<div id="jobs-live"([^>]*)>', page)
    assert live, "the live region is missing"
    assert f'hx-get="{reverse("staff:jobs-live")}"' in live.group(1) and 'hx-trigger="every 2s"' in live.group(1)
    assert "/static/vendor/htmx/htmx.min.js" in page  # served from the pinned npm package, not a CDN


def test_the_partial_shows_progress_as_it_moves_and_failures_with_reasons(staff):
    build_shop()
    running = SegmentationRun.objects.get(status="running")
    first = staff.get(reverse("staff:jobs-live")).content.decode()
    assert "<html" not in first  # a fragment for the swap, not a page
    row = re.search(rf'<tr data-job="segmentation-{running.pk}">.*?</tr>', first, re.S).group(0)
    assert 'aria-valuenow="40"' in row and "40 % · clustering" in row

    SegmentationRun.objects.filter(pk=running.pk).update(progress=75, stage="naming segments")
    again = staff.get(reverse("staff:jobs-live")).content.decode()
    row = re.search(rf'<tr data-job="segmentation-{running.pk}">.*?</tr>', again, re.S).group(0)
    assert 'aria-valuenow="75"' in row and "75 % · naming segments" in row
    assert "Failed jobs, with their reasons" in again and "out of memory while fitting" in again


def test_the_partial_is_for_staff_only(client):
    response = client.get(reverse("staff:jobs-live"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_monitor_lists_the_next_scheduled_runs_soonest_first(staff):
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name="Nightly segmentation").update(enabled=False)
    page = staff.get(reverse("staff:jobs")).content.decode()
    upcoming = page.split("Next scheduled", 1)[1]
    assert "Hourly triggered-campaign check" in upcoming and "Nightly recommender retraining" in upcoming
    assert "Nightly segmentation" not in upcoming  # paused: no next run
    from marketing.schedules import next_run

    names = ["Hourly triggered-campaign check", "Nightly recommender retraining"]
    by_time = sorted(names, key=lambda name: next_run(PeriodicTask.objects.get(name=name)))
    assert sorted(names, key=upcoming.index) == by_time


def test_a_live_on_site_campaign_shows_how_much_of_its_window_has_gone_by(staff):
    build_shop()
    now = timezone.now()
    onsite = Campaign.objects.create(
        name="Free shipping fortnight",
        channel=Campaign.Channel.ONSITE,
        status=Campaign.Status.RUNNING,
        starts_at=now - timedelta(days=3),
        ends_at=now + timedelta(days=9),
        launched_at=now - timedelta(days=3),
    )
    page = staff.get(reverse("staff:jobs-live")).content.decode()
    row = re.search(rf'<tr data-job="campaign-{onsite.pk}">.*?</tr>', page, re.S).group(0)
    # Nothing to build: a quarter of its twelve days have gone by (it read "0 %" before, as if stuck).
    assert 'aria-valuenow="25"' in row and "25 % · live until" in row
