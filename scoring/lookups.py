"""Partner banks read ratings: only with the household's active consent, within rate limits, and every rating
shown is written to the household's access log ("who looked at my rating, when, and why").

A lookup is the hottest read of the service (a bank may check hundreds of households a minute), so it is written
in SQLAlchemy Core with its statements built once: one query reads the consent, its household and the household's
latest rating (and the county's scorecard in force, for the freshness check); one statement counts the lookup
against the household's daily cap; one writes the access-log row. Only a stale rating (rare: the household's
record moved on, the month turned or the county changed its scorecard) takes the slower way through
`ratings.current`, which computes and stores a new one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select
from sqlmodel import Session, col

from ledger.core import paging, ratelimit
from ledger.core.base import as_utc, row_id, table_of, utcnow
from ledger.identity.models import Partner
from ledger.identity.principal import Principal
from ledger.tenancy import Household
from scoring import access, history, ratings
from scoring import consent as consents
from scoring.card import Card
from scoring.models import Consent, CreditLookup, Rating, ScorecardActivation

LOG = table_of(CreditLookup)


@dataclass(frozen=True)
class Limits:
    per_client_per_minute: int = 600
    per_subject_per_day: int = 20


@dataclass(frozen=True, slots=True)
class Shown:
    """A rating as a bank may be shown it under a consent: everything the allow-list
    (api/presentation/credit.py `partner_answer`) draws on, as plain values read before the commit."""

    household_id: int
    grade: str
    score: int | None
    score_range: tuple[int, int]
    reasons: list[dict[str, Any]]
    features: dict[str, Any]
    sufficiency: dict[str, Any]
    as_of: datetime
    computed_at: datetime
    scorecard_id: str
    consent_id: str
    purpose: str
    scope: str
    lookup_id: int | None = None  # the access-log row, when the rating was shown by a lookup


def shown_of(
    session: Session,
    rating: Rating | Row[*tuple[Any, ...]],
    *,
    consent_id: str,
    purpose: str,
    scope: str,
    lookup_id: int | None = None,
) -> Shown:
    """A stored rating's values (its row, or the lookup's row holding them), shown under a consent."""
    return Shown(
        household_id=rating.household_id,
        grade=rating.grade,
        score=rating.score,
        score_range=ratings.card_by_id(session, rating.scorecard_id).score_range,
        reasons=rating.reasons,
        features=rating.features,
        sufficiency=rating.sufficiency,
        as_of=rating.as_of,
        computed_at=rating.computed_at,
        scorecard_id=rating.scorecard_id,
        consent_id=consent_id,
        purpose=purpose,
        scope=scope,
        lookup_id=lookup_id,
    )


def spend_budget(session: Session, client_id: str, *, uses: int, limits: Limits, now: datetime | None = None) -> None:
    """A bank client's lookups per minute, counted before the lookups themselves, in a transaction that commits
    even when they then fail (api/deps.py `run_after`): one client's concurrent lookups never queue on its
    counter row, and a refused lookup still counts. (The per-household cap counts inside the lookup: only
    ratings actually shown.)

    On PostgreSQL that transaction does not wait for its sync to disk: a count lost to a crash lets the bank a
    few more lookups in that minute, while a wait for the disk would be most of the lookup's time. (On a SQLite
    file it is the lookup's own transaction, synced with its access-log row.)"""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
    ratelimit.hit(
        session,
        f"credit:client:{client_id}",
        limit=limits.per_client_per_minute,
        seconds=60,
        what="rating lookups from this client",
        uses=uses,
        now=now,
    )


