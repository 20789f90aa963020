"""Segment profiles and generated names (no database)."""

import numpy as np
import pandas as pd
import pytest

from segments.ml.matching import adjusted_rand, match_segments, movement
from segments.ml.profiles import name_segments, segment_profiles


def _frame():
    rng = np.random.default_rng(0)
    n = 300
    lapsed_big = np.arange(n) < 60
    recent_small = (np.arange(n) >= 60) & (np.arange(n) < 200)
    recency = np.where(lapsed_big, 210.0, np.where(recent_small, 10.0, 60.0)) + rng.normal(0, 2, n)
    monetary = np.where(lapsed_big, 2000.0, np.where(recent_small, 80.0, 300.0)) * rng.uniform(0.9, 1.1, n)
    features = pd.DataFrame(
        {"recency_days": recency, "monetary": monetary, "frequency": rng.integers(1, 4, n).astype(float)},
        index=pd.RangeIndex(n, name="customer_id"),
    )
    labels = pd.Series(np.where(lapsed_big, "a", np.where(recent_small, "b", "c")), index=features.index)
    return features, labels


def test_profile_has_size_share_revenue_share_and_z_scores():
    features, labels = _frame()
    profiles = segment_profiles(features, labels)
    a = profiles["a"]
    assert a["size"] == 60 and a["share"] == 0.2
    assert (
        sum(p["revenue_share"] for p in profiles.values()) == 1.0
        or abs(sum(p["revenue_share"] for p in profiles.values()) - 1) < 1e-5
    )
    assert a["revenue_share"] > 0.7
    recency = a["features"]["recency_days"]
    assert recency["mean"] == pytest.approx(features.loc[labels == "a", "recency_days"].mean(), rel=1e-3)
    expected_z = (recency["mean"] - features["recency_days"].mean()) / features["recency_days"].std(ddof=0)
    assert abs(recency["z"] - expected_z) < 1e-3


def test_names_and_descriptions_come_from_the_most_distinctive_features():
    features, labels = _frame()
    names = name_segments(segment_profiles(features, labels))
    name, description = names["a"]
    assert name == "Lapsed big spenders"
    assert description.startswith("last order 210 days ago (all customers: ")
    assert "× average" in description
    assert names["b"][0].startswith("Recent")
    assert len({n for n, _ in names.values()}) == 3
    assert not any("cluster" in n.lower() for n, _ in names.values())


def test_identical_profiles_still_get_distinct_names():
    features, labels = _frame()
    twin = segment_profiles(features, labels)["a"]
    names = name_segments({"x": twin, "y": twin})
    assert names["x"][0] != names["y"][0]


def test_matching_movement_and_ari_between_runs():
    previous = pd.Series(["a"] * 5 + ["b"] * 5, index=range(10))
    current = pd.Series(["q"] * 4 + ["p"] * 6 + ["p"], index=range(11))  # customer 10 is new
    assert match_segments(previous, current) == {"q": "a", "p": "b"}
    moved = {(a, b): n for a, b, n in movement(previous, current)}
    assert moved == {("a", "q"): 4, ("a", "p"): 1, ("b", "p"): 5, (None, "p"): 1}
    assert adjusted_rand(previous, previous.map({"a": "z", "b": "y"})) == 1.0
    assert adjusted_rand(previous, current) < 1.0
