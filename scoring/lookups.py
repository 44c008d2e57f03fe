"""Partner banks read ratings: only with the household's active consent, within rate limits, and every rating
shown is written to the household's access log ("who looked at my rating, when, and why")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select
from sqlmodel import Session, col

from ledger.core import ratelimit
from ledger.core.base import table_of, utcnow
from ledger.core.db import unit_of_work
from ledger.identity.models import Partner
from ledger.identity.principal import Principal
from scoring import access, ratings
from scoring.models import Consent, CreditLookup, Rating

LOG = table_of(CreditLookup)


@dataclass(frozen=True)
class Limits:
    per_client_per_minute: int = 600
    per_subject_per_day: int = 20


@dataclass(frozen=True)
class Shown:
    rating: Rating
    consent: Consent
    lookup_id: int


def spend_client_budget(
    engine: Engine, client_id: str, *, uses: int, limits: Limits, now: datetime | None = None
) -> None:
    """A bank client's lookups per minute, counted before the lookups themselves and in a transaction of its
    own: one client's concurrent lookups never queue on its counter row, and a lookup that then fails still
    counts. (The per-household cap counts inside the lookup: only ratings actually shown.)"""
    with unit_of_work(engine) as session:
        ratelimit.hit(
            session,
            f"credit:client:{client_id}",
            limit=limits.per_client_per_minute,
            seconds=60,
            what="rating lookups from this client",
            uses=uses,
            now=now,
        )


def lookup(
    session: Session, who: Principal, *, household_id: int, consent_id: str, limits: Limits, now: datetime | None = None
) -> Shown:
    access.require_bank(who)
    now = now or utcnow()
    client = who.subject.partition(":")[2]
    consent = access.readable_rating(session, who, household_id=household_id, consent_id=consent_id, now=now)
    ratelimit.hit(
        session,
        f"credit:subject:{who.partner_id}:{household_id}",
        limit=limits.per_subject_per_day,
        seconds=86_400,
        what="lookups of this household today",
        now=now,
    )
    rating = ratings.current(session, household_id, now=now)
    assert rating.id is not None  # a stored rating
    logged = log_shown(session, consent=consent, client_id=client, rating_id=rating.id, now=now)
    return Shown(rating=rating, consent=consent, lookup_id=logged)


def log_shown(session: Session, *, consent: Consent, client_id: str, rating_id: int, now: datetime) -> int:
    """Write the access log row of a rating shown to the consent's bank (the household reads it)."""
    return int(
        session.connection()
        .execute(
            insert(LOG).returning(LOG.c.id),
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
