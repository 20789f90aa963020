"""What every app's admin shares: read-only pages for records the product writes (runs, recipients, audit rows),
and values shown for people (durations in words, settings and metrics as tables) instead of raw floats and JSON."""

from __future__ import annotations

from numbers import Number
from typing import Any

from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _


class ReadOnlyAdminMixin:
    """The product writes these rows; staff read them. No add, no Save and no Delete button on their pages."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def seconds_text(value: float | None) -> str:
    """4.790661623 -> '4.8 s', 125 -> '2 min 5 s', 7300 -> '2 h 1 min', None -> '—'."""
    if value is None or not isinstance(value, Number) or value != value:
        return "—"
    seconds = float(value)
    if seconds < 60:
        return _("%(n)s s") % {"n": number_format(round(seconds, 1), decimal_pos=1, use_l10n=True)}
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return _("%(m)s min %(s)s s") % {"m": minutes, "s": rest}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}


def value_text(value: Any) -> str:
    """A setting or metric value for people: 0.123456 -> '0.123', 12345 -> '12,345', True -> 'yes', lists joined."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int):
        return number_format(value, use_l10n=True, force_grouping=True)
    if isinstance(value, float):
        if value != value:
            return "—"
        digits = 1 if abs(value) >= 100 else 3
        return number_format(round(value, digits), decimal_pos=digits, use_l10n=True, force_grouping=True)
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {value_text(v)}" for k, v in value.items()) or "—"
    return str(value)


def mapping_table(mapping: dict[str, Any] | None, *, key_header: str = "", value_header: str = "") -> SafeString | str:
    """A dict (a run's parameters or metrics) as a two-column table of readable values; '—' when empty."""
    if not mapping:
        return "—"
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((k, value_text(v)) for k, v in mapping.items()))
    return format_html(
        "<table><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        key_header or _("setting"),
        value_header or _("value"),
        rows,
    )
