"""The hash chain: each transaction stores SHA-256(previous hash ‖ canonical form of itself and its postings).
One chain per village; the county head combines every village head into one root."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ledger.core.base import as_utc

GENESIS = "0" * 64


def moment(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(tx: Mapping[Any, Any], postings: Iterable[tuple[int, int]]) -> bytes:
    """A byte form of a transaction that is the same on every database and every read."""
    body = {
        "village": tx["village_id"],
        "seq": tx["chain_seq"],
        "kind": tx["kind"],
        "pending": tx["pending_id"],
        "reverses": tx["reverses_id"],
        "reason": tx["reason"],
        "actor": tx["actor"],
        "created": moment(tx["created_at"]),
        "effective": moment(tx["effective_at"]),
        "timeout": moment(tx["timeout_at"]),
        "meta": tx["meta"],
        "postings": sorted([int(a), int(b)] for a, b in postings),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, tx: Mapping[Any, Any], postings: Iterable[tuple[int, int]]) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical(tx, postings)).hexdigest()


def root(heads: Sequence[tuple[int, int, str]]) -> str:
    """One hash over every village head (village id, sequence, hash), in village order."""
    digest = hashlib.sha256()
    for village_id, seq, head_hash in sorted(heads):
        digest.update(f"{village_id}:{seq}:{head_hash};".encode())
    return digest.hexdigest()
