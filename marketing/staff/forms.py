"""Forms of the staff site: they offer what exists and leave the checks that matter to the services."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django import forms
from django.conf import settings
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from marketing.models import Campaign
from marketing.schedules import AUDIENCE_STATUSES, JOBS, WEEKDAYS, Frequency, Timing
from segments.models import SegmentationDefinition


def _algorithm_choices() -> list[tuple[str, str]]:
    from recommender.ml.registry import ALGORITHMS

    return [("", _("chosen by the data's size")), *((name, name) for name in sorted(ALGORITHMS))]


@cache
def _timezone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())


@cache
def timezone_datalist() -> SafeString:
    """The time zones as one <datalist> for the time zone field to suggest from, built once per process (a select
    of some 600 options cost more to render than the rest of the page)."""
    options = format_html_join("", '<option value="{}">', ((name,) for name in _timezone_names()))
    return format_html('<datalist id="timezones">{}</datalist>', options)


class ScheduleForm(forms.Form):
    """A job, its one argument, and the timing: how often, at what time, in which time zone."""

    job = forms.ChoiceField(label=_("Job"), choices=[(job.key, job.label) for job in JOBS.values()])
    algorithm = forms.ChoiceField(
        label=_("Algorithm"), required=False, help_text=_("For retraining: leave it to pick one by the data's size.")
    )
    definition = forms.ModelChoiceField(
        label=_("Segmentation"),
        required=False,
        queryset=SegmentationDefinition.objects.order_by("name"),
        help_text=_("For running one segmentation."),
    )
    campaign = forms.ModelChoiceField(
        label=_("Campaign"),
        required=False,
        queryset=Campaign.objects.filter(status__in=AUDIENCE_STATUSES).order_by("name"),
        help_text=_("For refreshing an audience: a draft or scheduled campaign."),
    )
    frequency = forms.ChoiceField(label=_("How often"), choices=Frequency.CHOICES, initial=Frequency.DAILY)
    time = forms.TimeField(
        label=_("At"),
        required=False,
        initial="03:00",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Hour and minute; an hourly job uses only the minute."),
    )
    weekday = forms.TypedChoiceField(label=_("On (weekly)"), choices=WEEKDAYS, coerce=int, initial=1, required=False)
    day = forms.IntegerField(label=_("On day (monthly)"), min_value=1, max_value=28, initial=1, required=False)
    timezone = forms.ChoiceField(
        label=_("Time zone"),
        widget=forms.TextInput(attrs={"list": "timezones", "autocomplete": "off", "spellcheck": "false"}),
        help_text=_("Type to pick, e.g. Europe/Berlin."),
    )
    name = forms.CharField(
        label=_("Name"), max_length=200, required=False, help_text=_("Leave empty for a name made from the job.")
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["algorithm"].choices = _algorithm_choices()
        self.fields["timezone"].choices = [(name, name) for name in _timezone_names()]
        self.fields["timezone"].initial = settings.TIME_ZONE

    def clean(self):
        data = super().clean()
        job = JOBS.get(data.get("job", ""))
        if job is not None and job.argument and not job.optional and not data.get(job.argument):
            self.add_error(job.argument, _("Choose one for “%(job)s”.") % {"job": job.label})
        if data.get("frequency") and data.get("frequency") != Frequency.HOURLY and data.get("time") is None:
            self.add_error("time", _("Give the time of day, like 03:00."))
        return data

    def timing(self) -> Timing:
        data = self.cleaned_data
        at = data.get("time")
        return Timing(
            frequency=data["frequency"],
            minute=at.minute if at else 0,
            hour=at.hour if at else 0,
            weekday=data.get("weekday") if data.get("weekday") is not None else 1,
            day=data.get("day") or 1,
            timezone=data["timezone"],
        )

    def argument(self):
        job = JOBS[self.cleaned_data["job"]]
        return self.cleaned_data.get(job.argument) if job.argument else None
