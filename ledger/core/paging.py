"""Keyset pagination, one way for every list: a page holds the rows after the cursor that the page before gave, in
an order that never changes between pages (the row's id last, so no two rows tie); the cursor is the sort key of
the page's last row, opaque to the client. A row added while a client pages appears once or not at all, never
twice, and no row is skipped."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlmodel import Session

from ledger.core.errors import Invalid

PAGE = 50  # rows in a page when the client does not say
MOST = 200  # the most rows one page holds

T = TypeVar("T")
Key = tuple[int | str, ...]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None  # null on the last page


def encode(*key: int | str) -> str:
    """The cursor naming the row with this sort key."""
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str | None, *kinds: type[int] | type[str]) -> Key | None:
    """The sort key a cursor of `encode` holds, of these kinds (int, str); None without a cursor. Anything else is
    refused with 422 `invalid` naming the field `cursor`, never a server error."""
    if cursor is None or cursor == "":
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise Invalid("This cursor is not one this list gave.", field="cursor") from exc
    if (
        not isinstance(key, list)
        or len(key) != len(kinds)
        or not all(type(part) is kind for part, kind in zip(key, kinds, strict=True))
        or any(isinstance(part, int) and not -(2**63) <= part < 2**63 for part in key)
    ):
        raise Invalid("This cursor is not one this list gave.", field="cursor")
    return tuple(key)


def decode_id(cursor: str | None) -> int | None:
    """The row id a cursor of `encode(id)` holds."""
    key = decode(cursor, int)
    return None if key is None else int(key[0])


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """A moment as a cursor holds it: microseconds since 1970 (UTC)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def moment(micros_since_epoch: int) -> datetime:
    """The moment a cursor's `micros` names; a number no moment has is refused like any odd cursor."""
    try:
        return EPOCH + timedelta(microseconds=micros_since_epoch)
    except OverflowError as exc:
        raise Invalid("This cursor is not one this list gave.", field="cursor") from exc


def bounded(limit: int) -> int:
    return max(1, min(limit, MOST))


def cut(rows: Sequence[T], limit: int, key: Callable[[T], Key]) -> Page[T]:
    """A page of rows read with `limit + 1`: the extra row only says that more follow."""
    shown = list(rows[:limit])
    more = len(rows) > limit and bool(shown)
    return Page(shown, encode(*key(shown[-1])) if more else None)


def by_id(
    session: Session,
    query: Select[Any],
    id_column: Any,
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> Page[Any]:
    """The rows of `query` (one entity or column per row) ordered by id, newest or oldest first, a page at a time."""
    limit = bounded(limit)
    after = decode_id(cursor)
    if after is not None:
        query = query.where(id_column < after if newest_first else id_column > after)
    query = query.order_by(id_column.desc() if newest_first else id_column).limit(limit + 1)
    rows = list(session.scalars(query).all())
    return cut(rows, limit, lambda row: (int(row.id),))
