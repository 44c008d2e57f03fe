"""Slowing down guessing without locking people out.

Guessing (a one-time code, a password, a partner's client secret) is counted per (account, address). The first
few failures are free; after them each try must wait 1, 2, 4 … seconds after the one before (`SignInSlowed`).
Someone guessing from one address therefore does not slow the account's holder at another, and the failures of
one account do not slow any other account signing in from the same address (a village or a bank behind one NAT).

An account is locked for everyone (`AccountLocked`, even with the right secret, and a locked phone gets no new
code) only after many more failures from all addresses together; the caller then tells its holder. A partner's
client is never locked so (api/signin.py counts no account-wide failure for it): its secret is long and
random, so a lock would guess nothing and only let anyone cut a bank off.

`admit` counts a try before the secret is checked and refuses it at once when it must wait: the rows are locked
(PostgreSQL: SELECT … FOR UPDATE; SQLite: BEGIN IMMEDIATE), so tries at the same moment are counted one after
another and cannot all slip through. A refused try changes nothing. `succeeded` forgets the account's counts;
`failed` counts a failure against the whole account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ledger.core.base import as_utc, table_of, utcnow
from ledger.core.errors import Throttled
from ledger.identity.models import SignInThrottle

if TYPE_CHECKING:
    from ledger.core.settings import Settings

T = table_of(SignInThrottle)

# Why sign-ins were refused. Not in any registry here: api/observability.py adds it to the one /metrics shows.
CAUSES = (
    "wrong_code",  # a villager's one-time code was wrong or expired
    "wrong_password",  # a staff member's password was wrong (or no such account)
    "wrong_secret",  # a partner client's secret was wrong (or no such client)
    "disabled",  # the password was right but the account is disabled
    "slowed",  # too many wrong tries from this address: it must wait
    "locked",  # too many wrong tries from anywhere: the account is locked
    "code_requests_limited",  # too many codes asked for one phone, or from one address
    "password_change_required",  # signed in, but must set a password of their own before anything else
)
REFUSALS = Counter("shanzhi_sign_in_refusals", "Sign-ins and code requests refused, by cause", ["cause"], registry=None)
for _cause in CAUSES:
    REFUSALS.labels(cause=_cause)  # every cause shows, at zero, from the start
_WRONG = {"phone": "wrong_code", "user": "wrong_password", "client": "wrong_secret"}


def refused(cause: str) -> None:
    """Count a refusal (one of CAUSES)."""
    REFUSALS.labels(cause=cause).inc()


class SignInSlowed(Throttled):
    code = "sign_in_slowed"


class AccountLocked(Throttled):
    code = "account_locked"


class CodeRequestsPhoneLimited(Throttled):
    code = "code_requests_phone_limited"


class CodeRequestsAddressLimited(Throttled):
    code = "code_requests_address_limited"


@dataclass(frozen=True)
class Limits:
    window_seconds: int = 900  # failures of one account from one address are counted in this window
    free_failures: int = 3
    max_delay_seconds: int = 900
    lock_failures: int = 20  # failures of one account from all addresses, within lock_window_seconds
    lock_window_seconds: int = 24 * 3600
    lock_seconds: int = 3600

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.sign_in_window_seconds,
            settings.sign_in_free_failures,
            settings.sign_in_max_delay_seconds,
            settings.account_lock_failures,
            settings.account_lock_window_seconds,
            settings.account_lock_seconds,
        )

    def delay(self, tries: int) -> timedelta:
        """How long the next try waits after this one, the `tries`-th in the window."""
        if tries <= self.free_failures:
            return timedelta(0)
        return timedelta(seconds=min(2 ** min(tries - self.free_failures - 1, 30), self.max_delay_seconds))


def pair_key(account: str, address: str) -> str:
    return f"pair:{account}|{address[:64]}"


def account_key(account: str) -> str:
    return f"account:{account}"


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(math.ceil((moment - now).total_seconds()), 1)


def _locked_rows(session: Session, keys: list[str], now: datetime) -> dict[str, Any]:
    """The rows of `keys`, made if missing, locked in key order (the same order everywhere: no deadlock)."""
    conn = session.connection()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(T)
        .values([{"key": k, "failures": 0, "window_started_at": now} for k in keys])
        .on_conflict_do_nothing()
    )
    rows = conn.execute(select(T).where(T.c.key.in_(keys)).order_by(T.c.key).with_for_update()).all()
    return {row.key: row for row in rows}


def _refuse_if_locked(row: Any, now: datetime) -> None:
    if row.blocked_until is not None and as_utc(row.blocked_until) > now:
        wait = _seconds_until(as_utc(row.blocked_until), now)
        refused("locked")
        raise AccountLocked(
            f"This account is locked after many failed sign-ins. Try again in {wait} seconds; "
            f"its holder has been told.",
            retry_after=wait,
        )


def check_locked(session: Session, account: str) -> None:
    """Refuse (AccountLocked) while the account is locked: a locked phone gets no new code."""
    now = utcnow()
    row = session.connection().execute(select(T).where(T.c.key == account_key(account))).first()
    if row is not None:
        _refuse_if_locked(row, now)


def admit(session: Session, account: str, address: str, limits: Limits) -> None:
    """Count a try at `account` from `address`, or refuse it: the account is locked, or this address must wait."""
    now = utcnow()
    pair, whole = pair_key(account, address), account_key(account)
    rows = _locked_rows(session, [pair, whole], now)
    _refuse_if_locked(rows[whole], now)
    row = rows[pair]
    if row.blocked_until is not None and as_utc(row.blocked_until) > now:
        wait = _seconds_until(as_utc(row.blocked_until), now)
        refused("slowed")
        raise SignInSlowed(
            f"Too many wrong tries for this account from your address: wait {wait} seconds before the next.",
            retry_after=wait,
        )
    fresh = as_utc(row.window_started_at) + timedelta(seconds=limits.window_seconds) <= now
    tries = 1 if fresh else row.failures + 1
    delay = limits.delay(tries)
    session.connection().execute(
        T.update()
        .where(T.c.key == pair)
        .values(
            failures=tries,
            window_started_at=now if fresh else row.window_started_at,
            blocked_until=now + delay if delay else None,
        )
    )


def failed(session: Session, account: str, limits: Limits, *, cause: str | None = None) -> bool:
    """Count a failure against the whole account. True when it has just locked the account (tell its holder).
    `cause`: why it was refused, when not a wrong code, password or secret (the kind of account says which)."""
    refused(cause or _WRONG.get(account.split(":", 1)[0], "wrong_secret"))
    now = utcnow()
    whole = account_key(account)
    row = _locked_rows(session, [whole], now)[whole]
    fresh = as_utc(row.window_started_at) + timedelta(seconds=limits.lock_window_seconds) <= now
    failures = 1 if fresh else row.failures + 1
    locks = failures >= limits.lock_failures
    session.connection().execute(
        T.update()
        .where(T.c.key == whole)
        .values(
            failures=failures,
            window_started_at=now if fresh else row.window_started_at,
            blocked_until=now + timedelta(seconds=limits.lock_seconds) if locks else row.blocked_until,
        )
    )
    return failures == limits.lock_failures


def succeeded(session: Session, account: str, address: str) -> datetime | None:
    """The holder signed in: their address's tries and the account's failures are forgotten. Returns until when
    the account was locked since the holder last signed in, if it was, so that they are told when they are in."""
    conn = session.connection()
    locked_until = conn.execute(select(T.c.blocked_until).where(T.c.key == account_key(account))).scalar()
    conn.execute(T.delete().where(T.c.key.in_([pair_key(account, address), account_key(account)])))
    return as_utc(locked_until) if locked_until is not None else None
