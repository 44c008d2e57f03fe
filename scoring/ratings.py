"""Ratings: always as of the latest settled ledger.

A rating is stale when the household's record has moved on since it was computed (a settlement, a decision, a
deduction, a dispute: `ledger.tenancy.touch_record`), when a new calendar month has begun (features count
months), or when the county activated another scorecard. Reading a stale rating computes a new one for that one
household on the spot and stores it; ratings are never changed, only superseded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import pandas as pd
from sqlalchemy import insert, select
from sqlmodel import Session

from ledger.base import as_utc, utcnow
from ledger.errors import NotFound
from ledger.tenancy import Household
from scoring import history
from scoring.card import Card, content_id, improve, score_frame, score_one
from scoring.features import FEATURES, features
from scoring.models import Rating, Scorecard, ScorecardActivation

RATING = Rating.__table__


class RatingNotFound(NotFound):
    code = "rating_not_found"


@lru_cache(maxsize=32)
def _card_of(content_json: str) -> Card:
    return Card.from_content(json.loads(content_json))


def card_by_id(session: Session, scorecard_id: str) -> Card:
    row = session.get(Scorecard, scorecard_id)
    if row is None:
        raise NotFound("No such scorecard version.", scorecard_id=scorecard_id)
    return _card_of(json.dumps(row.content, sort_keys=True))


def ensure_card(session: Session, card: Card, *, origin: str, actor: str, parent_id: str | None = None) -> Scorecard:
    """The database row of a card version (made on first sight; a version never changes)."""
    row = session.get(Scorecard, card.id)
    if row is None:
        row = Scorecard(id=card.id, name=card.name, content=card.content, origin=origin, parent_id=parent_id,
                        created_by=actor)
        session.add(row)
        session.flush()
    return row


def active_card(session: Session, county_id: int) -> Card:
    """The county's card in force: the newest activation, or the card shipped with the code before any."""
    activation = session.scalars(
        select(ScorecardActivation).where(ScorecardActivation.county_id == county_id)
        .order_by(ScorecardActivation.id.desc()).limit(1)  # type: ignore[union-attr]
    ).first()
    if activation is not None:
        return card_by_id(session, activation.scorecard_id)
    card = Card.shipped()
    ensure_card(session, card, origin="shipped", actor="system")
    return card


def valid_until(as_of: datetime) -> datetime:
    """A rating holds until the month turns (features count months) or the household's record moves on."""
    return history.month_start(history.month_label(as_of), -1)


def is_fresh(rating: Rating, household: Household, card: Card, now: datetime) -> bool:
    return (rating.scorecard_id == card.id and rating.record_seq == household.record_seq
            and history.month_label(as_utc(rating.as_of)) == history.month_label(now))


def latest(session: Session, household_id: int) -> Rating | None:
    return session.scalars(select(Rating).where(Rating.household_id == household_id)
                           .order_by(Rating.id.desc()).limit(1)).first()  # type: ignore[union-attr]


def current(session: Session, household_id: int, *, now: datetime | None = None) -> Rating:
    """The household's rating as of now: the stored one if still fresh, else a new one computed and stored."""
    now = now or utcnow()
    household = session.get(Household, household_id)
    if household is None:
        raise RatingNotFound("No such household.", household_id=household_id)
    card = active_card(session, household.county_id)
    found = latest(session, household_id)
    if found is not None and is_fresh(found, household, card, now):
        return found
    return compute(session, household, card, now=now)


def compute(session: Session, household: Household, card: Card, *, now: datetime) -> Rating:
    assert household.id is not None
    past = history.load(session, county_id=household.county_id, as_of=now, household_ids=[household.id])
    values = features([household.id], past.entries, past.deductions, past.claims, past.objections,
                      as_of_month=past.as_of_month, category_month_cap=card.category_month_cap).iloc[0]
    clean = _clean(values.to_dict())
    result = score_one(card, clean)
    rating = Rating(household_id=household.id, county_id=household.county_id, scorecard_id=card.id,
                    score=result.score, grade=result.grade, as_of=now, record_seq=household.record_seq,
                    computed_at=now, features=clean, points=result.points, reasons=result.reasons,
                    sufficiency=sufficiency(card, clean))
    session.add(rating)
    session.flush()
    return rating


