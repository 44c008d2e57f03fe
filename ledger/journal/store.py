"""The journal's SQL: locking a village for a write, appending a transaction, idempotency keys, loading.

Hot path, so SQLAlchemy Core statements built once (SQLAlchemy finds their compiled form in its cache) on the
session's connection. `service` decides what to write; this module only reads and writes rows.

Locks, in one order for every writer: the village's chain head, then the balance rows of the transaction's
accounts in account order. One statement takes both: a CTE locks the head and the balance rows are joined to
it, so no balance row can be locked before the head. On PostgreSQL, `FOR UPDATE` returns the newest committed
version of every locked row, so a writer that queued behind another sees its balances. SQLite has no row locks:
every transaction there begins with BEGIN IMMEDIATE (ledger/core/db.py), one writer at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from ledger.core import idempotency
from ledger.core.base import UtcDateTime, as_utc, table_of
from ledger.core.idempotency import IdempotencyConflict, IdempotencyRecord, Key
from ledger.journal import chain, months
from ledger.journal.errors import AccountNotFound, CrossVillageTransaction, TransactionNotFound
from ledger.journal.models import Account, AccountBalance, ChainHead, JournalTransaction, Posting
from ledger.journal.rules import Balance, Leg

ACCOUNT = table_of(Account)
BALANCE = table_of(AccountBalance)
HEAD = table_of(ChainHead)
IDEMPOTENCY = table_of(IdempotencyRecord)
POSTING = table_of(Posting)
TX = table_of(JournalTransaction)

# The columns of a transaction row besides its id, hash and prev_hash, in the order TxRecord names them.
RECORD_FIELDS = (
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


@dataclass(slots=True)
class Locked:
    """A village locked for one write: its chain head, and its accounts' kinds and balances (to be moved)."""

    village_id: int
    county_id: int
    seq: int
    hash: str
    kinds: dict[int, str]
    households: dict[int, int | None]  # each account's household (None for a village's or a partner's)
    balances: dict[int, Balance]


# --- locking ------------------------------------------------------------------------------------------------