_C, _H, _R, _A = table_of(Consent), table_of(Household), ratings.RATING, table_of(ScorecardActivation)
_LATEST = select(func.max(_R.c.id)).where(_R.c.household_id == _C.c.household_id).correlate(_C).scalar_subquery()
_IN_FORCE = (
    select(_A.c.scorecard_id)
    .where(_A.c.county_id == _H.c.county_id)
    .order_by(_A.c.id.desc())
    .limit(1)
    .correlate(_H)
    .scalar_subquery()
)
# The consent, its household and the household's latest rating, with the county's scorecard in force: one query.
_READ = (
    select(
        _C.c.partner_id,
        _C.c.household_id,
        _C.c.county_id,
        _C.c.purpose,
        _C.c.scope,
        _C.c.granted_at,
        _C.c.expires_at,
        _C.c.revoked_at,
        _H.c.closed_at,
        _H.c.record_seq.label("household_seq"),
        _R.c.id.label("rating_id"),
        _R.c.scorecard_id,
        _R.c.record_seq,
        _R.c.as_of,
        _R.c.computed_at,
        _R.c.grade,
        _R.c.score,
        _R.c.reasons,
        _R.c.features,
        _R.c.sufficiency,
        _IN_FORCE.label("in_force"),
    )
    .select_from(_C.join(_H, _H.c.id == _C.c.household_id).outerjoin(_R, _R.c.id == _LATEST))
    .where(_C.c.id == bindparam("consent_id"))
)
_LOG_ROW = insert(LOG).returning(LOG.c.id)


def lookup(
    session: Session, who: Principal, *, household_id: int, consent_id: str, limits: Limits, now: datetime | None = None
) -> Shown:
    """The household's rating as the bank may see it under the consent, counted against the household's daily cap
    and written to its access log. Without an active consent of this household for this bank — no such consent,
    another bank's or household's, expired, revoked, a closed household — the one refusal that says nothing
    about the household (`consent_required`, as `scoring.consent.check`)."""
    partner_id = access.require_bank(who)
    now = now or utcnow()
    conn = session.connection()
    row = conn.execute(_READ, {"consent_id": consent_id}).first() if len(consent_id) <= 64 else None
    if (
        row is None
        or row.partner_id != partner_id
        or row.household_id != household_id
        or row.revoked_at is not None
        or not as_utc(row.granted_at) <= now < as_utc(row.expires_at)
        or row.closed_at is not None  # its consents ended with it (scoring/closing.py)
    ):
        raise consents.ConsentRequired("The household has not given you an active consent to read its rating.")
    key = f"credit:subject:{partner_id}:{household_id}"
    fresh = _fresh(row, now)
    if fresh and conn.dialect.name == "postgresql":  # the cap and the access log in one statement
        logged = _counted_and_logged(conn, key, row, who, consent_id, limits, now)
    else:
        ratelimit.hit(session, key, limit=limits.per_subject_per_day, seconds=DAY, what=CAPPED, now=now)
        if not fresh:  # computed and stored now
            rating = ratings.current(session, household_id, now=now)
            assert rating.id is not None  # a stored rating
            logged = _log(conn, row, who, consent_id, rating.id, now)
            return shown_of(
                session, rating, consent_id=consent_id, purpose=row.purpose, scope=row.scope, lookup_id=logged
            )
        logged = _log(conn, row, who, consent_id, row.rating_id, now)
    return shown_of(session, row, consent_id=consent_id, purpose=row.purpose, scope=row.scope, lookup_id=logged)


DAY, CAPPED = 86_400, "lookups of this household today"


def _fresh(row: Any, now: datetime) -> bool:
    """`ratings.is_fresh` on the columns read by `_READ`."""
    return (
        row.rating_id is not None
        and row.scorecard_id == (row.in_force or Card.shipped().id)
        and row.record_seq == row.household_seq
        and history.month_label(as_utc(row.as_of)) == history.month_label(now)
    )


def _log(conn: Connection, row: Any, who: Principal, consent_id: str, rating_id: int, now: datetime) -> int:
    return int(conn.execute(_LOG_ROW, _logged(row, who, consent_id, rating_id, now)).scalar_one())


