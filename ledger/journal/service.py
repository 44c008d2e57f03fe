"""Writing to the journal. Every write runs inside the caller's unit of work and only flushes.

One write, in order: check the request (pure rules), claim the idempotency key (unique per caller), lock the
village's chain head and the balance rows, check what needs the lock (an earlier resolution or reversal; the
balances against overdraft), then append the transaction and its postings and move the balances and the head
(`store`). A failure anywhere rolls the whole unit of work back, the key with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from ledger.core import failures, idempotency
from ledger.core.base import as_utc, table_of, utcnow
from ledger.core.errors import Invalid
from ledger.journal import chain, months, rules, store
from ledger.journal.errors import (
    AlreadyReversed,
    NotPending,
    NotReversible,
    PendingAlreadyResolved,
    PendingExpired,
)
from ledger.journal.models import Account, AccountKind, JournalTransaction, TxKind
from ledger.journal.rules import Leg
from ledger.journal.store import TxRecord

__all__ = [
    "TxKind",
    "TxRecord",
    "expire_due",
    "expire_pending",
    "get_transaction",
    "open_account",
    "post_pending",
    "effective",
    "record",
    "reverse",
    "take_available",
    "transfer",
    "void_pending",
]

TX = table_of(JournalTransaction)
STEP_EXPIRE = "expire_transfers"  # the name of the scheduled step (ledger/jobs.py)


def transfer(
    session: Session,
    *,
    debit: int,
    credit: int,
    amount: int,
    reason: str,
    actor: str,
    pending: bool = False,
    timeout: timedelta | None = None,
    effective_at: datetime | None = None,
    meta: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> TxRecord:
    """Move `amount` points from `debit` to `credit`; with `pending=True`, only reserve them until resolved."""
    legs = rules.transfer_legs(debit=debit, credit=credit, amount=amount)
    return record(
        session,
        legs=legs,
        reason=reason,
        actor=actor,
        pending=pending,
        timeout=timeout,
        effective_at=effective_at,
        meta=meta,
        idempotency_key=idempotency_key,
    )


def record(
    session: Session,
    *,
    legs: Sequence[Leg],
    reason: str,
    actor: str,
    pending: bool = False,
    timeout: timedelta | None = None,
    effective_at: datetime | None = None,
    meta: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> TxRecord:
    """Write one balanced transaction of two or more postings, all in one village, taking effect at
    `effective_at` (`effective`: by default, and at the latest, now)."""
    rules.check_legs(legs)
    _check_text(reason=reason, actor=actor)
    _check_meta(meta)
    if timeout is not None and (not pending or timeout <= timedelta(0)):
        raise Invalid("A timeout is a positive duration, and only pending transfers take one.", field="timeout")
    kind = TxKind.PENDING if pending else TxKind.TRANSFER
    request = {
        "op": kind.value,
        "legs": sorted([leg.account_id, leg.amount] for leg in legs),
        "reason": reason,
        "effective_at": None if effective_at is None else chain.moment(effective_at),
        "timeout": None if timeout is None else timeout.total_seconds(),
        "meta": meta,
    }
    conn = session.connection()
    key = idempotency.key_for(actor, idempotency_key, request)
    replay = store.claim(conn, key)
    if replay is not None:
        return replay
    locked = store.lock(conn, [leg.account_id for leg in legs])
    clock, at = effective(effective_at)
    return _append(
        session,
        locked,
        legs=legs,
        kind=kind,
        reason=reason,
        actor=actor,
        now=clock,
        effective_at=at,
        timeout_at=None if timeout is None else at + timeout,  # counted from the moment it takes effect
        meta=meta,
        key=key,
    )


def post_pending(
    session: Session,
    *,
    pending_id: int,
    actor: str,
    reason: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> TxRecord:
    """Make a pending transfer final. Refused once it has expired (at `now`) or was resolved already."""
    return _resolve(session, TxKind.POST_PENDING, pending_id, actor, reason, idempotency_key, now=now)


def void_pending(
    session: Session,
    *,
    pending_id: int,
    actor: str,
    reason: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> TxRecord:
    """Cancel a pending transfer and release what it reserved."""
    return _resolve(session, TxKind.VOID_PENDING, pending_id, actor, reason, idempotency_key, now=now)


def expire_pending(
    session: Session,
    *,
    pending_id: int,
    now: datetime | None = None,
    actor: str = "system:expiry",
    reason: str | None = None,
) -> TxRecord:
    """Expire one pending transfer now (a claim nobody decided in time; `reason` and `actor` say why and who when
    it is not the schedule, e.g. a household closed by the county admin)."""
    return _resolve(session, TxKind.EXPIRE_PENDING, pending_id, actor, reason, None, now=now)


def effective(now: datetime | None) -> tuple[datetime, datetime]:
    """The journal's clock, and the moment an entry made at `now` takes effect: `now`, but never later than the
    clock (a step run ahead of time, `shanzhi tick --days-ahead`, dates nothing in the future). Every entry is
    written (`created_at`) by the clock; an operation given an earlier moment (a record of what happened then, as
    the demo's year of history) takes effect (`effective_at`) at that moment."""
    clock = utcnow()
    return clock, clock if now is None else min(as_utc(now), clock)


def take_available(
    session: Session,
    *,
    debit: int,
    credit: int,
    amount: int,
    reason: str,
    actor: str,
    meta: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> TxRecord | None:
    """Move up to `amount` points: as many as the debit account has available, decided under the lock.
    None when it has none. (A deduction takes what the balance allows and records the rest unpaid.) `now`: the
    moment it takes effect (`effective`)."""
    rules.transfer_legs(debit=debit, credit=credit, amount=amount)  # refuses a bad amount
    _check_text(reason=reason, actor=actor)
    _check_meta(meta)
    conn = session.connection()
    locked = store.lock(conn, [debit, credit])
    taken = min(amount, max(locked.balances[debit].available, 0))
    if taken == 0:
        return None
    clock, at = effective(now)
    return _append(
        session,
        locked,
        legs=rules.transfer_legs(debit=debit, credit=credit, amount=taken),
        kind=TxKind.TRANSFER,
        reason=reason,
        actor=actor,
        now=clock,
        effective_at=at,
        timeout_at=None,
        meta=meta,
        key=None,
    )


def expire_due(session: Session, *, now: datetime | None = None, limit: int = 1000) -> list[TxRecord]:
    """Expire every pending transfer whose timeout has passed (the scheduled job calls this). Each in a savepoint
    of its own: one that fails is skipped and recorded (ledger/core/failures.py), and the others expire."""
    now = now or utcnow()
    resolution = TX.alias("resolution")
    due = session.connection().execute(
        select(TX.c.id, TX.c.county_id)
        .outerjoin(resolution, resolution.c.pending_id == TX.c.id)
        .where(TX.c.kind == TxKind.PENDING, TX.c.timeout_at <= now, resolution.c.id.is_(None))
        .order_by(TX.c.village_id, TX.c.id)  # one lock order for every caller
        .limit(limit)
    )
    expired = []
    for pending_id, county_id in due.all():
        with failures.item(session, step=STEP_EXPIRE, kind="transaction", record_id=pending_id, county_id=county_id):
            expired.append(_resolve(session, TxKind.EXPIRE_PENDING, pending_id, "system:expiry", None, None, now=now))
    return expired


def reverse(
    session: Session,
    *,
    transaction_id: int,
    actor: str,
    reason: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> TxRecord:
    """Undo a posted transaction with its mirror image, linked to it. A transaction is reversed at most once.
    `now`: the moment the reversal takes effect (`effective`)."""
    _check_text(reason=reason, actor=actor)
    conn = session.connection()
    key = idempotency.key_for(actor, idempotency_key, {"op": "reversal", "of": transaction_id, "reason": reason})
    replay = store.claim(conn, key)
    if replay is not None:
        return replay
    original = store.load(conn, transaction_id)
    if original.kind not in (TxKind.TRANSFER, TxKind.POST_PENDING):
        hint = "void it instead" if original.kind == TxKind.PENDING else "record a new transfer instead"
        raise NotReversible(f"A {original.kind} transaction cannot be reversed; {hint}.", transaction_id=transaction_id)
    legs = [Leg(leg.account_id, -leg.amount) for leg in original.postings]
    locked = store.lock(conn, [leg.account_id for leg in legs])
    earlier = store.reversal_of(conn, transaction_id)  # under the village lock: two reversals see each other
    if earlier is not None:
        raise AlreadyReversed(
            "This transaction was already reversed.",
            transaction_id=transaction_id,
            reversal_id=earlier.id,
            reversed_at=earlier.created_at.isoformat(),
        )
    clock, at = effective(now)
    return _append(
        session,
        locked,
        legs=legs,
        kind=TxKind.REVERSAL,
        reason=reason,
        actor=actor,
        now=clock,
        effective_at=at,
        timeout_at=None,
        meta={"reverses_hash": original.hash},
        key=key,
        reverses_id=transaction_id,
    )


def open_account(
    session: Session,
    *,
    kind: AccountKind,
    code: str,
    county_id: int,
    village_id: int,
    household_id: int | None = None,
    partner_id: int | None = None,
) -> Account:
    """Create an account and its zero balance row. Accounts are never deleted."""
    account = Account(
        kind=kind,
        code=code,
        county_id=county_id,
        village_id=village_id,
        household_id=household_id,
        partner_id=partner_id,
    )
    session.add(account)
    session.flush()
    assert account.id is not None
    store.ensure_balances(session.connection(), [account.id])
    return account


def get_transaction(session: Session, transaction_id: int) -> TxRecord:
    return store.load(session.connection(), transaction_id)


# --- the steps of a write ------------------------------------------------------------------------------------


def _resolve(
    session: Session,
    kind: TxKind,
    pending_id: int,
    actor: str,
    reason: str | None,
    idempotency_key: str | None,
    *,
    now: datetime | None = None,
) -> TxRecord:
    _check_text(reason=reason or kind.value, actor=actor)
    conn = session.connection()
    key = idempotency.key_for(actor, idempotency_key, {"op": kind.value, "pending": pending_id, "reason": reason})
    replay = store.claim(conn, key)
    if replay is not None:
        return replay
    pending = store.load(conn, pending_id)
    if pending.kind != TxKind.PENDING:
        raise NotPending("Only a pending transfer can be posted, voided or expired.", transaction_id=pending_id)
    locked = store.lock(conn, [leg.account_id for leg in pending.postings])
    # Checked under the village lock, so two concurrent resolutions see each other; the unique
    # constraint on pending_id stands behind this check.
    done = store.resolution_of(conn, pending_id)
    if done is not None:
        raise PendingAlreadyResolved(
            f"This pending transfer was already resolved ({done.kind}).",
            transaction_id=pending_id,
            resolution_id=done.id,
            resolution=done.kind,
            resolved_at=done.created_at.isoformat(),
        )
    # `now` (the operation's moment) decides whether the transfer has timed out, and the resolution takes effect
    # then, but never after the journal's own clock, so that no entry is dated in the future (`effective`).
    clock, at = effective(now)
    if kind == TxKind.POST_PENDING and pending.timeout_at is not None and as_utc(pending.timeout_at) <= (now or clock):
        raise PendingExpired(
            "This pending transfer has timed out and can no longer be posted.",
            transaction_id=pending_id,
            timeout_at=as_utc(pending.timeout_at).isoformat(),
        )
    return _append(
        session,
        locked,
        legs=pending.postings,
        kind=kind,
        reason=reason or pending.reason,
        actor=actor,
        now=clock,
        effective_at=at,
        timeout_at=None,
        meta=None,
        key=key,
        pending_id=pending_id,
    )


def _append(
    session: Session,
    locked: store.Locked,
    *,
    legs: Sequence[Leg],
    kind: TxKind,
    reason: str,
    actor: str,
    now: datetime,
    effective_at: datetime,
    timeout_at: datetime | None,
    meta: dict[str, Any] | None,
    key: idempotency.Key | None,
    pending_id: int | None = None,
    reverses_id: int | None = None,
) -> TxRecord:
    """With the village locked: move the balances by the rules (refusing an overdraft), link the chain, write."""
    involves_issuance = any(locked.kinds[leg.account_id] == AccountKind.ISSUANCE for leg in legs)
    for leg in legs:
        rules.apply(
            locked.balances[leg.account_id],
            tx_kind=kind,
            amount=leg.amount,
            account_kind=locked.kinds[leg.account_id],
            involves_issuance=involves_issuance,
            account_id=leg.account_id,
        )
    row: dict[str, Any] = {
        "county_id": locked.county_id,
        "village_id": locked.village_id,
        "chain_seq": locked.seq + 1,
        "kind": kind.value,
        "pending_id": pending_id,
        "reverses_id": reverses_id,
        "reason": reason,
        "actor": actor,
        "created_at": now,
        "effective_at": effective_at,
        "timeout_at": timeout_at,
        "meta": meta,
        "prev_hash": locked.hash,
    }
    row["hash"] = chain.link(locked.hash, row, [(leg.account_id, leg.amount) for leg in legs])
    awarded = months.added(legs, kind=kind, kinds=locked.kinds, households=locked.households)
    tx_id = store.write(session.connection(), row=row, legs=legs, balances=locked.balances, key=key, awarded=awarded)
    # whoever watches commits (the metrics) learns how many postings this session wrote
    session.info["postings_written"] = session.info.get("postings_written", 0) + len(legs)
    return TxRecord(id=tx_id, hash=row["hash"], postings=tuple(legs), **{k: row[k] for k in store.RECORD_FIELDS})


def _check_text(**values: str) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            raise Invalid(f"{name} must be 1 to 64 characters.", field=name)


def _check_meta(meta: dict[str, Any] | None) -> None:
    if meta is None:
        return
    if not isinstance(meta, dict) or len(meta) > 32:
        raise Invalid("Metadata is an object of at most 32 entries.", field="meta")
    for key, value in meta.items():
        if not isinstance(key, str) or len(key) > 64:
            raise Invalid("Metadata keys are strings of at most 64 characters.", field="meta")
        if not (value is None or isinstance(value, (str, int, bool))) or isinstance(value, float):
            raise Invalid("Metadata values are strings, whole numbers, booleans or null.", field=f"meta.{key}")
        if isinstance(value, str) and len(value) > 500:
            raise Invalid("Metadata strings are at most 500 characters.", field=f"meta.{key}")
