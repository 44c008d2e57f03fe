"""Fitting a scorecard on loan outcomes, and checking it before anyone activates it.

The data: every loan a partner bank reported, with the features of the rating the bank decided on (stored on that
rating), good when repaid, bad when 90+ days past due or in default; loans still running are left out. The fit: a
logistic regression (scikit-learn, L2) of good:bad on the active card's bins, one indicator per bin and one for a
missing value. Its coefficients are log-odds, so the candidate keeps the card's PDO scaling and anchor (600 at
50:1, 40 points to double the odds) and the grade cut-offs keep their meaning. A bin no loan fell in keeps the
active card's value. The candidate is stored as a new version, never activated here: only a county admin does that.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select
from sqlmodel import Session, col

from ledger.core.base import utcnow
from ledger.core.errors import Conflict
from scoring import metrics
from scoring.card import Card, score_frame
from scoring.models import BAD_EVENTS, LoanEvent, LoanOutcome, Rating

MIN_LOANS, MIN_BAD = 50, 5


class NotEnoughOutcomes(Conflict):
    code = "not_enough_outcomes"


@dataclass(frozen=True)
class Dataset:
    features: pd.DataFrame  # one row per loan, the characteristics' columns
    good: pd.Series  # bool
    disbursed_at: pd.Series


def dataset(session: Session, county_id: int) -> Dataset:
    """Every finished loan of the county: the features it was decided on, and whether it went well."""
    rows = session.execute(
        select(
            col(LoanOutcome.partner_id),
            col(LoanOutcome.loan_ref),
            col(LoanOutcome.event),
            col(LoanOutcome.occurred_at),
            col(Rating.features),
        )
        .join(Rating, col(Rating.id) == col(LoanOutcome.rating_id))
        .where(col(LoanOutcome.county_id) == county_id)
    ).all()
    loans: dict[tuple[int, str], dict[str, Any]] = {}
    for partner, ref, event, occurred, features in rows:
        loan = loans.setdefault((partner, ref), {"features": features, "events": set(), "disbursed_at": None})
        loan["events"].add(event)
        if event == LoanEvent.DISBURSED:
            loan["disbursed_at"] = occurred
    finished = [
        loan
        for loan in loans.values()
        if LoanEvent.DISBURSED in loan["events"]
        and (loan["events"] & set(BAD_EVENTS) or LoanEvent.REPAID in loan["events"])
    ]
    features = pd.DataFrame([loan["features"] for loan in finished]).astype("float64")
    good = pd.Series([not (loan["events"] & set(BAD_EVENTS)) for loan in finished], dtype=bool)
    return Dataset(features, good, pd.Series([loan["disbursed_at"] for loan in finished]))


def design(card: Card, features: pd.DataFrame) -> pd.DataFrame:
    """One 0/1 column per bin of each characteristic (and one for a missing value)."""
    columns = {}
    for c in card.characteristics:
        values = features[c.name].to_numpy(dtype="float64") if c.name in features else np.full(len(features), np.nan)
        index = np.searchsorted(np.array(c.uptos), np.nan_to_num(values, nan=0.0), side="left")
        for b in range(len(c.uptos)):
            columns[f"{c.name}:{b}"] = ((index == b) & ~np.isnan(values)).astype("float64")
        columns[f"{c.name}:missing"] = np.isnan(values).astype("float64")
    return pd.DataFrame(columns, index=features.index)


def fit(
    card: Card,
    features: pd.DataFrame,
    good: pd.Series,
    *,
    c: float = 1.0,
    name: str | None = None,
    fitted_on: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A candidate card's content: the active card's bins with fitted log-odds."""
    x = design(card, features)
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(x.to_numpy(), good.to_numpy(dtype=int))
    coefficients = dict(zip(x.columns, model.coef_[0], strict=True))
    seen = x.sum(axis=0)
    content = copy.deepcopy(card.content)
    content["intercept"] = round(float(model.intercept_[0]), 4)
    for characteristic in content["characteristics"]:
        name_ = characteristic["name"]
        for b, bin_ in enumerate(characteristic["bins"]):
            if seen[f"{name_}:{b}"] > 0:
                bin_["log_odds"] = round(float(coefficients[f"{name_}:{b}"]), 4)
        if seen[f"{name_}:missing"] > 0:
            characteristic["missing"] = round(float(coefficients[f"{name_}:missing"]), 4)
    content["name"] = name or f"{card.name} (calibrated {utcnow():%Y-%m-%d})"
    content["parent"] = card.id
    content["fitted_on"] = fitted_on or {"loans": int(len(good)), "bad": int((~good).sum())}
    return content


