"""Ratings: always as of the latest settled ledger.

A rating is stale when the household's record has moved on since it was computed (a settlement, a decision, a
deduction, a dispute: `ledger.tenancy.touch_record`), when a new calendar month has begun (features count
months), or when the county activated another scorecard. Reading a stale rating computes a new one for that one
household on the spot and stores it; ratings are never changed, only superseded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from ledger.core import audit
from ledger.core.base import as_utc, table_of, utcnow
from ledger.core.errors import Forbidden, NotFound
from ledger.core.progress import Report, silent
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import Household
from scoring import history
from scoring.card import Card, content_id, improve, score_frame, score_one
from scoring.features import FEATURES, features
from scoring.models import Rating, Scorecard, ScorecardActivation

RATING = table_of(Rating)
SCORED = "households scored"  # what `rescore_county` reports progress of


class RatingNotFound(NotFound):
    code = "rating_not_found"


_CARDS: dict[str, Card] = {}  # by version id: the id is the hash of the content, so one id is one card anywhere


def card_by_id(session: Session, scorecard_id: str) -> Card:
    card = _CARDS.get(scorecard_id)
    if card is None:
        row = session.get(Scorecard, scorecard_id)
        if row is None:
            raise NotFound("No such scorecard version.", scorecard_id=scorecard_id)
        card = Card.from_content(row.content)
        if card.id == scorecard_id:  # a row edited behind our back is not cached
            _CARDS[scorecard_id] = card
    return card


def ensure_card(session: Session, card: Card, *, origin: str, actor: str, parent_id: str | None = None) -> Scorecard:
    """The database row of a card version (made on first sight; a version never changes)."""
    row = session.get(Scorecard, card.id)
    if row is None:
        row = Scorecard(
            id=card.id, name=card.name, content=card.content, origin=origin, parent_id=parent_id, created_by=actor
        )
        session.add(row)
        session.flush()
    return row


_ACTIVE = (
    select(col(ScorecardActivation.scorecard_id))
    .where(col(ScorecardActivation.county_id) == bindparam("county"))
    .order_by(col(ScorecardActivation.id).desc())
    .limit(1)
)


def activate(session: Session, who: Principal, scorecard_id: str, *, note: str | None) -> Scorecard:
    """The county admin rates their county with this version from now on; ratings made with the one before keep
    theirs (and are stale from now: `is_fresh`). In the change log ("scorecard.activate")."""
    if who.role != Role.COUNTY_ADMIN:
        raise Forbidden("Only the county admin activates a scorecard.")
    row = session.get(Scorecard, scorecard_id)
    if row is None:
        raise NotFound("No such scorecard version.", scorecard_id=scorecard_id)
    before = active_id(session, who.county_id)
    session.add(
        ScorecardActivation(county_id=who.county_id, scorecard_id=scorecard_id, activated_by=who.actor, note=note)
    )
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="scorecard.activate",
        target_type="scorecard",
        target_id=scorecard_id,
        before={"active": before},
        after={"active": scorecard_id, "note": note},
    )
    return row


def active_id(session: Session, county_id: int) -> str:
    """The version the county rates with: the newest activation, or the card shipped with the code before any."""
    return session.execute(_ACTIVE, {"county": county_id}).scalar() or Card.shipped().id


def active_card(session: Session, county_id: int) -> Card:
    """The county's card in force."""
    return _stored_card(session, active_id(session, county_id))


def _stored_card(session: Session, scorecard_id: str) -> Card:
    """The card of a version id, its database row made if it is the shipped card's first use."""
    if scorecard_id != Card.shipped().id:
        return card_by_id(session, scorecard_id)
    card = Card.shipped()
    ensure_card(session, card, origin="shipped", actor="system")
    return card


def valid_until(as_of: datetime) -> datetime:
    """A rating holds until the month turns (features count months) or the household's record moves on."""
    return history.month_start(history.month_label(as_of), -1)


def is_fresh(rating: Rating, household: Household, scorecard_id: str, now: datetime) -> bool:
    return (
        rating.scorecard_id == scorecard_id
        and rating.record_seq == household.record_seq
        and history.month_label(as_utc(rating.as_of)) == history.month_label(now)
    )


def latest(session: Session, household_id: int) -> Rating | None:
    return session.scalars(
        select(Rating).where(col(Rating.household_id) == household_id).order_by(col(Rating.id).desc()).limit(1)
    ).first()


