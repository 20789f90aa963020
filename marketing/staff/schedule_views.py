"""Staff pages for the schedules of the product's jobs: list with the timing in words and the next run, create,
edit, pause / resume and delete. Writes go through marketing.schedules."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_celery_beat.models import PeriodicTask

from config.jobs import QueueUnavailable
from marketing import schedules
from marketing.staff.forms import ScheduleForm, timezone_datalist
from marketing.staff.schedule_runs import schedule_run_now
from marketing.staff.views import staff_page


def _require(request, action: str) -> None:
    if not request.user.has_perm(f"django_celery_beat.{action}_periodictask"):
        raise PermissionDenied(_("Changing schedules needs the periodic task permissions."))


@staff_page
def schedule_list(request):
    ours, others = schedules.schedule_rows()
    context = {
        "title": _("Schedules"),
        "rows": ours,
        "others": others,
        "can_add": request.user.has_perm("django_celery_beat.add_periodictask"),
        "can_change": request.user.has_perm("django_celery_beat.change_periodictask"),
    }
    return render(request, "staff/schedules.html", context)


def _initial(task: PeriodicTask) -> dict | None:
    """The form's values for a schedule made here (or one of the same shape); None for another shape."""
    job = schedules.JOB_BY_TASK.get(task.task)
    timing = schedules.timing_of(task.crontab) if task.crontab_id else None
    if job is None or timing is None:
        return None
    try:
        kwargs = json.loads(task.kwargs or "{}")
    except ValueError:
        return None
    return {
        "job": job.key,
        "algorithm": kwargs.get("algorithm") or "",
        "definition": kwargs.get("definition_id"),
        "campaign": kwargs.get("campaign_id"),
        "frequency": timing.frequency,
        "time": f"{timing.hour:02d}:{timing.minute:02d}",
        "weekday": timing.weekday,
        "day": timing.day,
        "timezone": timing.timezone,
        "name": task.name,
        "enabled": task.enabled,
    }


def _save(request, form: ScheduleForm, task: PeriodicTask | None):
    """Save through the service; its errors land on the form's fields. Returns the task, or None."""
    data = form.cleaned_data
    try:
        return schedules.schedule_save(
            task=task,
            job_key=data["job"],
            argument=form.argument(),
            timing=form.timing(),
            name=data.get("name", ""),
            enabled=data.get("enabled", False),
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None


@staff_page
def schedule_create(request):
    _require(request, "add")
    form = ScheduleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        task = _save(request, form, None)
        if task is not None:
            messages.success(request, _("Schedule “%(name)s” saved.") % {"name": task.name})
            return redirect("staff:schedules")
    context = {"title": _("New schedule"), "form": form, "task": None, "timezones": timezone_datalist()}
    return render(request, "staff/schedule_form.html", context)


@staff_page
def schedule_edit(request, pk: int):
    _require(request, "change")
    task = get_object_or_404(PeriodicTask.objects.select_related("crontab"), pk=pk)
    initial = _initial(task)
    if initial is None:
        note = _("“%(name)s” is not one of the product's job schedules: change it in admin.")
        messages.warning(request, note % {"name": task.name})
        return redirect("admin:django_celery_beat_periodictask_change", task.pk)
    form = ScheduleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, task)
        if saved is not None:
            messages.success(request, _("Schedule “%(name)s” saved.") % {"name": saved.name})
            return redirect("staff:schedules")
    context = {
        "title": _("Schedule “%(name)s”") % {"name": task.name},
        "form": form,
        "task": task,
        "words": schedules.schedule_words(task),
        "next_run": schedules.next_run(task),
        "timezones": timezone_datalist(),
    }
    return render(request, "staff/schedule_form.html", context)


@staff_page
@require_POST
def schedule_toggle(request, pk: int):
    _require(request, "change")
    task = get_object_or_404(PeriodicTask, pk=pk)
    schedules.schedule_set_enabled(task=task, enabled=not task.enabled)
    if task.enabled:
        messages.success(request, _("“%(name)s” runs again.") % {"name": task.name})
    else:
        messages.success(request, _("“%(name)s” is paused.") % {"name": task.name})
    return redirect("staff:schedules")


@staff_page
@require_POST
def schedule_delete(request, pk: int):
    _require(request, "delete")
    task = get_object_or_404(PeriodicTask, pk=pk)
    name = task.name
    schedules.schedule_delete(task=task)
    messages.success(request, _("Schedule “%(name)s” deleted.") % {"name": name})
    return redirect("staff:schedules")


@staff_page
@require_POST
def schedule_run(request, pk: int):
    _require(request, "change")
    task = get_object_or_404(PeriodicTask, pk=pk)
    try:
        ran = schedule_run_now(task=task)
    except (ValidationError, QueueUnavailable) as exc:
        messages.error(request, "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
        return redirect("staff:schedules")
    if ran:
        note = _("“%(name)s” ran now, in this process (no task queue is configured): see it in the job monitor.")
    else:
        note = _("“%(name)s” is queued for a worker: follow it in the job monitor.")
    messages.success(request, note % {"name": task.name})
    return redirect("staff:schedules")
