"""What every app's admin shares: read-only pages for records the product writes (runs, recipients, audit rows),
and values shown for people (durations in words, settings and metrics as tables) instead of raw floats and JSON."""

from __future__ import annotations

from numbers import Number
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


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


def percent_text(value: float | None) -> str:
    """A share stored as a fraction for people: 0.1 -> '10 %', 0.125 -> '12.5 %', None -> '—'."""
    if value is None or value != value:
        return "—"
    percent = round(float(value) * 100, 2)
    decimals = next(places for places in (0, 1, 2) if round(percent, places) == percent)
    return _("%(n)s %%") % {"n": number_format(percent, decimal_pos=decimals, use_l10n=True)}


class PercentField(forms.FloatField):
    """A share stored as a fraction (0.1) that staff read and type as a percentage (10); bounds in percent."""

    default_error_messages = {
        "min_value": gettext_lazy("Give at least %(limit_value)s %%."),
        "max_value": gettext_lazy("Give at most %(limit_value)s %%."),
        "invalid": gettext_lazy("Give a percentage, a number like 10 or 12.5."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.NumberInput(attrs={"step": "any", "style": "width: 6em"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        # A fraction from the instance or the default; typed text (a form shown again with errors) stays as typed.
        if isinstance(value, float | int) and not isinstance(value, bool):
            return f"{round(value * 100, 4):g}"
        return value

    def clean(self, value):
        percent = super().clean(value)
        return None if percent is None else round(percent / 100, 6)

    def has_changed(self, initial, data) -> bool:
        return super().has_changed(self.prepare_value(initial), data)


def percent_formfield(db_field, **kwargs) -> PercentField:
    """The model's FloatField of a share as a PercentField, its validators' bounds turned into percentages."""
    bounds = {
        key: int(percent) if (percent := round(limit * 100, 6)).is_integer() else percent
        for validator in db_field.validators
        for key, kind in (("min_value", MinValueValidator), ("max_value", MaxValueValidator))
        if type(validator) is kind and isinstance(limit := validator.limit_value, float | int)
    }
    help_text = db_field.help_text
    return PercentField(
        label=capfirst(db_field.verbose_name),
        required=not db_field.blank,
        help_text=help_text,
        **bounds,
        **{key: value for key, value in kwargs.items() if key in {"widget", "initial"}},
    )


class PercentFieldsMixin:
    """Admin for models keeping shares as fractions (`percent_fields`): forms take and show percentages, and
    the same fields shown read only read '10 %' rather than 0.1."""

    percent_fields: tuple[str, ...] = ()

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in self.percent_fields:
            return percent_formfield(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def with_percent_displays(self, readonly: list[str], *, everything: bool = False) -> list[str]:
        """The read-only field names with the percentage displays of the shares among them (all, if everything)."""
        shares = [name for name in self.percent_fields if everything or name in readonly]
        return [*readonly, *(f"{name}_percent" for name in shares)]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        displayed = set(self.get_readonly_fields(request, obj))

        def swap(names):
            if isinstance(names, list | tuple):
                return type(names)(swap(name) for name in names)
            return f"{names}_percent" if f"{names}_percent" in displayed else names

        return [(title, {**options, "fields": swap(options["fields"])}) for title, options in fieldsets]

    def __getattr__(self, name: str):
        share = name.removesuffix("_percent")
        if share != name and share in type(self).percent_fields:

            def show(obj):
                return percent_text(getattr(obj, share, None))

            show.short_description = capfirst(self.model._meta.get_field(share).verbose_name)
            return show
        raise AttributeError(name)


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
