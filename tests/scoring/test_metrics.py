"""Separation and stability measures against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring import metrics


def test_auc_gini_and_ks_by_hand() -> None:
    scores, good = np.array([1, 2, 3, 4]), np.array([False, False, True, True])
    assert metrics.auc(scores, good) == 1.0 and metrics.gini(scores, good) == 1.0 and metrics.ks(scores, good) == 1.0
    # goods {1, 3}, bads {2, 4}: of the four good-bad pairs only (3, 2) is ordered right
    scores, good = np.array([1, 2, 3, 4]), np.array([True, False, True, False])
    assert metrics.auc(scores, good) == 0.25 and metrics.gini(scores, good) == -0.5
    # cumulative shares at 1, 2, 3, 4: bad 0, .5, .5, 1; good .5, .5, 1, 1
    assert metrics.ks(scores, good) == 0.5
    assert metrics.auc(np.array([5, 5]), np.array([True, False])) == 0.5  # a tie counts half
    with pytest.raises(ValueError, match="both"):
        metrics.auc(np.array([1, 2]), np.array([True, True]))


def test_psi_by_hand() -> None:
    edges = np.array([0, 10, 20])
    expected, actual = np.array([1, 2, 11, 12]), np.array([1, 11, 12, 13])  # shares .5/.5 then .25/.75
    value = metrics.psi(expected, actual, edges)
    assert math.isclose(value, (0.25 - 0.5) * math.log(0.5) + (0.75 - 0.5) * math.log(1.5))
    assert metrics.psi_status(value) == "shifted" and metrics.psi_status(0.05) == "stable"
    assert metrics.psi_status(0.2) == "watch"
    assert metrics.psi(expected, expected, edges) == 0.0


def test_bad_rate_per_grade_counts_every_grade() -> None:
    table = metrics.bad_rate_by_grade(
        pd.Series(["A", "A", "B", "A"]), pd.Series([True, False, False, True]), ["AAA", "A", "B"]
    )
    assert table[["grade", "loans", "bad"]].values.tolist() == [["AAA", 0, 0], ["A", 3, 1], ["B", 1, 1]]
    assert math.isnan(table["bad_rate"][0]) and table["bad_rate"][1:].tolist() == [0.3333, 1.0]
