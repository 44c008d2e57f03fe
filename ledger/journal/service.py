"""Writing to the journal. Every write runs inside the caller's unit of work and only flushes.

One write, in order: claim the idempotency key (unique per caller), load the accounts, lock the village's
chain head, lock the balance rows (upserted, then SELECT … FOR UPDATE, in account order), check the rules,
append the transaction and its postings, move the balances and the head. Hot path: SQLAlchemy Core
statements on the session's connection.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ledger.base import as_utc, utcnow
from ledger.errors import Invalid
from ledger.journal import chain, rules
from ledger.journal.errors import (
    AccountNotFound,
    AlreadyReversed,
    CrossVillageTransaction,
    IdempotencyConflict,
    NotPending,
    NotReversible,
    PendingAlreadyResolved,
    PendingExpired,
    TransactionNotFound,
)
from ledger.journal.models import (
    Account,
    AccountBalance,
    AccountKind,
    ChainHead,
    IdempotencyRecord,
    JournalTransaction,
    Posting,
    TxKind,
)
from ledger.journal.rules import Balance, Leg

ACCOUNT = Account.__table__
BALANCE = AccountBalance.__table__
HEAD = ChainHead.__table__
IDEMPOTENCY = IdempotencyRecord.__table__
POSTING = Posting.__table__
TX = JournalTransaction.__table__

MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class TxRecord:
    id: int
    county_id: int
    village_id: int
    chain_seq: int
    kind: str
    pending_id: int | None
    reverses_id: int | None
    reason: str
    actor: str
    created_at: datetime
    effective_at: datetime
    timeout_at: datetime | None
    meta: dict[str, Any] | None
    hash: str
    postings: tuple[Leg, ...]
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class _Idempotency:
    scope: str
    key: str
    request_hash: str


# --- public operations ------------------------------------------------------------------------------------


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
    """Write one balanced transaction of two or more postings, all in one village."""
    rules.check_legs(legs)
    _check_text(reason=reason, actor=actor)
    _check_meta(meta)
    if timeout is not None and (not pending or timeout <= timedelta(0)):
        raise Invalid("A timeout is a positive duration, and only pending transfers take one.", field="timeout")
    kind = TxKind.PENDING if pending else TxKind.TRANSFER
    now = utcnow()
    request = {
        "op": kind.value,
        "legs": sorted([leg.account_id, leg.amount] for leg in legs),
        "reason": reason,
        "effective_at": None if effective_at is None else chain.moment(effective_at),
        "timeout": None if timeout is None else timeout.total_seconds(),
        "meta": meta,
    }
    conn = session.connection()
    idem = _idempotency(actor, idempotency_key, request)
    replay = _claim(conn, idem)
    if replay is not None:
        return replay
    accounts = _accounts(conn, [leg.account_id for leg in legs])
    village_id, county_id = _one_village(accounts)
    head = _lock_head(conn, village_id, county_id)
    return _counted(
        session,
        _append(
            conn,
            head=head,
            accounts=accounts,
            legs=legs,
            kind=kind,
            reason=reason,
            actor=actor,
            now=now,
            effective_at=effective_at or now,
            timeout_at=None if timeout is None else now + timeout,
            meta=meta,
            idem=idem,
        ),
    )


def post_pending(
    session: Session, *, pending_id: int, actor: str, reason: str | None = None, idempotency_key: str | None = None
) -> TxRecord:
    """Make a pending transfer final. Refused once it has expired or was resolved already."""
    return _resolve(session, TxKind.POST_PENDING, pending_id, actor, reason, idempotency_key)


def void_pending(
    session: Session, *, pending_id: int, actor: str, reason: str | None = None, idempotency_key: str | None = None
) -> TxRecord:
    """Cancel a pending transfer and release what it reserved."""
    return _resolve(session, TxKind.VOID_PENDING, pending_id, actor, reason, idempotency_key)


def expire_due(session: Session, *, now: datetime | None = None, limit: int = 1000) -> list[TxRecord]:
    """Expire every pending transfer whose timeout has passed (the scheduled job calls this)."""
    now = now or utcnow()
    resolution = TX.alias("resolution")
    due = session.connection().execute(
        select(TX.c.id)
        .outerjoin(resolution, resolution.c.pending_id == TX.c.id)
        .where(TX.c.kind == TxKind.PENDING, TX.c.timeout_at <= now, resolution.c.id.is_(None))
        .order_by(TX.c.village_id, TX.c.id)  # one lock order for every caller
        .limit(limit)
    )
    return [
        _resolve(session, TxKind.EXPIRE_PENDING, pending_id, "system:expiry", None, None, now=now)
        for pending_id in due.scalars().all()
    ]


def reverse(
    session: Session, *, transaction_id: int, actor: str, reason: str, idempotency_key: str | None = None
) -> TxRecord:
    """Undo a posted transaction with its mirror image, linked to it. A transaction is reversed at most once."""
    _check_text(reason=reason, actor=actor)
    conn = session.connection()
    idem = _idempotency(actor, idempotency_key, {"op": "reversal", "of": transaction_id, "reason": reason})
    replay = _claim(conn, idem)
    if replay is not None:
        return replay
    original = _load(conn, transaction_id)
    if original.kind not in (TxKind.TRANSFER, TxKind.POST_PENDING):
        hint = "void it instead" if original.kind == TxKind.PENDING else "record a new transfer instead"
        raise NotReversible(
            f"A {original.kind} transaction cannot be reversed; {hint}.", transaction_id=transaction_id
        )
    head = _lock_head(conn, original.village_id, original.county_id)
    _refuse_second_reversal(conn, transaction_id)
    legs = [Leg(leg.account_id, -leg.amount) for leg in original.postings]
    now = utcnow()
    return _counted(
        session,
        _append(
            conn,
            head=head,
            accounts=_accounts(conn, [leg.account_id for leg in legs]),
            legs=legs,
            kind=TxKind.REVERSAL,
            reason=reason,
            actor=actor,
            now=now,
            effective_at=now,
            timeout_at=None,
            meta={"reverses_hash": original.hash},
            idem=idem,
            reverses_id=transaction_id,
        ),
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
    _ensure_balances(session.connection(), [account.id])
    return account


def get_transaction(session: Session, transaction_id: int) -> TxRecord:
    return _load(session.connection(), transaction_id)


# --- the steps of a write ------------------------------------------------------------------------------------


def _counted(session: Session, record: TxRecord) -> TxRecord:
    """Tell whoever watches commits (the metrics) how many postings this session wrote."""
    if not record.replayed:
        session.info["postings_written"] = session.info.get("postings_written", 0) + len(record.postings)
    return record


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
    idem = _idempotency(actor, idempotency_key, {"op": kind.value, "pending": pending_id, "reason": reason})
    replay = _claim(conn, idem)
    if replay is not None:
        return replay
    pending = _load(conn, pending_id)
    if pending.kind != TxKind.PENDING:
        raise NotPending("Only a pending transfer can be posted, voided or expired.", transaction_id=pending_id)
    head = _lock_head(conn, pending.village_id, pending.county_id)
    # Checked under the village lock, so two concurrent resolutions see each other; the unique
    # constraint on pending_id stands behind this check.
    done = conn.execute(
        select(TX.c.id, TX.c.kind, TX.c.created_at).where(TX.c.pending_id == pending_id)
    ).first()
    if done is not None:
        raise PendingAlreadyResolved(
            f"This pending transfer was already resolved ({done.kind}).",
            transaction_id=pending_id,
            resolution_id=done.id,
            resolution=done.kind,
            resolved_at=as_utc(done.created_at).isoformat(),
        )
    now = now or utcnow()
    if kind == TxKind.POST_PENDING and pending.timeout_at is not None and as_utc(pending.timeout_at) <= now:
        raise PendingExpired(
            "This pending transfer has timed out and can no longer be posted.",
            transaction_id=pending_id,
            timeout_at=as_utc(pending.timeout_at).isoformat(),
        )
    return _counted(
        session,
        _append(
            conn,
            head=head,
            accounts=_accounts(conn, [leg.account_id for leg in pending.postings]),
            legs=pending.postings,
            kind=kind,
            reason=reason or pending.reason,
            actor=actor,
            now=now,
            effective_at=now,
            timeout_at=None,
            meta=None,
            idem=idem,
            pending_id=pending_id,
        ),
    )


def _append(
    conn: Connection,
    *,
    head: tuple[int, str],
    accounts: dict[int, tuple[str, int, int]],
    legs: Sequence[Leg],
    kind: TxKind,
    reason: str,
    actor: str,
    now: datetime,
    effective_at: datetime,
    timeout_at: datetime | None,
    meta: dict[str, Any] | None,
    idem: _Idempotency | None,
    pending_id: int | None = None,
    reverses_id: int | None = None,
) -> TxRecord:
    first = next(iter(accounts.values()))
    county_id, village_id = first[2], first[1]
    balances = _lock_balances(conn, sorted(accounts))
    involves_issuance = any(accounts[leg.account_id][0] == AccountKind.ISSUANCE for leg in legs)
    for leg in legs:
        rules.apply(
            balances[leg.account_id],
            tx_kind=kind,
            amount=leg.amount,
            account_kind=accounts[leg.account_id][0],
            involves_issuance=involves_issuance,
            account_id=leg.account_id,
        )
    seq, prev_hash = head[0] + 1, head[1]
    row = {
        "county_id": county_id,
        "village_id": village_id,
        "chain_seq": seq,
        "kind": kind.value,
        "pending_id": pending_id,
        "reverses_id": reverses_id,
        "reason": reason,
        "actor": actor,
        "created_at": now,
        "effective_at": effective_at,
        "timeout_at": timeout_at,
        "meta": meta,
    }
    row["prev_hash"] = prev_hash
    row["hash"] = chain.link(prev_hash, row, [(leg.account_id, leg.amount) for leg in legs])
    tx_id = conn.execute(insert(TX).values(row).returning(TX.c.id)).scalar_one()
    conn.execute(
        insert(POSTING),
        [
            {
                "transaction_id": tx_id,
                "account_id": leg.account_id,
                "amount": leg.amount,
                "county_id": county_id,
                "village_id": village_id,
            }
            for leg in legs
        ],
    )
    conn.execute(
        update(BALANCE)
        .where(BALANCE.c.account_id == bindparam("b_account"))
        .values(
            posted=bindparam("b_posted"),
            pending_debit=bindparam("b_pending_debit"),
            pending_credit=bindparam("b_pending_credit"),
            earned=bindparam("b_earned"),
            updated_at=now,
        ),
        [
            {
                "b_account": account_id,
                "b_posted": b.posted,
                "b_pending_debit": b.pending_debit,
                "b_pending_credit": b.pending_credit,
                "b_earned": b.earned,
            }
            for account_id, b in balances.items()
        ],
    )
    conn.execute(
        update(HEAD).where(HEAD.c.village_id == village_id).values(seq=seq, hash=row["hash"], updated_at=now)
    )
    if idem is not None:
        conn.execute(
            update(IDEMPOTENCY)
            .where(IDEMPOTENCY.c.scope == idem.scope, IDEMPOTENCY.c.key == idem.key)
            .values(transaction_id=tx_id)
        )
    return TxRecord(id=tx_id, hash=row["hash"], postings=tuple(legs), **{k: row[k] for k in _RECORD_FIELDS})


_RECORD_FIELDS = (
    "county_id",
    "village_id",
    "chain_seq",
    "kind",
    "pending_id",
    "reverses_id",
    "reason",
    "actor",
    "created_at",
    "effective_at",
    "timeout_at",
    "meta",
)


def _insert_ignoring_conflicts(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(rows).on_conflict_do_nothing()


def _idempotency(actor: str, key: str | None, request: dict[str, Any]) -> _Idempotency | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.", field="Idempotency-Key"
        )
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    return _Idempotency(scope=actor, key=key, request_hash=digest)


def _claim(conn: Connection, idem: _Idempotency | None) -> TxRecord | None:
    """Claim the key for this request, or return the original result when the same request came before.

    The unique constraint decides: on PostgreSQL a concurrent claim of the same key waits here until the
    first one commits (then replays) or rolls back (then claims it itself).
    """
    if idem is None:
        return None
    stmt = _insert_ignoring_conflicts(
        conn, IDEMPOTENCY, [{"scope": idem.scope, "key": idem.key, "request_hash": idem.request_hash}]
    ).returning(IDEMPOTENCY.c.id)
    if conn.execute(stmt).first() is not None:
        return None
    earlier = conn.execute(
        select(IDEMPOTENCY.c.request_hash, IDEMPOTENCY.c.transaction_id).where(
            IDEMPOTENCY.c.scope == idem.scope, IDEMPOTENCY.c.key == idem.key
        )
    ).one()
    if earlier.request_hash != idem.request_hash or earlier.transaction_id is None:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request.", idempotency_key=idem.key
        )
    original = _load(conn, earlier.transaction_id)
    return TxRecord(**{**{f: getattr(original, f) for f in TxRecord.__slots__}, "replayed": True})


def _accounts(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[str, int, int]]:
    rows = conn.execute(
        select(ACCOUNT.c.id, ACCOUNT.c.kind, ACCOUNT.c.village_id, ACCOUNT.c.county_id).where(
            ACCOUNT.c.id.in_(list(ids))
        )
    ).all()
    found = {row.id: (row.kind, row.village_id, row.county_id) for row in rows}
    missing = sorted(set(ids) - set(found))
    if missing:
        raise AccountNotFound("No such account.", account_ids=missing)
    return found


def _one_village(accounts: dict[int, tuple[str, int, int]]) -> tuple[int, int]:
    villages = {(village, county) for _, village, county in accounts.values()}
    if len(villages) != 1:
        raise CrossVillageTransaction(
            "A transaction stays within one village; settle across villages through clearing accounts.",
            villages=sorted(v for v, _ in villages),
        )
    return villages.pop()


def _lock_head(conn: Connection, village_id: int, county_id: int) -> tuple[int, str]:
    """Lock the village's chain head; every write in the village queues here, other villages do not."""
    query = select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.village_id == village_id).with_for_update()
    head = conn.execute(query).first()
    if head is None:
        conn.execute(
            _insert_ignoring_conflicts(
                conn, HEAD, [{"village_id": village_id, "county_id": county_id, "seq": 0, "hash": chain.GENESIS}]
            )
        )
        head = conn.execute(query).one()
    return head.seq, head.hash


