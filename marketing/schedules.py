"""Schedules of the product's jobs, as staff pick them on the staff site.

A schedule is one of the jobs below with its argument checked against what exists (an algorithm, a segmentation
definition, a campaign) and a timing people can read ("every day at 03:00, Europe/Berlin"). It is stored as
django_celery_beat's PeriodicTask with a CrontabSchedule, which beat's database scheduler reads; the generic beat
admin still works on the same rows. It lives in `marketing` because its jobs belong to every app.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from marketing.models import Campaign
from segments.models import SegmentationDefinition


@dataclass(frozen=True)
class Job:
    key: str
    task: str
    label: str | Promise
    # The one argument the job takes ("algorithm", "definition", "campaign") or None.
    argument: str | None = None
    # The argument may be left empty (the algorithm: then it is chosen by the data's size).
    optional: bool = False
    # A queue other than the one CELERY_TASK_ROUTES gives the task's module.
    queue: str | None = None


JOBS: dict[str, Job] = {
    job.key: job
    for job in (
        Job(
            "retrain", "recommender.tasks.train_recommender", gettext_lazy("Retrain the recommender"), "algorithm", True
        ),
        Job("segmentation", "segments.tasks.run_segmentation", gettext_lazy("Run a segmentation"), "definition"),
        Job("all_segmentations", "segments.tasks.run_all_segmentations", gettext_lazy("Run every segmentation")),
        Job(
            "triggers",
            "marketing.trigger_tasks.evaluate_triggered_campaigns",
            gettext_lazy("Check triggered campaigns"),
            queue="marketing",
        ),
        Job("audience", "marketing.tasks.estimate_campaign", gettext_lazy("Refresh a campaign's audience"), "campaign"),
    )
}
JOB_BY_TASK = {job.task: job for job in JOBS.values()}
# The campaigns whose audience is worth refreshing: not sent yet.
AUDIENCE_STATUSES = (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)
# Written by the data migration segments 0003 (kept in step by a test); the demo pauses them.
DEFAULT_SCHEDULE_NAMES = ("Nightly segmentation", "Nightly recommender retraining", "Hourly triggered-campaign check")


class Frequency:
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CHOICES = [
        (HOURLY, gettext_lazy("every hour")),
        (DAILY, gettext_lazy("every day")),
        (WEEKLY, gettext_lazy("every week")),
        (MONTHLY, gettext_lazy("every month")),
    ]


# Cron numbers days from Sunday = 0.
WEEKDAYS = [
    (1, gettext_lazy("Monday")),
    (2, gettext_lazy("Tuesday")),
    (3, gettext_lazy("Wednesday")),
    (4, gettext_lazy("Thursday")),
    (5, gettext_lazy("Friday")),
    (6, gettext_lazy("Saturday")),
    (0, gettext_lazy("Sunday")),
]


@dataclass(frozen=True)
class Timing:
    frequency: str
    minute: int = 0
    hour: int = 0
    weekday: int = 1
    day: int = 1
    timezone: str = "UTC"

    def crontab_fields(self) -> dict[str, str]:
        every = "*"
        return {
            "minute": str(self.minute),
            "hour": every if self.frequency == Frequency.HOURLY else str(self.hour),
            "day_of_week": str(self.weekday) if self.frequency == Frequency.WEEKLY else every,
            "day_of_month": str(self.day) if self.frequency == Frequency.MONTHLY else every,
            "month_of_year": every,
        }


def _validate_timing(timing: Timing) -> None:
    errors: dict[str, str] = {}
    if timing.frequency not in dict(Frequency.CHOICES):
        errors["frequency"] = _("Choose how often: %(choices)s.") % {"choices": ", ".join(dict(Frequency.CHOICES))}
    if not 0 <= timing.minute <= 59:
        errors["minute"] = _("The minute must be between 0 and 59.")
    if not 0 <= timing.hour <= 23:
        errors["hour"] = _("The hour must be between 0 and 23.")
    if timing.weekday not in dict(WEEKDAYS):
        errors["weekday"] = _("The weekday must be 0 (Sunday) to 6 (Saturday).")
    if not 1 <= timing.day <= 28:
        errors["day"] = _("The day of the month must be between 1 and 28 (every month has it).")
    try:
        zoneinfo.ZoneInfo(timing.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = _("Unknown time zone %(zone)r.") % {"zone": timing.timezone}
    if errors:
        raise ValidationError(errors)


def job_arguments(*, job: Job, value: Any) -> dict[str, Any]:
    """The task's keyword arguments for the job's argument, checked against what exists."""
    from recommender.ml.registry import ALGORITHMS

    if job.argument is None:
        return {}
    if value in (None, ""):
        if job.optional:
            return {}
        needs = {
            "definition": _("Choose the segmentation to run."),
            "campaign": _("Choose the campaign whose audience to refresh."),
        }
        raise ValidationError({job.argument: needs[job.argument]})
    if job.argument == "algorithm":
        if value not in ALGORITHMS:
            message = _("Unknown algorithm %(name)r; choose from %(choices)s.")
            raise ValidationError({"algorithm": message % {"name": value, "choices": ", ".join(sorted(ALGORITHMS))}})
        return {"algorithm": value}
    pk = getattr(value, "pk", value)
    if job.argument == "definition":
        if not SegmentationDefinition.objects.filter(pk=pk).exists():
            raise ValidationError({"definition": _("No segmentation definition #%(id)s.") % {"id": pk}})
        return {"definition_id": int(pk)}
    campaign = Campaign.objects.filter(pk=pk).only("pk", "status", "name").first()
    if campaign is None:
        raise ValidationError({"campaign": _("No campaign #%(id)s.") % {"id": pk}})
    if campaign.status not in AUDIENCE_STATUSES:
        raise ValidationError(
            {
                "campaign": _("%(name)s is %(status)s: only a draft or scheduled campaign's audience can change.")
                % {"name": campaign.name, "status": campaign.get_status_display()}
            }
        )
    return {"campaign_id": campaign.pk}


def _crontab(timing: Timing) -> CrontabSchedule:
    fields = {**timing.crontab_fields(), "timezone": timing.timezone}
    crontab = CrontabSchedule.objects.filter(**fields).order_by("pk").first()
    return crontab or CrontabSchedule.objects.create(**fields)


@transaction.atomic
def schedule_save(
    *,
    task: PeriodicTask | None = None,
    job_key: str,
    argument: Any = None,
    timing: Timing,
    name: str = "",
    enabled: bool = True,
) -> PeriodicTask:
    """Create (`task` None) or change a schedule: the job with its checked argument, run on a crontab."""
    job = JOBS.get(job_key)
    if job is None:
        raise ValidationError(
            {"job": _("Unknown job %(key)r; choose from %(choices)s.") % {"key": job_key, "choices": ", ".join(JOBS)}}
        )
    kwargs = job_arguments(job=job, value=argument)
    _validate_timing(timing)
    name = (name or "").strip() or default_name(job=job, kwargs=kwargs, timing=timing)
    task = task or PeriodicTask()
    task.name = name[:200]
    task.task = job.task
    task.args = "[]"
    task.kwargs = json.dumps(kwargs)
    task.crontab = _crontab(timing)
    task.interval = task.solar = task.clocked = None
    task.one_off = False
    task.queue = job.queue
    task.enabled = enabled
    task.description = task.description or str(job.label)
    try:
        task.full_clean()
    except ValidationError as exc:
        if "name" in getattr(exc, "error_dict", {}):
            raise ValidationError({"name": _("A schedule named %(name)r exists already.") % {"name": name}}) from exc
        raise
    try:
        with transaction.atomic():
            task.save()
    except IntegrityError as exc:  # a schedule of that name was saved meanwhile
        raise ValidationError({"name": _("A schedule named %(name)r exists already.") % {"name": name}}) from exc
    return task


@transaction.atomic
def schedule_set_enabled(*, task: PeriodicTask, enabled: bool) -> PeriodicTask:
    task.enabled = enabled
    task.save(update_fields=["enabled"])  # saving tells beat to reload (django_celery_beat's signal)
    return task


@transaction.atomic
def schedule_delete(*, task: PeriodicTask) -> None:
    task.delete()  # the model's delete tells beat (PeriodicTasks.changed)


def schedules_pause_defaults() -> int:
    """Pause the default schedules (the demo runs its jobs itself, on demand); returns how many were running."""
    paused = 0
    for task in PeriodicTask.objects.filter(name__in=DEFAULT_SCHEDULE_NAMES, enabled=True):
        schedule_set_enabled(task=task, enabled=False)
        paused += 1
    return paused


# --- Reading: the timing in words and the next run ----------------------------------------------------


def default_name(*, job: Job, kwargs: dict[str, Any], timing: Timing) -> str:
    what = str(job.label)
    if kwargs.get("algorithm"):
        what += f" ({kwargs['algorithm']})"
    elif kwargs.get("definition_id"):
        definition = SegmentationDefinition.objects.filter(pk=kwargs["definition_id"]).only("name").first()
        what += f" ({definition.name if definition else kwargs['definition_id']})"
    elif kwargs.get("campaign_id"):
        campaign = Campaign.objects.filter(pk=kwargs["campaign_id"]).only("name").first()
        what += f" ({campaign.name if campaign else kwargs['campaign_id']})"
    return f"{what}, {timing_words(timing)}"


def timing_of(crontab: CrontabSchedule) -> Timing | None:
    """The Timing a crontab was made from, or None when it is another shape (made in the generic admin)."""

    def number(text: str, low: int, high: int) -> int | None:
        return int(text) if text.isdigit() and low <= int(text) <= high else None

    minute = number(crontab.minute, 0, 59)
    hour = number(crontab.hour, 0, 23)
    weekday = number(crontab.day_of_week, 0, 6)
    day = number(crontab.day_of_month, 1, 28)
    if minute is None or crontab.month_of_year != "*":
        return None
    zone = str(crontab.timezone)
    every_day = crontab.day_of_week == "*" and crontab.day_of_month == "*"
    if crontab.hour == "*" and every_day:
        return Timing(Frequency.HOURLY, minute=minute, timezone=zone)
    if hour is None:
        return None
    if every_day:
        return Timing(Frequency.DAILY, minute=minute, hour=hour, timezone=zone)
    if weekday is not None and crontab.day_of_month == "*":
        return Timing(Frequency.WEEKLY, minute=minute, hour=hour, weekday=weekday, timezone=zone)
    if day is not None and crontab.day_of_week == "*":
        return Timing(Frequency.MONTHLY, minute=minute, hour=hour, day=day, timezone=zone)
    return None


def timing_words(timing: Timing) -> str:
    """'every day at 03:00 (Europe/Berlin)' and the like, in the staff member's language."""
    at = f"{timing.hour:02d}:{timing.minute:02d}"
    values = {"at": at, "zone": timing.timezone, "minute": f"{timing.minute:02d}"}
    if timing.frequency == Frequency.HOURLY:
        return _("every hour at minute %(minute)s") % values
    if timing.frequency == Frequency.DAILY:
        return _("every day at %(at)s (%(zone)s)") % values
    if timing.frequency == Frequency.WEEKLY:
        weekday = dict(WEEKDAYS)[timing.weekday]
        return _("every %(weekday)s at %(at)s (%(zone)s)") % {**values, "weekday": weekday}
    return _("on day %(day)s of every month at %(at)s (%(zone)s)") % {**values, "day": timing.day}


