"""The exported chain head: every village head of a county, combined into one root that a bank can pin,
and the check that a pinned head is still part of the chain (history was only ever appended to)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.base import as_utc, table_of, utcnow
from ledger.errors import Invalid
from ledger.journal import chain
from ledger.journal.models import ChainHead, JournalTransaction
from ledger.tenancy import County, Village

HEAD = table_of(ChainHead)
TX = table_of(JournalTransaction)


def county_head(session: Session, county_id: int) -> dict[str, Any]:
    county = session.get(County, county_id)
    rows = (
        session.connection()
        .execute(
            select(col(Village.id), HEAD.c.seq, HEAD.c.hash, HEAD.c.updated_at)
            .select_from(Village)
            .outerjoin(HEAD, HEAD.c.village_id == Village.id)
            .where(col(Village.county_id) == county_id)
            .order_by(col(Village.id))
        )
        .all()
    )
    villages = [
        {
            "village_id": r.id,
            "seq": int(r.seq or 0),
            "hash": r.hash or chain.GENESIS,
            "updated_at": None if r.updated_at is None else as_utc(r.updated_at).isoformat(),
        }
        for r in rows
    ]
    return {
        "county": county.code if county else None,
        "county_id": county_id,
        "villages": villages,
        "root": chain.root([(v["village_id"], v["seq"], v["hash"]) for v in villages]),
        "transactions": sum(v["seq"] for v in villages),
        "at": utcnow().isoformat(),
    }


def still_in_chain(session: Session, pinned: dict[str, Any]) -> list[str]:
    """What no longer matches a pinned head: empty when every pinned village link is still in place."""
    try:
        villages = [(int(v["village_id"]), int(v["seq"]), str(v["hash"])) for v in pinned["villages"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise Invalid("The pinned head is not a Shanzhi chain head.", field="head") from exc
    if chain.root(villages) != pinned.get("root"):
        return ["the pinned root does not match its own village heads"]
    problems = []
    for village_id, seq, pinned_hash in villages:
        if seq == 0:
            continue
        found = (
            session.connection()
            .execute(select(TX.c.hash).where(TX.c.village_id == village_id, TX.c.chain_seq == seq))
            .scalar_one_or_none()
        )
        if found != pinned_hash:
            problems.append(f"village {village_id}: link {seq} is {'gone' if found is None else 'different'}")
    return problems