def _ensure_balances(conn: Connection, account_ids: Sequence[int]) -> None:
    conn.execute(_insert_ignoring_conflicts(conn, BALANCE, [{"account_id": a} for a in account_ids]))


def _lock_balances(conn: Connection, account_ids: list[int]) -> dict[int, Balance]:
    query = (
        select(BALANCE.c.account_id, BALANCE.c.posted, BALANCE.c.pending_debit, BALANCE.c.pending_credit,
               BALANCE.c.earned)
        .where(BALANCE.c.account_id.in_(account_ids))
        .order_by(BALANCE.c.account_id)
        .with_for_update()
    )
    rows = conn.execute(query).all()
    if len(rows) != len(account_ids):
        _ensure_balances(conn, account_ids)
        rows = conn.execute(query).all()
    return {r.account_id: Balance(r.posted, r.pending_debit, r.pending_credit, r.earned) for r in rows}


def _load(conn: Connection, transaction_id: int) -> TxRecord:
    row = conn.execute(select(TX).where(TX.c.id == transaction_id)).first()
    if row is None:
        raise TransactionNotFound("No such transaction.", transaction_id=transaction_id)
    legs = conn.execute(
        select(POSTING.c.account_id, POSTING.c.amount)
        .where(POSTING.c.transaction_id == transaction_id)
        .order_by(POSTING.c.id)
    ).all()
    fields = {f: getattr(row, f) for f in _RECORD_FIELDS}
    return TxRecord(id=row.id, hash=row.hash, postings=tuple(Leg(a, b) for a, b in legs), **fields)


def _refuse_second_reversal(conn: Connection, transaction_id: int) -> None:
    earlier = conn.execute(select(TX.c.id, TX.c.created_at).where(TX.c.reverses_id == transaction_id)).first()
    if earlier is not None:
        raise AlreadyReversed(
            "This transaction was already reversed.",
            transaction_id=transaction_id,
            reversal_id=earlier.id,
            reversed_at=as_utc(earlier.created_at).isoformat(),
        )


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
