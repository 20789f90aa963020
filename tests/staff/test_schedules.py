"""Schedules on the staff site: the product's jobs with checked arguments, timing in words and the next run,
stored as django_celery_beat rows; the defaults from the migration; the admin's beat form points here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from marketing import schedules
from marketing.models import Campaign
from marketing.schedules import DEFAULT_SCHEDULE_NAMES, Frequency, Timing
from segments.models import SegmentationDefinition, SegmentationMethod
from shop.demo import setup

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("planner", "planner@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def definition():
    return SegmentationDefinition.objects.create(name="Value tiers", method=SegmentationMethod.RFM)


def form_data(**overrides) -> dict:
    data = {
        "job": "retrain",
        "algorithm": "ease",
        "frequency": "daily",
        "time": "03:00",
        "weekday": "1",
        "day": "1",
        "timezone": "Europe/Berlin",
        "name": "",
        "enabled": "on",
    }
    return {**data, **overrides}


def test_the_migration_creates_the_default_schedules_enabled():
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__in=DEFAULT_SCHEDULE_NAMES).select_related("crontab")}
    assert set(tasks) == set(DEFAULT_SCHEDULE_NAMES)
    assert all(t.enabled for t in tasks.values())
    nightly = tasks["Nightly recommender retraining"]
    assert nightly.task == "recommender.tasks.train_recommender"
    assert (nightly.crontab.minute, nightly.crontab.hour, nightly.crontab.day_of_week) == ("0", "3", "*")
    assert tasks["Nightly segmentation"].task == "segments.tasks.run_all_segmentations"
    assert tasks["Nightly segmentation"].crontab.hour == "2"  # segments first, the retraining reads them
    hourly = tasks["Hourly triggered-campaign check"]
    assert hourly.task == "marketing.trigger_tasks.evaluate_triggered_campaigns" and hourly.crontab.hour == "*"
    assert hourly.queue == "marketing"
    # Every default is a task the worker knows.
    from config.celery import app

    app.loader.import_default_modules()
    assert {t.task for t in tasks.values()} <= set(app.tasks)


def test_the_page_lists_the_defaults_in_words_with_their_next_run(staff):
    page = staff.get(reverse("staff:schedules")).content.decode()
    assert "Nightly recommender retraining" in page
    assert "every day at 03:00 (UTC)" in page
    assert "every hour at minute 05" in page
    assert "chosen by the data&#x27;s size" in page  # the retraining's algorithm
    assert page.count('data-schedule="') == 3


def test_the_next_run_is_in_the_schedules_time_zone():
    task = schedules.schedule_save(
        job_key="retrain", timing=Timing(Frequency.DAILY, hour=3, minute=0, timezone="Europe/Berlin")
    )
    summer_noon = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert schedules.next_run(task, now=summer_noon) == datetime(2026, 6, 2, 1, 0, tzinfo=UTC)  # 03:00 CEST
    winter_noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert schedules.next_run(task, now=winter_noon) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 03:00 CET
    weekly = schedules.schedule_save(
        job_key="triggers", timing=Timing(Frequency.WEEKLY, hour=8, minute=30, weekday=1, timezone="UTC")
    )
    # 2026-06-01 is a Monday: 08:30 that day is still ahead at 07:00, passed at 09:00.
    assert schedules.next_run(weekly, now=datetime(2026, 6, 1, 7, 0, tzinfo=UTC)) == datetime(
        2026, 6, 1, 8, 30, tzinfo=UTC
    )
    assert schedules.next_run(weekly, now=datetime(2026, 6, 1, 9, 0, tzinfo=UTC)) == datetime(
        2026, 6, 8, 8, 30, tzinfo=UTC
    )
    schedules.schedule_set_enabled(task=weekly, enabled=False)
    assert schedules.next_run(weekly) is None


def test_staff_create_a_schedule_from_words(staff):
    response = staff.post(reverse("staff:schedule-new"), form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    task = PeriodicTask.objects.exclude(name__in=DEFAULT_SCHEDULE_NAMES).select_related("crontab").get()
    assert task.task == "recommender.tasks.train_recommender"
    assert json.loads(task.kwargs) == {"algorithm": "ease"} and json.loads(task.args) == []
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("0", "3", "Europe/Berlin")
    assert task.name == "Retrain the recommender (ease), every day at 03:00 (Europe/Berlin)"
    page = staff.get(reverse("staff:schedules")).content.decode()
    assert "Retrain the recommender (ease)" in page


def test_a_segmentation_schedule_names_an_existing_definition(staff, definition):
    response = staff.post(reverse("staff:schedule-new"), form_data(job="segmentation", algorithm=""))
    assert response.status_code == 200
    assert "Choose one for “Run a segmentation”" in response.content.decode()

    response = staff.post(reverse("staff:schedule-new"), form_data(job="segmentation", definition="9999"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()

    response = staff.post(
        reverse("staff:schedule-new"),
        form_data(job="segmentation", definition=str(definition.pk), frequency="weekly", weekday="0", time="22:15"),
    )
    assert response.status_code == 302
    task = PeriodicTask.objects.get(task="segments.tasks.run_segmentation")
    assert json.loads(task.kwargs) == {"definition_id": definition.pk}
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("15", "22", "0")
    assert "every Sunday at 22:15 (Europe/Berlin)" in staff.get(reverse("staff:schedules")).content.decode()


def test_the_service_refuses_what_does_not_exist_naming_the_field(definition):
    timing = Timing(Frequency.DAILY, hour=1)
    with pytest.raises(ValidationError) as error:
        schedules.schedule_save(job_key="retrain", argument="nope", timing=timing)
    assert "algorithm" in error.value.message_dict and "nope" in error.value.message_dict["algorithm"][0]
    with pytest.raises(ValidationError) as error:
        schedules.schedule_save(job_key="segmentation", argument=definition.pk + 100, timing=timing)
    assert "definition" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        schedules.schedule_save(job_key="reboot", timing=timing)
    assert "job" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        schedules.schedule_save(job_key="triggers", timing=Timing(Frequency.DAILY, hour=25, timezone="Mars/Olympus"))
    assert {"hour", "timezone"} <= set(error.value.message_dict)
    sent = Campaign.objects.create(name="Sent already", status=Campaign.Status.COMPLETED)
    with pytest.raises(ValidationError) as error:
        schedules.schedule_save(job_key="audience", argument=sent.pk, timing=timing)
    assert "only a draft or scheduled campaign" in error.value.message_dict["campaign"][0]
    schedules.schedule_save(job_key="triggers", timing=timing, name="Twice")
    with pytest.raises(ValidationError) as error:
        schedules.schedule_save(job_key="triggers", timing=timing, name="Twice")
    assert "exists already" in error.value.message_dict["name"][0]
    assert PeriodicTask.objects.filter(name="Twice").count() == 1


def test_an_audience_refresh_for_a_draft_campaign():
    draft = Campaign.objects.create(name="Spring draft", status=Campaign.Status.DRAFT)
    task = schedules.schedule_save(
        job_key="audience", argument=draft, timing=Timing(Frequency.MONTHLY, day=5, hour=6, timezone="UTC")
    )
    assert task.task == "marketing.tasks.estimate_campaign" and json.loads(task.kwargs) == {"campaign_id": draft.pk}
    assert schedules.schedule_words(task) == "on day 5 of every month at 06:00 (UTC)"


def test_edit_pause_resume_and_delete(staff):
    task = PeriodicTask.objects.get(name="Nightly recommender retraining")
    page = staff.get(reverse("staff:schedule", args=[task.pk])).content.decode()
    assert 'value="03:00"' in page and "every day at 03:00 (UTC)" in page

    response = staff.post(
        reverse("staff:schedule", args=[task.pk]),
        form_data(algorithm="", frequency="weekly", weekday="6", time="04:45", name=task.name, timezone="UTC"),
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("45", "4", "6")
    assert json.loads(task.kwargs) == {} and task.name == "Nightly recommender retraining"

    staff.post(reverse("staff:schedule-toggle", args=[task.pk]))
    task.refresh_from_db()
    assert not task.enabled
    staff.post(reverse("staff:schedule-toggle", args=[task.pk]))
    task.refresh_from_db()
    assert task.enabled

    staff.post(reverse("staff:schedule-delete", args=[task.pk]))
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_changing_schedules_needs_the_beat_permissions(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(viewer)
    assert client.get(reverse("staff:schedules")).status_code == 200
    assert client.get(reverse("staff:schedule-new")).status_code == 403
    task = PeriodicTask.objects.get(name="Nightly segmentation")
    assert client.post(reverse("staff:schedule-toggle", args=[task.pk])).status_code == 403
    assert PeriodicTask.objects.get(pk=task.pk).enabled
    viewer.user_permissions.add(Permission.objects.get(codename="add_periodictask"))
    assert client.get(reverse("staff:schedule-new")).status_code == 200


def test_the_beat_admin_form_points_to_the_page_and_never_says_undefined(staff):
    page = staff.get(reverse("admin:django_celery_beat_periodictask_add")).content.decode()
    assert reverse("staff:schedules") in page
    assert "Translation: ${additional}" not in page and "undefined" not in page
    listing = staff.get(reverse("admin:django_celery_beat_periodictask_changelist")).content.decode()
    assert reverse("staff:schedules") in listing


def test_run_all_segmentations_queues_every_definition_but_static_lists(monkeypatch):
    from segments import services, tasks

    kmeans = SegmentationDefinition.objects.create(name="Clusters", method=SegmentationMethod.KMEANS)
    busy = SegmentationDefinition.objects.create(name="Busy", method=SegmentationMethod.RFM)
    SegmentationDefinition.objects.create(name="VIP list", method=SegmentationMethod.STATIC)
    queued = []

    def enqueue(*, definition):
        if definition == busy:
            raise ValidationError("a run of this definition is in progress")
        queued.append(definition)
        return type("Run", (), {"pk": 100 + definition.pk})()

    monkeypatch.setattr(services, "segmentation_run_enqueue", enqueue)
    assert tasks.run_all_segmentations() == [100 + kmeans.pk]
    assert queued == [kmeans]


def test_the_demo_pauses_the_default_schedules(monkeypatch):
    steps = [s for s in setup.demo_setup_steps() if s.name == "Pause the default schedules"]
    monkeypatch.setattr(setup, "_STEPS", steps)
    out = StringIO()
    call_command("setup_demo", customers=5, stdout=out, stderr=StringIO())
    assert "3 paused" in out.getvalue()
    assert not PeriodicTask.objects.filter(name__in=DEFAULT_SCHEDULE_NAMES, enabled=True).exists()
    again = StringIO()
    call_command("setup_demo", customers=5, stdout=again, stderr=StringIO())
    assert "already paused" in again.getvalue()


def test_the_time_zone_is_typed_from_a_list_and_checked(staff):
    page = staff.get(reverse("staff:schedule-new")).content.decode()
    assert 'list="timezones"' in page and '<datalist id="timezones">' in page
    assert '<option value="Europe/Berlin">' in page
    response = staff.post(reverse("staff:schedule-new"), form_data(timezone="Mars/Olympus"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not PeriodicTask.objects.exclude(name__in=DEFAULT_SCHEDULE_NAMES).exists()


def test_a_schedule_of_another_shape_is_listed_apart_and_edited_in_admin(staff):
    from django_celery_beat.models import IntervalSchedule

    every = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    reaper = PeriodicTask.objects.create(
        name="fail stale training runs", task="recommender.tasks.fail_stale_training_runs", interval=every
    )
    page = staff.get(reverse("staff:schedules")).content.decode()
    housekeeping = page.split("Housekeeping", 1)[1]
    assert "fail stale training runs" in housekeeping and "every 30 s" in housekeeping
    response = staff.get(reverse("staff:schedule", args=[reaper.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:django_celery_beat_periodictask_change", args=[reaper.pk])


def test_run_now_runs_the_schedules_job_with_its_arguments_and_says_where_it_ran(staff, definition):
    from segments.models import SegmentationRun

    staff.post(reverse("staff:schedule-new"), form_data(job="segmentation", definition=str(definition.pk)))
    task = PeriodicTask.objects.get(task="segments.tasks.run_segmentation")
    response = staff.post(reverse("staff:schedule-run", args=[task.pk]), follow=True)
    # No broker in the tests: Celery runs the task here, and the page says so rather than "queued".
    assert "ran now, in this process" in response.content.decode()
    assert SegmentationRun.objects.filter(definition=definition).count() == 1


def test_run_now_needs_the_change_permission_and_refuses_other_tasks(staff, client, django_user_model):
    from django_celery_beat.models import IntervalSchedule

    every = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    reaper = PeriodicTask.objects.create(
        name="reaper", task="recommender.tasks.fail_stale_training_runs", interval=every
    )
    response = staff.post(reverse("staff:schedule-run", args=[reaper.pk]), follow=True)
    assert "“reaper” is not one of the product&#x27;s job schedules." in response.content.decode()
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(viewer)
    nightly = PeriodicTask.objects.get(name="Nightly recommender retraining")
    assert client.post(reverse("staff:schedule-run", args=[nightly.pk])).status_code == 403
