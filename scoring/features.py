"""A household's features as of a month, from its settled history. Pure: DataFrames in, a DataFrame out.

The database does the heavy lifting first (ledger/… → scoring/history.py): settled points summed per household,
month and matter category; deductions per household and month; claim decisions and upheld objections counted per
household. Here those sums become the characteristics the scorecard reads. Months are whole calendar months;
"in the last 12" means the month of `as_of` and the 11 before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NEGATIVE_HISTORY_MONTHS = 60  # deductions older than five years are never used
ENTRY_COLUMNS = ["household_id", "month", "category", "points"]
DEDUCTION_COLUMNS = ["household_id", "month", "points"]
CLAIM_COLUMNS = ["household_id", "decided", "rejected"]
OBJECTION_COLUMNS = ["household_id", "upheld"]
FEATURES = [
    "tenure_months",
    "active_months_12",
    "months_since_last_positive",
    "points_12m_capped",
    "categories_24m",
    "deductions_24m",
    "deduction_points_24m",
    "months_since_last_deduction",
    "claims_decided_24m",
    "claims_rejected_24m",
    "rejected_share",
    "objections_upheld_24m",
    "active_months_total",
]


def month_index(months: pd.Series) -> pd.Series:
    """'2026-11' → 2026 · 12 + 10: months as consecutive integers (given as such, they are kept)."""
    if pd.api.types.is_integer_dtype(months.dtype):
        return months.astype("int64")
    text = months.astype(str)
    return text.str.slice(0, 4).astype("int64") * 12 + text.str.slice(5, 7).astype("int64") - 1


def features(
    households: list[int] | np.ndarray,
    entries: pd.DataFrame,
    deductions: pd.DataFrame,
    claims: pd.DataFrame,
    objections: pd.DataFrame,
    *,
    as_of_month: str,
    category_month_cap: int,
) -> pd.DataFrame:
    """One row per household (index household_id), columns FEATURES; NaN where a feature has nothing to measure
    (months since a positive entry when there was none, the rejected share when no claim was decided).

    entries: settled points (net) per household, month ('YYYY-MM', or its `month_index`) and category.
    deductions: deduction points (posted and unpaid) per household and month, of deductions in force.
    claims: per household, claims decided and claims rejected in the last 24 months.
    objections: per household, objections upheld against it in the last 24 months.
    """
    now = int(month_index(pd.Series([as_of_month])).iloc[0])
    out = pd.DataFrame(index=pd.Index(np.asarray(households, dtype="int64"), name="household_id"))

    positive = entries.assign(m=month_index(entries["month"]) if len(entries) else pd.Series(dtype="int64"))
    positive = positive[(positive["points"] > 0) & (positive["m"] <= now)]
    positive = positive.assign(capped=positive["points"].clip(upper=category_month_cap))
    per_month = positive.groupby(["household_id", "m"], as_index=False)["capped"].sum()
    first, last = per_month.groupby("household_id")["m"].min(), per_month.groupby("household_id")["m"].max()
    out["tenure_months"] = now - first
    out["months_since_last_positive"] = now - last
    last_12 = per_month[per_month["m"] > now - 12]
    out["active_months_12"] = last_12.groupby("household_id")["m"].nunique()
    out["points_12m_capped"] = last_12.groupby("household_id")["capped"].sum()
    out["categories_24m"] = positive[positive["m"] > now - 24].groupby("household_id")["category"].nunique()
    out["active_months_total"] = per_month.groupby("household_id")["m"].nunique()

    taken = deductions.assign(m=month_index(deductions["month"]) if len(deductions) else pd.Series(dtype="int64"))
    taken = taken[(taken["m"] <= now) & (taken["m"] > now - NEGATIVE_HISTORY_MONTHS)]
    recent = taken[taken["m"] > now - 24].groupby("household_id")["points"]
    out["deductions_24m"] = recent.count()
    out["deduction_points_24m"] = recent.sum()
    out["months_since_last_deduction"] = now - taken.groupby("household_id")["m"].max()

    decided = claims.set_index("household_id")
    out["claims_decided_24m"] = decided["decided"] if len(decided) else np.nan
    out["claims_rejected_24m"] = decided["rejected"] if len(decided) else np.nan
    out["objections_upheld_24m"] = objections.set_index("household_id")["upheld"] if len(objections) else np.nan
    for count in (
        "active_months_12",
        "points_12m_capped",
        "categories_24m",
        "active_months_total",
        "deductions_24m",
        "deduction_points_24m",
        "claims_decided_24m",
        "claims_rejected_24m",
        "objections_upheld_24m",
    ):
        out[count] = out[count].fillna(0)
    out["rejected_share"] = (out["claims_rejected_24m"] / out["claims_decided_24m"]).where(
        out["claims_decided_24m"] > 0
    )
    return out[FEATURES].astype("float64")