def how_to_improve(session: Session, rating: Rating) -> dict[str, Any]:
    card = card_by_id(session, rating.scorecard_id)
    result = score_one(card, rating.features)
    return improve(card, rating.features, result)


def sufficiency(card: Card, values: dict[str, Any]) -> dict[str, Any]:
    months = int(values.get("tenure_months") or 0) if values.get("tenure_months") is not None else 0
    return {"months_of_history": months, "active_months": int(values.get("active_months_total") or 0),
            "claims_decided_24m": int(values.get("claims_decided_24m") or 0),
            "sufficient": values.get("tenure_months") is not None and months >= card.not_rated_below_months,
            "needs_months": card.not_rated_below_months}


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe feature values: whole numbers as int, NaN as None."""
    clean: dict[str, Any] = {}
    for name in FEATURES:
        value = values.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            clean[name] = None
        elif float(value).is_integer():
            clean[name] = int(value)
        else:
            clean[name] = round(float(value), 4)
    return clean


@dataclass(frozen=True)
class Rescored:
    households: int
    rated: int
    seconds_loading: float
    seconds_scoring: float
    seconds_writing: float


def rescore_county(session: Session, county_id: int, *, now: datetime | None = None,
                   chunk: int = 50_000) -> Rescored:
    """Rate every household of a county as of now and store the ratings, in chunks of households (so memory
    stays bounded however large the county)."""
    import time

    now = now or utcnow()
    card = active_card(session, county_id)
    ids = list(session.scalars(select(Household.id).where(Household.county_id == county_id)
                               .order_by(Household.id)).all())
    seqs = dict(session.execute(select(Household.id, Household.record_seq)
                                .where(Household.county_id == county_id)).all())
    by_code = {c.reason["code"]: c for c in card.characteristics}
    loading = scoring = writing = 0.0
    rated = 0
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        t0 = time.perf_counter()
        past = history.load(session, county_id=county_id, as_of=now,
                            household_ids=part if len(ids) > chunk else None)
        t1 = time.perf_counter()
        frame = features(part, past.entries, past.deductions, past.claims, past.objections,
                         as_of_month=past.as_of_month, category_month_cap=card.category_month_cap)
        scored = score_frame(card, frame)
        rows = _rows(card, by_code, frame, scored, seqs, county_id, now)
        t2 = time.perf_counter()
        session.connection().execute(insert(RATING), rows)
        t3 = time.perf_counter()
        loading, scoring, writing = loading + t1 - t0, scoring + t2 - t1, writing + t3 - t2
        rated += sum(1 for r in rows if r["grade"] != "NR")
    return Rescored(len(ids), rated, loading, scoring, writing)


def _rows(card: Card, by_code: dict[str, Any], frame: pd.DataFrame, scored: pd.DataFrame, seqs: dict[int, int],
          county_id: int, now: datetime) -> list[dict[str, Any]]:
    rows = []
    names = [c.name for c in card.characteristics]
    feature_records = frame.to_dict(orient="index")
    scored_records = scored.to_dict(orient="index")
    for household_id, values in feature_records.items():
        s = scored_records[household_id]
        clean = _clean(values)
        points = {name: int(s[f"points_{name}"]) for name in names}
        reasons = []
        for rank in range(1, 5):
            code = s.get(f"reason_{rank}")
            if isinstance(code, str):
                c = by_code[code]
                reasons.append({"code": code, "characteristic": c.name, "zh": c.reason["zh"], "en": c.reason["en"],
                                "points_below_best": c.best - points[c.name]})
        score = None if math.isnan(s["score"]) else int(s["score"])
        rows.append({"household_id": int(household_id), "county_id": county_id, "scorecard_id": card.id,
                     "score": score, "grade": s["grade"], "as_of": now, "record_seq": seqs[int(household_id)],
                     "computed_at": now, "features": clean, "points": points, "reasons": reasons,
                     "sufficiency": sufficiency(card, clean)})
    return rows


__all__ = ["content_id", "current", "rescore_county"]
