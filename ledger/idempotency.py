"""Idempotency keys for every write: the same key with the same request gives the original result, the same key
with a different request is refused. One table, one unique constraint (scope, key), one mechanism for journal
transfers and for the operations built on them (claims, decisions, deductions…).

An operation reserves its key first, inside its unit of work, and records its result before the unit commits; a
failed operation rolls the reservation back with everything else, so the key is free again. On PostgreSQL a
concurrent reservation of the same key waits on the unique index until the first commits (then it replays) or
rolls back (then it reserves the key itself).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ledger.errors import Conflict, Invalid
from ledger.journal.models import IdempotencyRecord

IDEMPOTENCY = IdempotencyRecord.__table__
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
