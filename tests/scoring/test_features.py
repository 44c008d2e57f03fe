"""Features from hand-made histories, with every expected value worked out by hand. Pure: no database."""

from __future__ import annotations

import math
from typing import cast

import pandas as pd

from scoring.features import CLAIM_COLUMNS, DEDUCTION_COLUMNS, ENTRY_COLUMNS, FEATURES, OBJECTION_COLUMNS, features

EMPTY_CLAIMS = pd.DataFrame(columns=CLAIM_COLUMNS)
EMPTY_OBJECTIONS = pd.DataFrame(columns=OBJECTION_COLUMNS)


def frame(rows: list[tuple[object, ...]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def test_a_households_features_as_of_november_2026() -> None:
    entries = frame(
        [
            (1, "2025-11", "environment", 8),  # 12 months back: outside "the last 12", inside 24
            (1, "2025-12", "environment", 30),  # capped to 20 a category a month
            (1, "2026-10", "environment", 5),
            (1, "2026-11", "harmony", 2),
            (1, "2026-11", "environment", 25),  # capped to 20
            (1, "2026-12", "environment", 9),  # after the as-of month: ignored
        ],
        ENTRY_COLUMNS,
    )
    deductions = frame([(1, "2026-06", 5), (1, "2025-01", 2), (1, "2021-10", 10)], DEDUCTION_COLUMNS)
    claims = frame([(1, 8, 2)], CLAIM_COLUMNS)
    objections = frame([(1, 1)], OBJECTION_COLUMNS)
    row = features([1], entries, deductions, claims, objections, as_of_month="2026-11", category_month_cap=20).loc[1]
    assert row["tenure_months"] == 12  # first positive month 2025-11
    assert row["active_months_12"] == 3  # 2025-12, 2026-10, 2026-11
    assert row["months_since_last_positive"] == 0
    assert row["points_12m_capped"] == 20 + 5 + (20 + 2)
    assert row["categories_24m"] == 2
    assert row["active_months_total"] == 4
    assert row["deductions_24m"] == 2 and row["deduction_points_24m"] == 7  # 2021-10 is older than 24 months
    assert row["months_since_last_deduction"] == 5
    assert (row["claims_decided_24m"], row["claims_rejected_24m"], row["rejected_share"]) == (8, 2, 0.25)
    assert row["objections_upheld_24m"] == 1


def test_negative_history_older_than_five_years_is_never_used() -> None:
    deductions = frame([(1, "2021-11", 10), (1, "2021-12", 3)], DEDUCTION_COLUMNS)  # 60 and 59 months back
    row = features(
        [1],
        frame([], ENTRY_COLUMNS),
        deductions,
        EMPTY_CLAIMS,
        EMPTY_OBJECTIONS,
        as_of_month="2026-11",
        category_month_cap=20,
    ).loc[1]
    assert row["months_since_last_deduction"] == 59  # the 60-month-old one is gone; the 59-month-old counts
    assert row["deductions_24m"] == 0


def test_a_household_with_nothing_has_missing_where_nothing_can_be_measured() -> None:
    out = features(
        [7],
        frame([], ENTRY_COLUMNS),
        frame([], DEDUCTION_COLUMNS),
        EMPTY_CLAIMS,
        EMPTY_OBJECTIONS,
        as_of_month="2026-11",
        category_month_cap=20,
    )
    row = out.loc[7]
    assert list(out.columns) == FEATURES
    for missing in ("tenure_months", "months_since_last_positive", "months_since_last_deduction", "rejected_share"):
        assert math.isnan(cast(float, row[missing])), missing
    for zero in ("active_months_12", "points_12m_capped", "categories_24m", "deductions_24m", "claims_decided_24m"):
        assert row[zero] == 0, zero


def test_a_negative_net_month_counts_as_nothing_not_as_a_debt() -> None:
    entries = frame([(1, "2026-09", "environment", 6), (1, "2026-10", "environment", -4)], ENTRY_COLUMNS)
    row = features(
        [1],
        entries,
        frame([], DEDUCTION_COLUMNS),
        EMPTY_CLAIMS,
        EMPTY_OBJECTIONS,
        as_of_month="2026-11",
        category_month_cap=20,
    ).loc[1]
    assert (row["points_12m_capped"], row["active_months_12"], row["months_since_last_positive"]) == (6, 1, 2)
