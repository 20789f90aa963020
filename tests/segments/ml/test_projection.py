"""The segment explorer's 2-D picture: a per-segment sample placed on two principal components (no database)."""

import numpy as np
import pandas as pd
import pytest

from segments.ml.projection import project_2d, sample_per_segment


def test_sample_keeps_proportions_and_a_floor_for_small_segments():
    labels = pd.Series(["big"] * 9000 + ["mid"] * 990 + ["tiny"] * 10, index=np.arange(10000) * 3)
    sample = sample_per_segment(labels, max_points=1000, min_per_segment=25, seed=1)
    counts = sample.value_counts()
    assert counts["big"] == 900 and counts["mid"] == 99
    assert counts["tiny"] == 10  # all of a segment smaller than the floor
    assert sample.index.is_unique and set(sample.index) <= set(labels.index)
    assert (labels.loc[sample.index] == sample).all()
    again = sample_per_segment(labels, max_points=1000, min_per_segment=25, seed=1)
    pd.testing.assert_series_equal(sample, again)


def test_sample_refuses_a_non_positive_size():
    with pytest.raises(ValueError, match="max_points must be positive; got 0"):
        sample_per_segment(pd.Series(["a"]), max_points=0)


def test_two_components_find_the_directions_that_separate_the_groups():
    rng = np.random.default_rng(0)
    # Two groups apart along (1, 1, 0); the third column is noise of smaller spread.
    a = rng.normal(0, 0.3, size=(200, 3)) + np.array([2, 2, 0])
    b = rng.normal(0, 0.3, size=(200, 3)) - np.array([2, 2, 0])
    matrix = np.vstack([a, b])
    xy, explained = project_2d(matrix, matrix, seed=0)
    assert xy.shape == (400, 2)
    assert explained[0] > 0.9 and explained[0] + explained[1] <= 1.0 + 1e-9
    # The first axis alone tells the groups apart.
    assert (np.sign(xy[:200, 0]) == -np.sign(xy[200:, 0].mean())).all()
    assert abs(xy[:200, 0].mean() - xy[200:, 0].mean()) > 4


def test_constant_features_leave_every_point_at_the_origin():
    matrix = np.ones((10, 3))
    xy, explained = project_2d(matrix, matrix)
    np.testing.assert_allclose(xy, 0.0)
    assert explained == (0.0, 0.0)


def test_mismatched_columns_are_refused():
    with pytest.raises(ValueError, match=r"same columns; got \(4, 3\) and \(2, 2\)"):
        project_2d(np.zeros((4, 3)), np.zeros((2, 2)))