def _interval_words(interval: IntervalSchedule) -> str:
    seconds = {
        IntervalSchedule.DAYS: 86400,
        IntervalSchedule.HOURS: 3600,
        IntervalSchedule.MINUTES: 60,
        IntervalSchedule.SECONDS: 1,
        IntervalSchedule.MICROSECONDS: 1e-6,
    }[interval.period] * interval.every
    if seconds >= 3600 and seconds % 3600 == 0:
        return _("every %(n)s h") % {"n": int(seconds // 3600)}
    if seconds >= 60 and seconds % 60 == 0:
        return _("every %(n)s min") % {"n": int(seconds // 60)}
    return _("every %(n)s s") % {"n": f"{seconds:g}"}


def schedule_words(task: PeriodicTask) -> str:
    if task.crontab is not None:
        timing = timing_of(task.crontab)
        if timing is not None:
            return timing_words(timing)
        return f"{task.crontab.human_readable} ({task.crontab.timezone})"
    if task.interval is not None:
        return _interval_words(task.interval)
    if task.clocked is not None:
        return _("once, at %(when)s") % {
            "when": timezone.localtime(task.clocked.clocked_time).strftime("%Y-%m-%d %H:%M")
        }
    if task.solar is not None:
        return str(task.solar)
    return _("no timing")


def next_run(task: PeriodicTask, *, now: datetime | None = None) -> datetime | None:
    """When beat will run it next (None when paused, or a one-off that ran), to the second."""
    if not task.enabled or (task.one_off and task.total_run_count):
        return None
    now = now or timezone.now()
    if task.clocked is not None:
        return task.clocked.clocked_time if task.clocked.clocked_time > now else None
    if task.crontab is not None:
        schedule = task.crontab.schedule
        start = max(now, task.start_time) if task.start_time else now
        # Celery's own arithmetic, from `start` rather than its clock: the next matching wall time in the zone.
        last, delta, _now = schedule.remaining_delta(start.astimezone(schedule.tz), tz=schedule.tz)
        due = (last + delta).astimezone(now.tzinfo)
    elif task.interval is not None:
        every = task.interval.schedule.run_every
        due = (task.last_run_at + every) if task.last_run_at else now
        due = max(due, now)
    else:
        return None
    due = (due + timedelta(microseconds=500_000)).replace(microsecond=0)
    if task.expires and due > task.expires:
        return None
    return due


@dataclass
class ScheduleRow:
    task: PeriodicTask
    job: Job | None
    argument: str
    words: str
    next_run: datetime | None


def schedule_rows(*, now: datetime | None = None) -> tuple[list[ScheduleRow], list[ScheduleRow]]:
    """(the product's job schedules, the other beat entries such as the reapers), each with its words and next
    run: three queries whatever the number of schedules."""
    tasks = list(PeriodicTask.objects.select_related("crontab", "interval", "clocked", "solar").order_by("name"))
    definition_ids, campaign_ids = set(), set()
    parsed: dict[int, dict[str, Any]] = {}
    for task in tasks:
        try:
            kwargs = json.loads(task.kwargs or "{}")
        except ValueError:
            kwargs = {}
        parsed[task.pk] = kwargs if isinstance(kwargs, dict) else {}
        definition_ids.add(parsed[task.pk].get("definition_id"))
        campaign_ids.add(parsed[task.pk].get("campaign_id"))
    definitions = dict(
        SegmentationDefinition.objects.filter(pk__in=[i for i in definition_ids if i]).values_list("pk", "name")
    )
    campaigns = dict(Campaign.objects.filter(pk__in=[i for i in campaign_ids if i]).values_list("pk", "name"))
    ours, others = [], []
    for task in tasks:
        job = JOB_BY_TASK.get(task.task)
        kwargs = parsed[task.pk]
        if "algorithm" in kwargs:
            argument = kwargs["algorithm"] or _("chosen by the data's size")
        elif job is not None and job.argument == "algorithm":
            argument = _("chosen by the data's size")
        elif "definition_id" in kwargs:
            argument = definitions.get(
                kwargs["definition_id"], _("deleted definition #%(id)s") % {"id": kwargs["definition_id"]}
            )
        elif "campaign_id" in kwargs:
            argument = campaigns.get(
                kwargs["campaign_id"], _("deleted campaign #%(id)s") % {"id": kwargs["campaign_id"]}
            )
        else:
            argument = ""
        row = ScheduleRow(
            task=task, job=job, argument=argument, words=schedule_words(task), next_run=next_run(task, now=now)
        )
        (ours if job is not None else others).append(row)
    return ours, others
