"""Calibration recovers a known effect from synthetic outcomes; the CLI writes a candidate and its report; only a
county admin activates it, and the county's ratings follow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring import calibration, metrics
from scoring.card import Card, score_frame

CARD = Card.shipped()
GOODISH = {
    "tenure_months": 30,
    "months_since_last_positive": 0,
    "points_12m_capped": 150,
    "categories_24m": 5,
    "months_since_last_deduction": np.nan,
    "rejected_share": 0.0,
    "objections_upheld_24m": 0,
}


def synthetic(n: int, seed: int = 7) -> tuple[pd.DataFrame, pd.Series, dict[str, list[float]]]:
    """Loans whose odds depend on two characteristics by known log-odds per bin."""
    rng = np.random.default_rng(seed)
    truth = {"active_months_12": [-1.0, 0.0, 0.5, 1.0], "deductions_24m": [0.5, -0.5, -1.5]}
    active = rng.integers(0, 13, n)
    deductions = rng.choice([0, 1, 2, 3], n, p=[0.6, 0.2, 0.1, 0.1])
    features = pd.DataFrame(
        {
            **{k: np.full(n, v, dtype="float64") for k, v in GOODISH.items()},
            "active_months_12": active.astype("float64"),
            "deductions_24m": deductions.astype("float64"),
        }
    )
    active_bin = np.searchsorted([2, 5, 8, np.inf], active, side="left")
    deduction_bin = np.searchsorted([0, 1, np.inf], deductions, side="left")
    log_odds = 1.5 + np.array(truth["active_months_12"])[active_bin] + np.array(truth["deductions_24m"])[deduction_bin]
    good = pd.Series(rng.random(n) < 1 / (1 + np.exp(-log_odds)))
    return features, good, truth


def test_the_fit_recovers_the_true_log_odds_between_bins() -> None:
    features, good, truth = synthetic(40_000)
    content = calibration.fit(CARD, features, good, c=100.0)
    fitted = {c["name"]: [b["log_odds"] for b in c["bins"]] for c in content["characteristics"]}
    for name, true in truth.items():
        got = fitted[name]
        for b in range(1, len(true)):  # the differences between bins are what the data identify
            assert got[b] - got[0] == pytest.approx(true[b] - true[0], abs=0.15), (name, b)
    candidate = Card.from_content(content)
    assert candidate.id != CARD.id and content["parent"] == CARD.id
    assert (candidate.factor, candidate.offset) == (CARD.factor, CARD.offset)  # the same units and anchor
    scores = score_frame(candidate, features)["score"]
    assert metrics.auc(scores, good) > metrics.auc(score_frame(CARD, features)["score"], good) - 0.01
    assert metrics.auc(scores, good) > 0.65


def test_bins_no_loan_fell_in_keep_the_active_value() -> None:
    features, good, _ = synthetic(2_000)
    features["tenure_months"] = 30.0  # every loan in the top tenure bin
    content = calibration.fit(CARD, features, good)
    tenure = next(c for c in content["characteristics"] if c["name"] == "tenure_months")
    shipped = next(c for c in CARD.content["characteristics"] if c["name"] == "tenure_months")
    assert [b["log_odds"] for b in tenure["bins"][:3]] == [b["log_odds"] for b in shipped["bins"][:3]]


def test_too_few_outcomes_are_refused() -> None:
    features, good, _ = synthetic(40)
    with pytest.raises(calibration.NotEnoughOutcomes):
        calibration.check_enough(calibration.Dataset(features, good, pd.Series([None] * 40)))