_HEAD = (
    select(HEAD.c.village_id, HEAD.c.seq, HEAD.c.hash)
    .where(
        HEAD.c.village_id == select(ACCOUNT.c.village_id).where(ACCOUNT.c.id == bindparam("first")).scalar_subquery()
    )
    .with_for_update()
    .cte("head")
)
_LOCK = (
    select(
        _HEAD.c.seq.label("head_seq"),
        _HEAD.c.hash.label("head_hash"),
        ACCOUNT.c.id,
        ACCOUNT.c.kind,
        ACCOUNT.c.village_id,
        ACCOUNT.c.county_id,
        ACCOUNT.c.household_id,
        BALANCE.c.posted,
        BALANCE.c.pending_debit,
        BALANCE.c.pending_credit,
        BALANCE.c.earned,
    )
    .select_from(
        ACCOUNT.join(BALANCE, BALANCE.c.account_id == ACCOUNT.c.id).join(
            _HEAD, _HEAD.c.village_id == ACCOUNT.c.village_id
        )
    )
    .where(ACCOUNT.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(ACCOUNT.c.id)
    .with_for_update(of=BALANCE)
)
_ACCOUNT_PLACES = select(ACCOUNT.c.id, ACCOUNT.c.village_id, ACCOUNT.c.county_id).where(
    ACCOUNT.c.id.in_(bindparam("ids", expanding=True))
)


def lock(conn: Connection, account_ids: Sequence[int]) -> Locked:
    """Lock the chain head of the village of these accounts, then their balance rows."""
    ids = sorted(set(account_ids))
    rows = conn.execute(_LOCK, {"first": ids[0], "ids": ids}).all()
    if len(rows) != len(ids):
        _make_lockable(conn, ids)
        rows = conn.execute(_LOCK, {"first": ids[0], "ids": ids}).all()
        if len(rows) != len(ids):
            raise RuntimeError(f"accounts {ids} could not be locked")
    first = rows[0]
    return Locked(
        village_id=first.village_id,
        county_id=first.county_id,
        seq=first.head_seq,
        hash=first.head_hash,
        kinds={r.id: r.kind for r in rows},
        households={r.id: r.household_id for r in rows},
        balances={r.id: Balance(r.posted, r.pending_debit, r.pending_credit, r.earned) for r in rows},
    )


def _make_lockable(conn: Connection, ids: list[int]) -> None:
    """Why the lock found fewer rows than accounts: a missing account or one of another village (refused), or
    a village's first write (its head row is made here) or an account without a balance row (made here)."""
    places = conn.execute(_ACCOUNT_PLACES, {"ids": ids}).all()
    missing = sorted(set(ids) - {r.id for r in places})
    if missing:
        raise AccountNotFound("No such account.", account_ids=missing)
    villages = {(r.village_id, r.county_id) for r in places}
    if len(villages) != 1:
        raise CrossVillageTransaction(
            "A transaction stays within one village; settle across villages through clearing accounts.",
            villages=sorted({v for v, _ in villages}),
        )
    village_id, county_id = villages.pop()
    conn.execute(
        insert_ignoring_conflicts(
            conn, HEAD, [{"village_id": village_id, "county_id": county_id, "seq": 0, "hash": chain.GENESIS}]
        )
    )
    ensure_balances(conn, ids)


def ensure_balances(conn: Connection, account_ids: Sequence[int]) -> None:
    conn.execute(insert_ignoring_conflicts(conn, BALANCE, [{"account_id": a} for a in account_ids]))


def insert_ignoring_conflicts(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(rows).on_conflict_do_nothing()


# --- writing ------------------------------------------------------------------------------------------------


def write(
    conn: Connection,
    *,
    row: dict[str, Any],
    legs: Sequence[Leg],
    balances: dict[int, Balance],
    key: Key | None,
    awarded: Sequence[tuple[int, int, int]] = (),
) -> int:
    """Append the transaction row and its postings, store the new balances, add to the households' monthly
    summary (`awarded`: household, points, postings; `months.added`), move the head, settle the key.
    Returns the new transaction's id."""
    if conn.dialect.name == "postgresql":
        return _write_in_one_statement(conn, row=row, legs=legs, balances=balances, key=key, awarded=awarded)
    tx_id: int = conn.execute(_INSERT_TX, row).scalar_one()
    conn.execute(
        _INSERT_POSTING,
        [
            {
                "transaction_id": tx_id,
                "account_id": leg.account_id,
                "amount": leg.amount,
                "county_id": row["county_id"],
                "village_id": row["village_id"],
            }
            for leg in legs
        ],
    )
    conn.execute(
        _UPDATE_BALANCE,
        [
            {
                "b_account": account_id,
                "b_posted": b.posted,
                "b_pending_debit": b.pending_debit,
                "b_pending_credit": b.pending_credit,
                "b_earned": b.earned,
                "b_now": row["created_at"],
            }
            for account_id, b in balances.items()
        ],
    )
    if awarded:
        month = months.label(row["effective_at"])
        conn.execute(
            _ADD_MONTH,
            [
                {
                    "m_county": row["county_id"],
                    "m_household": household,
                    "m_month": month,
                    "m_reason": row["reason"],
                    "m_points": points,
                    "m_postings": n,
                }
                for household, points, n in awarded
            ],
        )
    conn.execute(
        _UPDATE_HEAD,
        {"h_village": row["village_id"], "h_seq": row["chain_seq"], "h_hash": row["hash"], "h_now": row["created_at"]},
    )
    if key is not None:
        conn.execute(_SETTLE_KEY, {"k_scope": key.scope, "k_key": key.key, "k_tx": tx_id})
    return tx_id


def _write_in_one_statement(
    conn: Connection,
    *,
    row: dict[str, Any],
    legs: Sequence[Leg],
    balances: dict[int, Balance],
    key: Key | None,
    awarded: Sequence[tuple[int, int, int]],
) -> int:
    """The writes of `write` as one PostgreSQL statement. Each statement is a network round trip made while the
    village's head is locked; one instead of four or five is most of the gain in docs/benchmarks.md."""
    return int(
        conn.execute(
            _PG_WRITE,
            {
                **row,
                "leg_accounts": [leg.account_id for leg in legs],
                "leg_amounts": [leg.amount for leg in legs],
                "b_accounts": list(balances),
                "b_posted": [b.posted for b in balances.values()],
                "b_pending_debit": [b.pending_debit for b in balances.values()],
                "b_pending_credit": [b.pending_credit for b in balances.values()],
                "b_earned": [b.earned for b in balances.values()],
                "key_scope": key.scope if key else None,
                "key": key.key if key else None,
                "m_month": months.label(row["effective_at"]),
                "m_households": [household for household, _, _ in awarded],
                "m_points": [points for _, points, _ in awarded],
                "m_postings": [n for _, _, n in awarded],
            },
        ).scalar_one()
    )


_INSERT_TX = insert(TX).returning(TX.c.id)
_INSERT_POSTING = insert(POSTING)
_UPDATE_BALANCE = (
    update(BALANCE)
    .where(BALANCE.c.account_id == bindparam("b_account"))
    .values(
        posted=bindparam("b_posted"),
        pending_debit=bindparam("b_pending_debit"),
        pending_credit=bindparam("b_pending_credit"),
        earned=bindparam("b_earned"),
        updated_at=bindparam("b_now"),
    )
)
_UPDATE_HEAD = (
    update(HEAD)
    .where(HEAD.c.village_id == bindparam("h_village"))
    .values(seq=bindparam("h_seq"), hash=bindparam("h_hash"), updated_at=bindparam("h_now"))
)
# One row per household, month and reason, added to by every award (SQLite: one writer at a time; PostgreSQL: the
# upsert takes the row's lock, so two writers each add their own).
_ADD_MONTH = text("""
INSERT INTO household_month (county_id, household_id, month, reason, points, postings)
VALUES (:m_county, :m_household, :m_month, :m_reason, :m_points, :m_postings)
ON CONFLICT (county_id, household_id, month, reason)
DO UPDATE SET points = household_month.points + excluded.points, postings = household_month.postings + excluded.postings
""")
_SETTLE_KEY = (
    update(IDEMPOTENCY)
    .where(IDEMPOTENCY.c.scope == bindparam("k_scope"), IDEMPOTENCY.c.key == bindparam("k_key"))
    .values(transaction_id=bindparam("k_tx"))
)
_PG_WRITE = text("""
WITH new_tx AS (
    INSERT INTO journal_transaction (county_id, village_id, chain_seq, kind, pending_id, reverses_id, reason, actor,
                                     created_at, effective_at, timeout_at, meta, prev_hash, hash)
    VALUES (:county_id, :village_id, :chain_seq, :kind, :pending_id, :reverses_id, :reason, :actor,
            :created_at, :effective_at, :timeout_at, :meta, :prev_hash, :hash)
    RETURNING id
), new_postings AS (
    INSERT INTO posting (transaction_id, account_id, amount, county_id, village_id)
    SELECT new_tx.id, leg.account_id, leg.amount, :county_id, :village_id
    FROM new_tx, unnest(CAST(:leg_accounts AS integer[]), CAST(:leg_amounts AS bigint[]))
         WITH ORDINALITY AS leg (account_id, amount, n)
    ORDER BY leg.n
), new_balances AS (
    UPDATE account_balance
    SET posted = b.posted, pending_debit = b.pending_debit, pending_credit = b.pending_credit, earned = b.earned,
        updated_at = :created_at
    FROM unnest(CAST(:b_accounts AS integer[]), CAST(:b_posted AS bigint[]), CAST(:b_pending_debit AS bigint[]),
                CAST(:b_pending_credit AS bigint[]), CAST(:b_earned AS bigint[]))
         AS b (account_id, posted, pending_debit, pending_credit, earned)
    WHERE account_balance.account_id = b.account_id
), new_head AS (
    UPDATE chain_head SET seq = :chain_seq, hash = :hash, updated_at = :created_at WHERE village_id = :village_id
), settled_key AS (
    UPDATE idempotency_record SET transaction_id = (SELECT id FROM new_tx) WHERE scope = :key_scope AND key = :key
), new_months AS (
    INSERT INTO household_month (county_id, household_id, month, reason, points, postings)
    SELECT :county_id, m.household_id, :m_month, :reason, m.points, m.postings
    FROM unnest(CAST(:m_households AS integer[]), CAST(:m_points AS bigint[]), CAST(:m_postings AS integer[]))
         AS m (household_id, points, postings)
    ON CONFLICT (county_id, household_id, month, reason)
    DO UPDATE SET points = household_month.points + EXCLUDED.points,
                  postings = household_month.postings + EXCLUDED.postings
)
SELECT id FROM new_tx
""").bindparams(
    bindparam("meta", type_=JSON),
    bindparam("created_at", type_=UtcDateTime()),
    bindparam("effective_at", type_=UtcDateTime()),
    bindparam("timeout_at", type_=UtcDateTime()),
)


# --- idempotency keys ---------------------------------------------------------------------------------------


def claim(conn: Connection, key: Key | None) -> TxRecord | None:
    """Reserve the key, or return the transaction the same request wrote before (marked as a replay)."""
    earlier = idempotency.reserve(conn, key)
    if earlier is None:
        return None
    if earlier.transaction_id is None:
        raise IdempotencyConflict("This Idempotency-Key was already used for another kind of request.")
    original = load(conn, earlier.transaction_id)
    return TxRecord(**{**{f: getattr(original, f) for f in TxRecord.__slots__}, "replayed": True})


# --- reading ------------------------------------------------------------------------------------------------


def load(conn: Connection, transaction_id: int) -> TxRecord:
    row = conn.execute(select(TX).where(TX.c.id == transaction_id)).first()
    if row is None:
        raise TransactionNotFound("No such transaction.", transaction_id=transaction_id)
    legs = conn.execute(
        select(POSTING.c.account_id, POSTING.c.amount)
        .where(POSTING.c.transaction_id == transaction_id)
        .order_by(POSTING.c.id)
    ).all()
    fields = {f: getattr(row, f) for f in RECORD_FIELDS}
    return TxRecord(id=row.id, hash=row.hash, postings=tuple(Leg(a, b) for a, b in legs), **fields)


@dataclass(frozen=True, slots=True)
class Follower:
    """The transaction that resolved a pending one, or that reversed a posted one."""

    id: int
    kind: str
    created_at: datetime


def resolution_of(conn: Connection, pending_id: int) -> Follower | None:
    row = conn.execute(select(TX.c.id, TX.c.kind, TX.c.created_at).where(TX.c.pending_id == pending_id)).first()
    return None if row is None else Follower(row.id, row.kind, as_utc(row.created_at))


def reversal_of(conn: Connection, transaction_id: int) -> Follower | None:
    row = conn.execute(select(TX.c.id, TX.c.kind, TX.c.created_at).where(TX.c.reverses_id == transaction_id)).first()
    return None if row is None else Follower(row.id, row.kind, as_utc(row.created_at))
