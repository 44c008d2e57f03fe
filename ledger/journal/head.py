"""The exported chain head: every village head of a county, combined into one root that a bank can pin,
and the check that a pinned head is still part of the chain (history was only ever appended to)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from ledger.core.base import as_utc, table_of, utcnow
from ledger.core.errors import Invalid
from ledger.journal import chain
from ledger.journal.models import ChainHead, JournalTransaction

HEAD = table_of(ChainHead)
TX = table_of(JournalTransaction)


def county_head(session: Session, county_code: str, county_id: int, village_ids: Sequence[int]) -> dict[str, Any]:
    """The head of every village of a county (the caller names them: `ledger.tenancy.villages_of_county`), a
    village without a transaction yet at the genesis link, and their root."""
    heads = {
        r.village_id: r
        for r in session.connection().execute(
            select(HEAD.c.village_id, HEAD.c.seq, HEAD.c.hash, HEAD.c.updated_at).where(
                HEAD.c.village_id.in_(list(village_ids))
            )
        )
    }
    links: list[tuple[int, int, str]] = []
    villages: list[dict[str, Any]] = []
    for village_id in sorted(village_ids):
        r = heads.get(village_id)
        link = (village_id, int(r.seq), str(r.hash)) if r is not None else (village_id, 0, chain.GENESIS)
        links.append(link)
        at = None if r is None or r.updated_at is None else as_utc(r.updated_at).isoformat()
        villages.append({"village_id": link[0], "seq": link[1], "hash": link[2], "updated_at": at})
    return {
        "county": county_code,
        "county_id": county_id,
        "villages": villages,
        "root": chain.root(links),
        "transactions": sum(seq for _, seq, _ in links),
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