def current(session: Session, household_id: int, *, now: datetime | None = None) -> Rating:
    """The household's rating as of now: the stored one if still fresh, else a new one computed and stored."""
    now = now or utcnow()
    household = session.get(Household, household_id)
    if household is None:
        raise RatingNotFound("No such household.", household_id=household_id)
    found = latest(session, household_id)
    scorecard_id = active_id(session, household.county_id)
    if found is not None and is_fresh(found, household, scorecard_id, now):
        return found
    return compute(session, household, _stored_card(session, scorecard_id), now=now)


def compute(session: Session, household: Household, card: Card, *, now: datetime) -> Rating:
    assert household.id is not None
    past = history.load(session, county_id=household.county_id, as_of=now, household_ids=[household.id])
    values = features(
        [household.id],
        past.entries,
        past.deductions,
        past.claims,
        past.objections,
        as_of_month=past.as_of_month,
        category_month_cap=card.category_month_cap,
    ).iloc[0]
    clean = _clean(values.to_dict())
    result = score_one(card, clean)
    rating = Rating(
        household_id=household.id,
        county_id=household.county_id,
        scorecard_id=card.id,
        score=result.score,
        grade=result.grade,
        as_of=now,
        record_seq=household.record_seq,
        computed_at=now,
        features=clean,
        points=result.points,
        reasons=result.reasons,
        sufficiency=sufficiency(card, clean),
    )
    session.add(rating)
    session.flush()
    return rating


def how_to_improve(session: Session, rating: Rating) -> dict[str, Any]:
    card = card_by_id(session, rating.scorecard_id)
    result = score_one(card, rating.features)
    return improve(card, rating.features, result)


def sufficiency(card: Card, values: dict[str, Any]) -> dict[str, Any]:
    months = int(values.get("tenure_months") or 0) if values.get("tenure_months") is not None else 0
    return {
        "months_of_history": months,
        "active_months": int(values.get("active_months_total") or 0),
        "claims_decided_24m": int(values.get("claims_decided_24m") or 0),
        "sufficient": values.get("tenure_months") is not None and months >= card.not_rated_below_months,
        "needs_months": card.not_rated_below_months,
    }


def _clean(values: Mapping[Hashable, Any]) -> dict[str, Any]:
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


def rescore_county(
    session: Session,
    county_id: int,
    *,
    now: datetime | None = None,
    chunk: int = 50_000,
    progress: Report = silent,
) -> Rescored:
    """Rate every household of a county as of now and store the ratings, range of households by range (so
    memory stays bounded however large the county). The same card arithmetic as a single rating
    (`score_frame`), written as whole columns: JSON is made by pandas and the rows go to the driver at once.
    `progress` hears of the households scored after each range."""
    import time

    now = now or utcnow()
    card = active_card(session, county_id)
    seqs = pd.DataFrame(
        [
            tuple(r)
            for r in session.execute(
                select(col(Household.id), col(Household.record_seq))
                .where(col(Household.county_id) == county_id)
                .order_by(col(Household.id))
            )
        ],
        columns=["household_id", "record_seq"],
    ).set_index("household_id")["record_seq"]
    ids = [int(i) for i in seqs.index]
    writer = _RatingWriter(session.connection(), card, county_id, now)
    loading = scoring = writing = 0.0
    rated = done = 0
    progress(SCORED, 0, len(ids))
    chunks = history.stream(session, county_id=county_id, as_of=now, households=ids, chunk=chunk)
    while True:
        t0 = time.perf_counter()
        past = next(chunks, None)
        if past is None:
            break
        t1 = time.perf_counter()
        frame = features(
            past.households,
            past.entries,
            past.deductions,
            past.claims,
            past.objections,
            as_of_month=past.as_of_month,
            category_month_cap=card.category_month_cap,
        )
        scored = score_frame(card, frame)
        rows = writer.rows(frame, scored, seqs)
        t2 = time.perf_counter()
        writer.write(rows)
        t3 = time.perf_counter()
        loading, scoring, writing = loading + t1 - t0, scoring + t2 - t1, writing + t3 - t2
        rated += int((scored["grade"] != "NR").sum())
        done += len(past.households)
        progress(SCORED, done, len(ids))
    return Rescored(len(ids), rated, loading, scoring, writing)


