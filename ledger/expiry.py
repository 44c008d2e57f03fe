"""Points expiry, a county setting (`County.points_expiry_months`, 0 = off, the default): settled points lapse N
calendar months after they settle, oldest first. The scheduled work writes each lapse as a journal transfer from
the household account to its village's expiry account, and warns the household 30 days before.

The rule (docs/claims.md, "Points expiry"). Points settled on local date D (county time) may be spent until the
end of the same date N months later (the last day of that month when it is shorter). Everything that leaves the
household account takes the oldest points first: spending, deductions, reversal debits, earlier expiries, and the
points a pending hold (a voucher) reserves. So at `now`, with `cut` the first instant whose settled points have
not lapsed yet:

    due = max(0, credits before cut − debits so far − held) = max(0, available − credits since cut)

(posted = all credits − all debits, and available = posted − held). Credits are every posted credit into the
household account: settlements and awards, and reversal credits (a refund, an undone deduction or expiry), which
count as points settled at the moment of the reversal. A hold is never expired; when it is voided, what it held
lapses at the next run if it is old enough. `journal.take_available` writes the expiry, deciding under the lock.

Everything is read with one grouped query per county (the household accounts, their balances, and their
credits since the cut-off); a household about to expire is read again under the journal's lock before the write.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlmodel import Session, col

from ledger.claims.rules import local
from ledger.core import failures, outbox
from ledger.core.base import as_utc, table_of, utcnow
from ledger.core.outbox import Notification
from ledger.journal import service as journal
from ledger.journal import store
from ledger.journal.models import POSTED_KINDS, Account, AccountBalance, AccountKind, JournalTransaction, Posting
from ledger.tenancy import County, touch_record

WARN_DAYS = 30
ACTOR = "system:expiry"
REASON = "points_expired"
EXPIRED = "points_expired"  # notification kinds
EXPIRING = "points_expiring"
STEP_EXPIRE, STEP_WARN = "expire_points", "warn_points_expiry"  # the names of the scheduled steps (ledger/jobs.py)

ACCOUNT = table_of(Account)
EXPIRY_ACCOUNT = ACCOUNT.alias("expiry_account")
BALANCE = table_of(AccountBalance)
POSTING = table_of(Posting)
TX = table_of(JournalTransaction)


# --- the calendar (pure) -------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same date `months` later (earlier if negative); the month's last day when it is shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def last_day(settled_at: datetime, timezone: str, months: int) -> date:
    """The last day (county time) on which points settled at `settled_at` may be spent."""
    return add_months(local(settled_at, timezone).date(), months)


def cutoff(now: datetime, timezone: str, months: int) -> datetime:
    """The first instant (UTC) whose settled points have not lapsed at `now`: points settled before it have.

    Points of local date D have lapsed once their last day, add_months(D, months), is before today; the newest
    such D is found from yesterday's date, counting back `months` months."""
    yesterday = local(now, timezone).date() - timedelta(days=1)
    month = add_months(yesterday.replace(day=1), -months)
    length = calendar.monthrange(month.year, month.month)[1]
    month_end = yesterday.day == calendar.monthrange(yesterday.year, yesterday.month)[1]
    newest_lapsed = month.replace(day=length if month_end else min(yesterday.day, length))
    return as_utc(datetime.combine(newest_lapsed + timedelta(days=1), time(), tzinfo=ZoneInfo(timezone)))


# --- what each household stands at (one grouped query) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    account_id: int
    household_id: int
    expiry_account_id: int
    available: int  # posted less what pending holds reserve
    since_cut: int  # credits settled at or after the cut-off of now
    since_ahead: int  # credits settled at or after the cut-off of now + 30 days
    newest_lapsing: datetime | None  # the newest credit settled before the later cut-off

    @property
    def due(self) -> int:
        """Points that have lapsed and are still in the account."""
        return max(0, self.available - self.since_cut)

    @property
    def coming(self) -> int:
        """Points that have not lapsed yet but will before the later cut-off."""
        return max(0, self.available - self.since_ahead) - self.due


