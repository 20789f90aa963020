"""Chart specifications for the staff pages: plain data that a page embeds as a JSON data island (`json_script`)
and `staff/charts.js` draws with Chart.js. Every chart sits beside a table or text saying the same.

The page's Python says what to draw (labels, values, how to format them); the script only maps that onto
Chart.js, so the figures a chart shows are the ones the tests read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from django.utils.translation import gettext as _

# How the script formats values on axes and in tooltips (in the page's language):
# count 12,345 · percent 0.259 -> 25.9 % · points 0.012 -> +1.2 points · money 12.5 -> 12.50 · z 1.2 -> +1.20
Format = Literal["count", "percent", "points", "money", "number", "z"]
FORMATS = ("count", "percent", "points", "money", "number", "z")


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown chart format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def _number(value: Any) -> float | None:
    """A JSON number (Decimal and int included), or None for a missing value (a gap in the chart)."""
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN is no value


def _base(kind: str, title: str, fmt: str) -> dict[str, Any]:
    return {"type": kind, "title": str(title), "format": _check_format(fmt), "unit": _("points")}


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Any]]],
    *,
    title: str,
    fmt: Format = "count",
    x_title: str = "",
    y_title: str = "",
) -> dict[str, Any]:
    """Lines over the same labels (dates, months): one per (name, values); None values leave a gap."""
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")
    return {
        **_base("line", title, fmt),
        "labels": [str(label) for label in labels],
        "series": [{"label": str(name), "data": [_number(v) for v in values]} for name, values in series],
        "x_title": str(x_title),
        "y_title": str(y_title),
    }


def bar_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Any]]],
    *,
    title: str,
    fmt: Format = "count",
    horizontal: bool = False,
    signed: bool = False,
    x_title: str = "",
    y_title: str = "",
) -> dict[str, Any]:
    """Bars per label, one colour per series. `signed` colours negative values apart (z-scores)."""
    chart = line_chart(labels, series, title=title, fmt=fmt, x_title=x_title, y_title=y_title)
    return {**chart, "type": "bar", "horizontal": horizontal, "signed": signed}


def interval_chart(
    labels: Sequence[str],
    estimates: Sequence[Any],
    intervals: Sequence[Sequence[Any] | None],
    *,
    title: str,
    fmt: Format = "points",
    x_title: str = "",
) -> dict[str, Any]:
    """An estimate with its 95 % interval per row, against a zero line: green when the interval lies above zero,
    red below, grey when it straddles zero (the difference cannot be told from chance)."""
    if not len(labels) == len(estimates) == len(intervals):
        raise ValueError(f"{len(labels)} labels, {len(estimates)} estimates and {len(intervals)} intervals")
    rows = []
    for estimate, ci in zip(estimates, intervals, strict=True):
        low, high = (_number(ci[0]), _number(ci[1])) if ci else (None, None)
        verdict = "unclear"
        if low is not None and low > 0:
            verdict = "above"
        elif high is not None and high < 0:
            verdict = "below"
        rows.append({"estimate": _number(estimate), "low": low, "high": high, "verdict": verdict})
    return {
        **_base("interval", title, fmt),
        "labels": [str(label) for label in labels],
        "rows": rows,
        "x_title": str(x_title),
        "legend": {
            "estimate": _("estimate"),
            # xgettext:no-python-format
            "interval": _("95 % interval"),
        },
    }


def scatter_chart(
    groups: Sequence[tuple[str, Sequence[Sequence[float]]]], *, title: str, x_title: str = "", y_title: str = ""
) -> dict[str, Any]:
    """Points (x, y) coloured by group: one legend entry per group."""
    return {
        **_base("scatter", title, "number"),
        "series": [
            {"label": str(name), "data": [[round(float(x), 3), round(float(y), 3)] for x, y in points]}
            for name, points in groups
        ],
        "x_title": str(x_title),
        "y_title": str(y_title),
    }


def matrix_chart(
    x_labels: Sequence[str],
    y_labels: Sequence[str],
    cells: Sequence[tuple[str, str, Any, str] | tuple[str, str, Any, str, str]],
    *,
    title: str,
    fmt: Format = "count",
    x_title: str = "",
    y_title: str = "",
) -> dict[str, Any]:
    """A heat map: (x label, y label, value, text[, label]) per cell, shaded by value against the largest; the text
    shows in the cell's tooltip, the short label (a segment's name, a count) in the cell where it fits. Rows are
    drawn top to bottom in the order given."""
    known_x, known_y = {str(x) for x in x_labels}, {str(y) for y in y_labels}
    out = []
    for x, y, value, text, *label in cells:
        if str(x) not in known_x or str(y) not in known_y:
            raise ValueError(f"cell ({x!r}, {y!r}) is outside the grid's labels")
        cell = {
            "x": str(x),
            "y": str(y),
            "v": _number(value) or 0.0,
            "text": str(text),
            "label": str(label[0]) if label else "",
        }
        out.append(cell)
    return {
        **_base("matrix", title, fmt),
        "x_labels": [str(x) for x in x_labels],
        "y_labels": [str(y) for y in y_labels],
        "cells": out,
        "max": max((c["v"] for c in out), default=0.0),
        "x_title": str(x_title),
        "y_title": str(y_title),
    }


def heat_color(share: float) -> str:
    """A table cell's colour from white (0) to the admin's blue (the largest cell): the heat maps' tables."""
    share = min(max(share, 0.0), 1.0)
    low, high = (255, 255, 255), (65, 118, 144)  # admin --primary #417690
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(low, high, strict=True))
    return f"rgb({r}, {g}, {b})"
