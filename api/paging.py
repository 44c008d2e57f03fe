"""How a list route pages (README, "Lists"): `limit` rows (1 to 200, 50 when left out) after `cursor`; while more
rows follow, the answer's `Link` header names the next page (`rel="next"`), and answers that are an object also
carry the same cursor as `next_cursor`. A cursor is opaque: pass back the one given."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from ledger.core import paging

Limit = Annotated[
    int, Query(ge=1, le=paging.MOST, description=f"Rows in the page, 1 to {paging.MOST} ({paging.PAGE} by default).")
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=200,
        description='The `next_cursor` (or the `cursor` of the `Link: rel="next"` header) of the page before; '
        "left out, the first page.",
    ),
]


def link_next(request: Request, response: Response, next_cursor: str | None) -> None:
    """Name the next page in the `Link` header: this request's path and query with the next cursor."""
    if next_cursor is None:
        return
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"] + [("cursor", next_cursor)]
    response.headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
