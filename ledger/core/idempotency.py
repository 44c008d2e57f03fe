"""Idempotency keys for every write: the same key with the same request gives the original result, the same key
with a different request is refused. One table, one unique constraint (scope, key), one mechanism for journal
transfers and for the operations built on them (claims, decisions, deductions…).

An operation reserves its key first, inside its unit of work, and records its result before the unit commits; a
failed operation rolls the reservation back with everything else, so the key is free again. On PostgreSQL a
concurrent reservation of the same key waits on the unique index until the first commits (then it replays) or
rolls back (then it reserves the key itself).

Every idempotent command of the domain runs through `run`: key and request hash, reserve, on a replay load the
stored result, else run the operation and record its result; it answers one type, `Outcome[T]` (`.value`,
`.replayed`). What is stored for a replay is small JSON, most often the id of the row the operation made
(`row(Claim, "claim")`).

The journal's own transfers (`ledger/journal/service.py`, `ledger/journal/store.py`) keep their own use of this
table: there the key is reserved inside the write's one CTE statement, together with the lock of the chain head and
the balances, and the transaction id is stored in the same statement. Folding that into `run` would cost the hot
path of every claim and redemption a second round trip (a reserve, then the write), so it stays as it is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import JSON, Column, Connection, UniqueConstraint, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from ledger.core.base import table_of, timestamp, utcnow
from ledger.core.errors import Conflict, Invalid


class IdempotencyRecord(SQLModel, table=True):
    """A client's Idempotency-Key, with a hash of the request it came with. Unique per caller. A journal transfer
    records its transaction here (in the same statement as the transfer, ledger/journal/store.py); any other
    idempotent write records its result."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_record_scope_key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=64)
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    transaction_id: int | None = Field(default=None, foreign_key="journal_transaction.id")
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # what a non-journal write made
    created_at: datetime = timestamp(default_factory=utcnow)


IDEMPOTENCY = table_of(IdempotencyRecord)
T = TypeVar("T")
MAX_KEY_LENGTH = 200


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class Key:
    """A caller's Idempotency-Key and the hash of the request it came with."""

    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class Earlier:
    """What the first request with this key produced: a journal transaction and/or a result of its own."""

    transaction_id: int | None
    result: dict[str, Any] | None


def key_for(actor: str, key: str | None, request: dict[str, Any]) -> Key | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.", field="Idempotency-Key")
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    return Key(scope=actor, key=key, request_hash=digest)


def reserve(conn: Connection, key: Key | None) -> Earlier | None:
    """Reserve the key for this request (None), or say what the same request produced before (Earlier)."""
    if key is None:
        return None
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = conn.execute(
        dialect.insert(IDEMPOTENCY)
        .values(scope=key.scope, key=key.key, request_hash=key.request_hash)
        .on_conflict_do_nothing()
        .returning(IDEMPOTENCY.c.id)
    ).first()
    if inserted is not None:
        return None
    earlier = conn.execute(
        select(IDEMPOTENCY.c.request_hash, IDEMPOTENCY.c.transaction_id, IDEMPOTENCY.c.result).where(
            IDEMPOTENCY.c.scope == key.scope, IDEMPOTENCY.c.key == key.key
        )
    ).one()
    if earlier.request_hash != key.request_hash or (earlier.transaction_id is None and earlier.result is None):
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request.", idempotency_key=key.key
        )
    return Earlier(earlier.transaction_id, earlier.result)


_RECORD_RESULT = (
    update(IDEMPOTENCY)
    .where(IDEMPOTENCY.c.scope == bindparam("k_scope"), IDEMPOTENCY.c.key == bindparam("k_key"))
    .values(result=bindparam("k_result"))
)


def record_result(session: Session, key: Key | None, result: dict[str, Any]) -> None:
    """Remember what the operation produced, for the replay of its key (a small JSON object)."""
    if key is not None:
        session.connection().execute(_RECORD_RESULT, {"k_scope": key.scope, "k_key": key.key, "k_result": result})


def replayed(session: Session, earlier: Earlier, model: type[T], name: str) -> T:
    """The row the first request with this key made (its id recorded under `name`); a key first used for
    another kind of request is refused."""
    row_id = (earlier.result or {}).get(name)
    row = session.get(model, row_id) if row_id is not None else None
    if row is None:
        raise IdempotencyConflict("This Idempotency-Key was already used for another kind of request.")
    return row


def begin(
    session: Session, *, actor: str, key: str | None, request: dict[str, Any]
) -> tuple[Key | None, Earlier | None]:
    """Key and reserve in one step: (the key, None) for a new request, (the key, Earlier) for a replay."""
    parsed = key_for(actor, key, request)
    return parsed, reserve(session.connection(), parsed)


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What an idempotent command gives: its value, and whether it is the replay of an earlier request."""

    value: T
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Stored(Generic[T]):
    """How a command's value is kept for its key's replay: `save` makes the small JSON object recorded with the
    key, `load` gives the value back from what the first request recorded."""

    save: Callable[[T], dict[str, Any]]
    load: Callable[[Session, Earlier], T]


M = TypeVar("M")


def row(model: type[M], name: str) -> Stored[M]:
    """The value is a row: its id is kept under `name`, and a replay loads that row."""

    def save(value: M) -> dict[str, Any]:
        return {name: getattr(value, "id")}  # noqa: B009 - any table model with an id

    def load(session: Session, earlier: Earlier) -> M:
        return replayed(session, earlier, model, name)

    return Stored(save, load)


def run(
    session: Session,
    *,
    actor: str,
    key: str | None,
    request: dict[str, Any],
    stored: Stored[T],
    operation: Callable[[], T],
) -> Outcome[T]:
    """Run an idempotent command in the caller's unit of work. Without a key the operation simply runs. With one:
    the key is reserved for this request; a replay of the same request gives the stored result without running
    the operation; a reuse of the key for another request is refused (IdempotencyConflict)."""
    parsed, earlier = begin(session, actor=actor, key=key, request=request)
    if earlier is not None:
        return Outcome(stored.load(session, earlier), replayed=True)
    value = operation()
    record_result(session, parsed, stored.save(value))
    return Outcome(value)
