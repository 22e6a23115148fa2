"""The fairness notebook's plots at many segments (report/fairness_plots.py)."""

import numpy as np

from mmm_evidence.report.fairness_plots import labelled_points


def test_every_point_is_labelled_while_the_labels_fit() -> None:
    assert labelled_points([0.1, -0.2, 0.05], limit=12) == [0, 1, 2]


def test_many_points_label_the_largest_errors_and_both_ends_of_the_gap() -> None:
    rng = np.random.default_rng(0)
    errors = rng.uniform(-0.1, 0.1, 100)
    errors[91], errors[12] = 0.9, -0.8  # the segments the uplift gap names
    errors[5] = np.nan
    chosen = labelled_points(errors, limit=12)
    assert len(chosen) == 12 and chosen == sorted(chosen)
    assert {91, 12} <= set(chosen) and 5 not in chosen
    largest = set(np.argsort(-np.abs(np.nan_to_num(errors)))[:12])
    assert set(chosen) == largest