def _standings(
    session: Session,
    county_id: int,
    *,
    cut: datetime,
    ahead: datetime,
    warning: bool,
    account_id: int | None = None,
    limit: int | None = None,
) -> list[Standing]:
    """Household accounts of the county with points due (warning=False: lapsed by `cut`) or coming (warning=True:
    lapsing between `cut` and `ahead`), in village then account order (the order the journal locks in)."""
    mine = [ACCOUNT.c.county_id == county_id, ACCOUNT.c.kind == AccountKind.HOUSEHOLD]
    if account_id is not None:
        mine.append(ACCOUNT.c.id == account_id)
    recent = (
        select(
            POSTING.c.account_id,
            func.sum(POSTING.c.amount).label("since_cut"),
            func.sum(case((TX.c.effective_at >= ahead, POSTING.c.amount), else_=0)).label("since_ahead"),
            func.max(case((TX.c.effective_at < ahead, TX.c.effective_at))).label("newest_lapsing"),
        )
        .select_from(
            POSTING.join(TX, TX.c.id == POSTING.c.transaction_id).join(ACCOUNT, ACCOUNT.c.id == POSTING.c.account_id)
        )
        .where(*mine, POSTING.c.amount > 0, TX.c.kind.in_(POSTED_KINDS), TX.c.effective_at >= cut)
        .group_by(POSTING.c.account_id)
        .subquery("recent")
    )
    available = BALANCE.c.posted - BALANCE.c.pending_debit
    since_cut = func.coalesce(recent.c.since_cut, 0)
    since_ahead = func.coalesce(recent.c.since_ahead, 0)
    query = (
        select(
            ACCOUNT.c.id,
            ACCOUNT.c.household_id,
            EXPIRY_ACCOUNT.c.id,
            available,
            since_cut,
            since_ahead,
            recent.c.newest_lapsing,
        )
        .select_from(
            ACCOUNT.join(BALANCE, BALANCE.c.account_id == ACCOUNT.c.id)
            .join(
                EXPIRY_ACCOUNT,
                and_(
                    EXPIRY_ACCOUNT.c.village_id == ACCOUNT.c.village_id,
                    EXPIRY_ACCOUNT.c.kind == AccountKind.EXPIRY,
                    EXPIRY_ACCOUNT.c.partner_id.is_(None),
                ),
            )
            .outerjoin(recent, recent.c.account_id == ACCOUNT.c.id)
        )
        .where(*mine, available > since_ahead)
        .order_by(ACCOUNT.c.village_id, ACCOUNT.c.id)
        .limit(limit)
    )
    if warning:
        query = query.where(since_cut > since_ahead)
    rows = session.connection().execute(query).all()
    return [
        Standing(
            int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), None if r[6] is None else as_utc(r[6])
        )
        for r in rows
    ]


def _counties(session: Session) -> Sequence[County]:
    return session.scalars(select(County).where(col(County.points_expiry_months) > 0).order_by(col(County.id))).all()


# --- the two steps of the scheduled work ---------------------------------------------------------------------


def expire_due(session: Session, now: datetime | None = None, *, limit: int = 500) -> int:
    """Expire the lapsed points of every household of the counties that have expiry on; returns how many
    households lost points. At most `limit` households a run (the journal heads stay locked until commit)."""
    now = now or utcnow()
    expired = 0
    for county in _counties(session):
        months = county.points_expiry_months
        cut = cutoff(now, county.timezone, months)
        assert county.id is not None
        due = _standings(session, county.id, cut=cut, ahead=cut, warning=False, limit=limit - expired)
        # Every household row first, then the journal: a request holding one of these households waits for us
        # or we for it, never both (it locks the household before the chain head, as we do).
        for found in due:
            touch_record(session, found.household_id)
        for found in due:
            # Each household in a savepoint of its own: one that fails is skipped and recorded (ledger/core/failures.py)
            with failures.item(
                session, step=STEP_EXPIRE, kind="household", record_id=found.household_id, county_id=county.id
            ):
                expired += _expire_one(session, county, found, cut)
        if expired >= limit:
            break
    session.flush()
    return expired


def _expire_one(session: Session, county: County, found: Standing, cut: datetime) -> int:
    # Read again under the journal's lock, so a spend committed since the grouped query counts.
    assert county.id is not None
    store.lock(session.connection(), [found.account_id, found.expiry_account_id])
    fresh = _standings(session, county.id, cut=cut, ahead=cut, warning=False, account_id=found.account_id)
    if not fresh:
        return 0
    tx = journal.take_available(
        session,
        debit=found.account_id,
        credit=found.expiry_account_id,
        amount=fresh[0].due,
        reason=REASON,
        actor=ACTOR,
        meta={"cutoff": cut.isoformat(), "months": county.points_expiry_months},
    )
    if tx is None:
        return 0
    points = sum(leg.amount for leg in tx.postings if leg.amount > 0)
    outbox.tell(
        session,
        county_id=county.id,
        household_id=found.household_id,
        kind=EXPIRED,
        points=points,
        settled_before=local(cut, county.timezone).date().isoformat(),
    )
    session.flush()
    return 1