_COUNTS = [name for name in FEATURES if name != "rejected_share"]
_RATING_COLUMNS = [
    "household_id",
    "county_id",
    "scorecard_id",
    "score",
    "grade",
    "as_of",
    "record_seq",
    "computed_at",
    "features",
    "points",
    "reasons",
    "sufficiency",
]


class _RatingWriter:
    """Rating rows for many households at once, in the stored form (JSON text, the dialect's moments)."""

    def __init__(self, conn: Any, card: Card, county_id: int, now: datetime) -> None:
        self.conn, self.card, self.county_id = conn, card, county_id
        moment = RATING.c.as_of.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        self.now = moment(now) if moment else now
        self.reason_head = {
            c.reason["code"]: json.dumps(
                {"code": c.reason["code"], "characteristic": c.name, "zh": c.reason["zh"], "en": c.reason["en"]},
                ensure_ascii=False,
            )[:-1]
            + ', "points_below_best": '
            for c in card.characteristics
        }
        self.best = {c.reason["code"]: (c.name, c.best) for c in card.characteristics}
        marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self.sql = (
            f"INSERT INTO rating ({', '.join(_RATING_COLUMNS)}) VALUES ({', '.join([marker] * len(_RATING_COLUMNS))})"
        )

    def rows(self, frame: pd.DataFrame, scored: pd.DataFrame, seqs: pd.Series) -> list[tuple[Any, ...]]:
        names = [c.name for c in self.card.characteristics]
        values = frame.copy()
        values[_COUNTS] = values[_COUNTS].round().astype("Int64")  # whole numbers as such, missing as null
        features_json = _json_lines(values)
        points = scored[[f"points_{n}" for n in names]].astype("int64")
        points.columns = names
        points_json = _json_lines(points)
        tenure = frame["tenure_months"]
        suff = pd.DataFrame(
            {
                "months_of_history": tenure.fillna(0).astype("int64"),
                "active_months": frame["active_months_total"].astype("int64"),
                "claims_decided_24m": frame["claims_decided_24m"].astype("int64"),
                "sufficient": tenure.notna() & (tenure >= self.card.not_rated_below_months),
                "needs_months": self.card.not_rated_below_months,
            },
            index=frame.index,
        )
        sufficiency_json = _json_lines(suff)
        column = {name: n for n, name in enumerate(names)}
        # per reason code: the head of its JSON text, its characteristic's column and best points
        reason_of = {code: (self.reason_head[code], column[name], best) for code, (name, best) in self.best.items()}
        point_rows = points.to_numpy().tolist()  # plain ints, row by row
        # plain Python values, row by row (numpy scalars one at a time cost more than the rows themselves)
        reason_codes = scored[[f"reason_{r}" for r in range(1, 5)]].to_numpy().tolist()
        scores = [None if math.isnan(value) else int(value) for value in scored["score"].to_numpy().tolist()]
        grades = [str(value) for value in scored["grade"].to_numpy().tolist()]
        households = frame.index.to_numpy()
        seq = seqs.reindex(households).to_numpy().tolist()
        county, card, now = self.county_id, self.card.id, self.now
        rows = []
        for household, codes, row_points, score, grade, record_seq, features_text, points_text, sufficiency_text in zip(
            households.tolist(),
            reason_codes,
            point_rows,
            scores,
            grades,
            seq,
            features_json,
            points_json,
            sufficiency_json,
            strict=True,
        ):
            reasons = []
            for code in codes:
                if isinstance(code, str):
                    head, at, best = reason_of[code]
                    reasons.append(f"{head}{best - row_points[at]}}}")
            rows.append(
                (
                    household,
                    county,
                    card,
                    score,
                    grade,
                    now,
                    record_seq,
                    now,
                    features_text,
                    points_text,
                    f"[{', '.join(reasons)}]",
                    sufficiency_text,
                )
            )
        return rows

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.conn.dialect.name != "postgresql":
            self.conn.exec_driver_sql(self.sql, rows)
            return
        # PostgreSQL takes many rows fastest by COPY, in the same transaction
        cursor = self.conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY rating ({', '.join(_RATING_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.close()


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row, made by pandas (in C)."""
    return frame.to_json(orient="records", lines=True, force_ascii=False).splitlines()


__all__ = ["content_id", "current", "rescore_county"]
