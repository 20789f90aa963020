"""Numbers for people on the staff pages: shares as percentages, counts with thousands separators, durations
in words, uplift in percentage points with its interval."""

from __future__ import annotations

from datetime import timedelta
from numbers import Number

from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext as _

register = template.Library()


def _fmt(value: float, digits: int, *, grouping: bool = True) -> str:
    # number_format cuts decimals off; round first so 4.79 shows as 4.8.
    return number_format(round(float(value), digits), decimal_pos=digits, use_l10n=True, force_grouping=grouping)


def _is_number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool) and value == value  # NaN != NaN


@register.filter
def pct(value, digits: int = 1) -> str:
    """0.259 -> '25.9 %'; None -> '–'."""
    if not _is_number(value):
        return "–"
    return f"{_fmt(100 * float(value), int(digits))} %"


@register.filter
def num(value, digits: int = 0) -> str:
    """12345.678 -> '12,346' (digits=0) or '12,345.68' (digits=2)."""
    if not _is_number(value):
        return "–"
    return _fmt(value, int(digits))


@register.filter
def metric(value) -> str:
    """A model or run metric: a share between 0 and 1 with three decimals, a large count with separators."""
    if not _is_number(value):
        return "–"
    value = float(value)
    if abs(value) >= 1000 or value == int(value):
        return num(value)
    return _fmt(value, 3)


@register.filter
def points(value, digits: int = 1) -> str:
    """An uplift (difference of two rates) in percentage points with its sign: 0.0123 -> '+1.2 points'."""
    if not _is_number(value):
        return "–"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return _("%(sign)s%(value)s points") % {
        "sign": sign,
        "value": _fmt(abs(100 * float(value)), int(digits)),
    }


@register.filter
def interval(ci, digits: int = 1) -> str:
    """A 95 % interval of an uplift in points: [-0.01, 0.03] -> '−1.0 to +3.0 points'."""
    if not ci or len(ci) != 2 or not all(_is_number(v) for v in ci):
        return "–"
    low, high = (points(v, digits).split(" ")[0] for v in ci)
    return _("%(low)s to %(high)s points") % {"low": low, "high": high}


@register.filter
def duration(value) -> str:
    """Seconds (or a timedelta) in words: 4.79 -> '4.8 s', 125 -> '2 min 5 s', 7300 -> '2 h 1 min'."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not _is_number(value):
        return "–"
    seconds = float(value)
    if seconds < 60:
        return _("%(s)s s") % {"s": _fmt(seconds, 1)}
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": secs}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    return _("%(d)d days %(h)d h") % {"d": hours // 24, "h": hours % 24}


@register.filter
def signed(value, digits: int = 2) -> str:
    """A z-score with its sign: 1.234 -> '+1.23'."""
    if not _is_number(value):
        return "–"
    return ("+" if value > 0 else "") + _fmt(value, int(digits))
