"""Numbers for people: the staff pages' filters."""

from datetime import timedelta

from marketing.templatetags.staff_format import duration, interval, metric, num, pct, points, signed


def test_shares_are_percentages():
    assert pct(0.259) == "25.9 %"
    assert pct(0.679864, 2) == "67.99 %"
    assert pct(None) == "–"
    assert pct(float("nan")) == "–"


def test_counts_have_thousands_separators():
    assert num(1234567) == "1,234,567"
    assert num(1234.5678, 2) == "1,234.57"
    assert num("12") == "–"


def test_metrics_keep_three_decimals_and_counts_stay_whole():
    assert metric(0.278184) == "0.278"
    assert metric(1987) == "1,987"


def test_uplift_in_points_with_interval():
    assert points(0.0123) == "+1.2 points"
    assert points(-0.047) == "−4.7 points"
    assert interval([-0.047, 0.057]) == "−4.7 to +5.7 points"
    assert interval(None) == "–"


def test_durations_in_words():
    assert duration(4.790661623000005) == "4.8 s"
    assert duration(125) == "2 min 5 s"
    assert duration(7300) == "2 h 1 min"
    assert duration(timedelta(days=3, hours=1)) == "3 days 1 h"
    assert duration(None) == "–"


def test_signed_z_scores():
    assert signed(1.234) == "+1.23"
    assert signed(-0.5) == "-0.50"
