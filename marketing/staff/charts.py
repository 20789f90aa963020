"""Small server-drawn SVG charts for the staff pages: no script, no CDN, and each has a table beside it."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def line_chart_svg(
    points: list[tuple[str, float]], *, label: str, width: int = 560, height: int = 140, pad: int = 28
) -> SafeString:
    """A line through (label, value) points with the first and last labels under it and the maximum beside it."""
    if not points:
        return mark_safe("")
    values = [float(v) for _, v in points]
    top = max(values) or 1.0
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    xy = [(pad + i * step, height - pad - (v / top) * (height - 2 * pad)) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    area = f"{pad:.1f},{height - pad:.1f} {path} {xy[-1][0]:.1f},{height - pad:.1f}"
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(name)}: {value:,.0f}</title></circle>'
        for (x, y), (name, value) in zip(xy, points, strict=True)
    )
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f'<polygon class="area" points="{area}"/><polyline class="line" points="{path}"/>{dots}'
        f'<line class="axis" x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}"/>'
        f'<text x="{pad}" y="{height - 8}">{escape(points[0][0])}</text>'
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">{escape(points[-1][0])}</text>'
        f'<text x="{pad}" y="14">{top:,.0f}</text>'
        f"</svg>"
    )


def heat_color(share: float) -> str:
    """A cell colour from white (0) to the admin's blue (the largest cell)."""
    share = min(max(share, 0.0), 1.0)
    low, high = (255, 255, 255), (65, 118, 144)  # admin --primary #417690
    r, g, b = (round(lo + (hi - lo) * share) for lo, hi in zip(low, high, strict=True))
    return f"rgb({r}, {g}, {b})"