def _logged(row: Any, who: Principal, consent_id: str, rating_id: int, now: datetime) -> dict[str, Any]:
    return {
        "county_id": row.county_id,
        "household_id": row.household_id,
        "partner_id": row.partner_id,
        "client_id": who.subject.partition(":")[2],
        "consent_id": consent_id,
        "purpose": row.purpose,
        "rating_id": rating_id,
        "looked_at": now,
    }


_LOGGED = ["county_id", "household_id", "partner_id", "client_id", "consent_id", "purpose", "rating_id"]
_HIT = ratelimit.counting("postgresql").cte("hit")
# PostgreSQL: count the lookup against the household's daily cap and, within it, write the access-log row.
_COUNTED_AND_LOGGED = (
    insert(LOG)
    .from_select(
        [*_LOGGED, "looked_at"],
        select(
            *[bindparam(name, type_=LOG.c[name].type) for name in _LOGGED],
            bindparam("now", type_=LOG.c.looked_at.type),
        )
        .select_from(_HIT)
        .where(_HIT.c.count <= bindparam("limit")),
    )
    .returning(LOG.c.id)
)
_WINDOW = select(ratelimit.T.c.started_at).where(ratelimit.T.c.key == bindparam("key"))


def _counted_and_logged(
    conn: Connection, key: str, row: Any, who: Principal, consent_id: str, limits: Limits, now: datetime
) -> int:
    """`ratelimit.hit` and `_log` in one round trip: no row when the cap is reached (refused as `hit` refuses;
    the transaction is rolled back, so the refused use is not counted)."""
    limit = limits.per_subject_per_day
    logged = conn.execute(
        _COUNTED_AND_LOGGED,
        {
            **_logged(row, who, consent_id, row.rating_id, now),
            "now": now,
            "key": key,
            "expired": now - timedelta(seconds=DAY),
            "uses": 1,
            "limit": limit,
        },
    ).scalar()
    if logged is None:
        started = conn.execute(_WINDOW, {"key": key}).scalar_one()
        raise ratelimit.refused(started, now, limit=limit, seconds=DAY, what=CAPPED)
    return int(logged)


def log_shown(session: Session, *, consent: Consent, client_id: str, rating_id: int, now: datetime) -> int:
    """Write the access log row of a rating shown to the consent's bank (the household reads it)."""
    return int(
        session.connection()
        .execute(
            _LOG_ROW,
            {
                "county_id": consent.county_id,
                "household_id": consent.household_id,
                "partner_id": consent.partner_id,
                "client_id": client_id,
                "consent_id": consent.id,
                "purpose": consent.purpose,
                "rating_id": rating_id,
                "looked_at": now,
            },
        )
        .scalar_one()
    )


def access_log_page(
    session: Session, household_id: int, *, cursor: str | None = None, limit: int = paging.PAGE
) -> paging.Page[tuple[CreditLookup, str]]:
    """`access_log` a page at a time, newest first, after `cursor`."""
    limit = paging.bounded(limit)
    query = (
        select(CreditLookup, col(Partner.name))
        .join(Partner, col(Partner.id) == col(CreditLookup.partner_id))
        .where(col(CreditLookup.household_id) == household_id)
    )
    after = paging.decode_id(cursor)
    if after is not None:
        query = query.where(col(CreditLookup.id) < after)
    rows = [(row[0], row[1]) for row in session.execute(query.order_by(col(CreditLookup.id).desc()).limit(limit + 1))]
    return paging.cut(rows, limit, lambda row: (row_id(row[0].id),))


def access_log(session: Session, household_id: int, *, limit: int = 200) -> list[tuple[CreditLookup, str]]:
    """Who looked at the household's rating, newest first, with the partner's name."""
    rows = session.execute(
        select(CreditLookup, col(Partner.name))
        .join(Partner, col(Partner.id) == col(CreditLookup.partner_id))
        .where(col(CreditLookup.household_id) == household_id)
        .order_by(col(CreditLookup.id).desc())
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]