def warn_due(session: Session, now: datetime | None = None) -> int:
    """Tell each household whose points lapse within 30 days how many, and from which day to which (the last days
    to spend the oldest and the newest of them). Once: a household is told again only when newer points than
    those of its last warning come within 30 days of lapsing. Returns how many were told."""
    now = now or utcnow()
    told = 0
    for county in _counties(session):
        months = county.points_expiry_months
        cut = cutoff(now, county.timezone, months)
        ahead = cutoff(now + timedelta(days=WARN_DAYS), county.timezone, months)
        assert county.id is not None
        coming = _standings(session, county.id, cut=cut, ahead=ahead, warning=True)
        warned = _last_warned(session, county.id, [c.household_id for c in coming])
        news = [
            c
            for c in coming
            if c.newest_lapsing is not None
            and c.coming > 0
            and (c.household_id not in warned or warned[c.household_id] < c.newest_lapsing)
        ]
        oldest = _oldest_unused(session, [c.account_id for c in news], cut)
        for found in news:
            newest = found.newest_lapsing
            assert newest is not None
            first = oldest.get(found.account_id, newest)
            with failures.item(
                session, step=STEP_WARN, kind="household", record_id=found.household_id, county_id=county.id
            ):
                outbox.tell(
                    session,
                    county_id=county.id,
                    household_id=found.household_id,
                    kind=EXPIRING,
                    points=found.coming,
                    first_day=last_day(first, county.timezone, months).isoformat(),
                    last_day=last_day(newest, county.timezone, months).isoformat(),
                    settled_through=newest.isoformat(),
                )
                session.flush()
                told += 1
    session.flush()
    return told


def _oldest_unused(session: Session, account_ids: Sequence[int], cut: datetime) -> dict[int, datetime]:
    """Per account, when its oldest points settled since `cut` and not used up settled: the oldest such credit
    that the credits settled after it do not cover the available points (used points are the oldest)."""
    found: dict[int, datetime] = {}
    for start in range(0, len(account_ids), 500):
        newer_and_this = func.sum(POSTING.c.amount).over(
            partition_by=POSTING.c.account_id, order_by=(TX.c.effective_at.desc(), TX.c.id.desc())
        )
        credits = (
            select(POSTING.c.account_id, TX.c.effective_at, POSTING.c.amount, newer_and_this.label("newer_and_this"))
            .select_from(POSTING.join(TX, TX.c.id == POSTING.c.transaction_id))
            .where(
                POSTING.c.account_id.in_(account_ids[start : start + 500]),
                POSTING.c.amount > 0,
                TX.c.kind.in_(POSTED_KINDS),
                TX.c.effective_at >= cut,
            )
            .subquery("credits")
        )
        rows = (
            session.connection()
            .execute(
                select(credits.c.account_id, func.min(credits.c.effective_at))
                .join(BALANCE, BALANCE.c.account_id == credits.c.account_id)
                .where(credits.c.newer_and_this - credits.c.amount < BALANCE.c.posted - BALANCE.c.pending_debit)
                .group_by(credits.c.account_id)
            )
            .all()
        )
        found.update({int(account_id): as_utc(moment) for account_id, moment in rows})
    return found


def _last_warned(session: Session, county_id: int, household_ids: Iterable[int]) -> dict[int, datetime]:
    """Per household, the newest settlement its latest expiry warning covered."""
    ids = list(household_ids)
    warned: dict[int, datetime] = {}
    for start in range(0, len(ids), 500):
        latest = (
            select(func.max(Notification.id))
            .where(
                col(Notification.county_id) == county_id,
                col(Notification.kind) == EXPIRING,
                col(Notification.household_id).in_(ids[start : start + 500]),
            )
            .group_by(col(Notification.household_id))
        )
        rows = session.execute(
            select(col(Notification.household_id), col(Notification.payload)).where(col(Notification.id).in_(latest))
        ).all()
        for household_id, payload in rows:
            warned[household_id] = _moment(payload)
    return warned


def _moment(payload: dict[str, Any]) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(str(payload["settled_through"])))
    except (KeyError, ValueError):
        return datetime.min.replace(tzinfo=UTC)  # an unreadable warning covers nothing