@dataclass(frozen=True)
class Validation:
    metrics: pd.DataFrame  # metric, active, candidate
    grades: pd.DataFrame  # grade, loans and bad rate under each card
    psi: float
    psi_status: str
    scores: pd.DataFrame  # active, candidate, good (the validation loans)
    holdout: bool  # metrics measured on loans the fit did not see


def validate(active: Card, candidate: Card, loans: Dataset, population: pd.DataFrame, *, holdout: bool) -> Validation:
    scored = pd.DataFrame(
        {
            "active": score_frame(active, loans.features)["score"].to_numpy(),
            "candidate": score_frame(candidate, loans.features)["score"].to_numpy(),
            "active_grade": score_frame(active, loans.features)["grade"].to_numpy(),
            "candidate_grade": score_frame(candidate, loans.features)["grade"].to_numpy(),
            "good": loans.good.to_numpy(),
        }
    ).dropna(subset=["active", "candidate"])
    good = scored["good"].astype(bool)
    table = pd.DataFrame(
        {
            "metric": ["loans", "bad", "AUC", "Gini", "KS"],
            "active": [
                len(scored),
                int((~good).sum()),
                metrics.auc(scored["active"], good),
                metrics.gini(scored["active"], good),
                metrics.ks(scored["active"], good),
            ],
            "candidate": [
                len(scored),
                int((~good).sum()),
                metrics.auc(scored["candidate"], good),
                metrics.gini(scored["candidate"], good),
                metrics.ks(scored["candidate"], good),
            ],
        }
    )
    order = [g for g, _ in active.grades]
    grades = metrics.bad_rate_by_grade(scored["active_grade"], good, order).merge(
        metrics.bad_rate_by_grade(scored["candidate_grade"], good, order),
        on="grade",
        suffixes=("_active", "_candidate"),
    )
    low, high = active.clip
    edges = np.linspace(low, high + 1, 11)
    now_active = score_frame(active, population)["score"].dropna()
    now_candidate = score_frame(candidate, population)["score"].dropna()
    shift = metrics.psi(now_active, now_candidate, edges)
    return Validation(table, grades, shift, metrics.psi_status(shift), scored, holdout)


def split(loans: Dataset) -> tuple[Dataset, Dataset, bool]:
    """The older 70 % to fit and the newer 30 % to validate, when there are enough loans; else all of them for
    both (and the report says the figures are in-sample)."""
    if len(loans.good) < 200:
        return loans, loans, False
    order = np.argsort(pd.to_datetime(loans.disbursed_at, utc=True).to_numpy(), kind="stable")
    cut = int(len(order) * 0.7)
    parts = []
    for index in (order[:cut], order[cut:]):
        parts.append(
            Dataset(
                loans.features.iloc[index].reset_index(drop=True),
                loans.good.iloc[index].reset_index(drop=True),
                loans.disbursed_at.iloc[index].reset_index(drop=True),
            )
        )
    return parts[0], parts[1], True


def check_enough(loans: Dataset) -> None:
    bad = int((~loans.good).sum())
    if len(loans.good) < MIN_LOANS or bad < MIN_BAD or bad == len(loans.good):
        raise NotEnoughOutcomes(
            f"Calibration needs at least {MIN_LOANS} finished loans with at least {MIN_BAD} bad "
            f"and some good; there are {len(loans.good)} with {bad} bad.",
            loans=len(loans.good),
            bad=bad,
        )


def population(session: Session, county_id: int) -> pd.DataFrame:
    """The features of each household's newest rating in the county: who would be rated, and how."""
    newest = (
        select(col(Rating.household_id), col(Rating.id))
        .where(col(Rating.county_id) == county_id)
        .order_by(col(Rating.household_id), col(Rating.id).desc())
    )
    seen: dict[int, int] = {}
    for household, rating_id in session.execute(newest):
        seen.setdefault(household, rating_id)
    rows = session.execute(select(col(Rating.features)).where(col(Rating.id).in_(list(seen.values())))).scalars().all()
    return pd.DataFrame(list(rows)).astype("float64")


def check_version(session: Session, county_id: int, candidate: Card, active: Card) -> Validation:
    """How a stored version separates the county's finished loans against the card in force, as `shanzhi
    calibrate` reports it (on the newest 30 % of loans where there are 200 or more), and how the county's scores
    would shift: what the county admin reads before activating it. Too few outcomes: `NotEnoughOutcomes`."""
    loans = dataset(session, county_id)
    check_enough(loans)
    _, test, holdout = split(loans)
    people = population(session, county_id)
    if people.empty:  # nobody rated yet: the loans stand for the county
        people = loans.features
    return validate(active, candidate, test, people, holdout=holdout)


def fitted_on(train: Dataset, when: datetime) -> dict[str, Any]:
    return {"loans": int(len(train.good)), "bad": int((~train.good).sum()), "at": when.isoformat()}
