"""How well a score separates good from bad, and how much a score distribution moved. Pure numpy/pandas.

- AUC: the chance that a random good outcome scored higher than a random bad one (ties count half).
- Gini = 2 · AUC − 1.
- KS: the largest gap between the cumulative score distributions of bad and good outcomes.
- PSI = Σ (A − E) · ln(A / E) over score bins, A and E the shares of the new and the old distribution in each
  bin: below 0.10 stable, 0.10–0.25 watch, above 0.25 shifted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def auc(scores: np.ndarray | pd.Series, good: np.ndarray | pd.Series) -> float:
    scores, good = np.asarray(scores, dtype="float64"), np.asarray(good, dtype=bool)
    n_good, n_bad = int(good.sum()), int((~good).sum())
    if n_good == 0 or n_bad == 0:
        raise ValueError("AUC needs both good and bad outcomes")
    ranks = pd.Series(scores).rank(method="average").to_numpy()  # ties share their average rank
    return float((ranks[good].sum() - n_good * (n_good + 1) / 2) / (n_good * n_bad))


def gini(scores: np.ndarray | pd.Series, good: np.ndarray | pd.Series) -> float:
    return 2 * auc(scores, good) - 1


def ks(scores: np.ndarray | pd.Series, good: np.ndarray | pd.Series) -> float:
    scores, good = np.asarray(scores, dtype="float64"), np.asarray(good, dtype=bool)
    thresholds = np.unique(scores)
    bad_cdf = np.searchsorted(np.sort(scores[~good]), thresholds, side="right") / max((~good).sum(), 1)
    good_cdf = np.searchsorted(np.sort(scores[good]), thresholds, side="right") / max(good.sum(), 1)
    return float(np.max(np.abs(bad_cdf - good_cdf))) if len(thresholds) else 0.0


def psi(
    expected: np.ndarray | pd.Series, actual: np.ndarray | pd.Series, edges: np.ndarray, floor: float = 1e-4
) -> float:
    """Population stability of `actual` against `expected`, over the bins `edges` (a share of 0 counts as
    `floor`, so an empty bin does not make the index infinite)."""
    e = np.histogram(np.asarray(expected, dtype="float64"), bins=edges)[0] / max(len(expected), 1)
    a = np.histogram(np.asarray(actual, dtype="float64"), bins=edges)[0] / max(len(actual), 1)
    e, a = np.maximum(e, floor), np.maximum(a, floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_status(value: float) -> str:
    return "stable" if value < 0.10 else "watch" if value <= 0.25 else "shifted"


def bad_rate_by_grade(grades: pd.Series, good: pd.Series, order: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"grade": grades.to_numpy(), "bad": ~good.to_numpy(dtype=bool)})
    table = frame.groupby("grade")["bad"].agg(loans="count", bad="sum").reindex(order, fill_value=0)
    table["bad_rate"] = (table["bad"] / table["loans"].where(table["loans"] > 0)).round(4)
    return table.reset_index()
