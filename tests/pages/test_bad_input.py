"""Bad input on every page, for every role: odd path ids, odd query values, forms with odd or oversized fields.
Each answer is a page that names the problem (or a redirect), never a 500 or a stack trace, and nothing is
written: the journal and the claims stay as they were."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api.pages import ROUTERS
from ledger.claims.models import Claim, Dispute
from ledger.core.db import unit_of_work
from ledger.journal.models import JournalTransaction
from tests.api.conftest import World
from tests.pages.conftest import csrf_of, sign_in_staff, sign_in_villager

ODD_IDS = ("0", "abc", "99999999999999999999999")
ODD_QUERY = {
    "village_id": "abc",
    "township": "-1",
    "period": "decade",
    "page_number": "-5",
    "status": "zzz",
    "show": "nope",
    "month": "2026-13",
    "format": "pdf",
    "only": "<script>",
    "next": "//evil.example",
    "claim_id": "x",
    "deduction_id": "1.5",
    "household_id": "-3",
    "include_ended": "maybe",
    "lookup": "SZV1:" + "A" * 400,
    "name": "../../etc/passwd",
}
ODD_VALUES = ("", "x" * 5000, "-1", "1e9\x00<script>")
WHO = ("villager", "official-a", "mart-staff", "clinic-staff", "bank-staff")


def page_routes() -> list[tuple[str, str, list[str]]]:
    """(method, path, form fields) of every page route."""
    found = []
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                fields = [p.alias for p in route.dependant.body_params]
                for method in route.methods or ():
                    found.append((method, route.path, fields))
    return sorted(found)


def with_ids(path: str, value: str) -> str:
    return re.sub(r"{[^}]+}", value, path)


def written(engine: Engine) -> tuple[int, int, int]:
    with unit_of_work(engine) as session:
        transactions, claims, disputes = (
            int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (JournalTransaction, Claim, Dispute)
        )
        return transactions, claims, disputes


def plain(response: Any) -> bool:
    """A refusal a person can read: no server error, no trace, and a page or a redirect (or a file)."""
    return response.status_code < 500 and "Traceback" not in response.text and 'File "/' not in response.text


@pytest.mark.parametrize("who", WHO)
def test_no_odd_input_on_any_page_gives_a_server_error_or_writes_anything(
    browser: TestClient, world: World, engine: Engine, who: str
) -> None:
    if who == "villager":
        sign_in_villager(browser, world.villager_phone)
    else:
        sign_in_staff(browser, who)
    home = {"villager": "/me", "official-a": "/office", "bank-staff": "/bank"}.get(who, "/till")
    csrf = csrf_of(browser.get(home).text)
    before = written(engine)
    problems: list[tuple[Any, ...]] = []
    for method, path, fields in page_routes():
        if path in ("/signout", "/static"):
            continue
        for value in ODD_IDS:
            url = with_ids(path, value)
            if method == "GET":
                response = browser.get(url, params=ODD_QUERY)
            else:
                for odd in ODD_VALUES:
                    form = {field: odd for field in fields if field not in ("csrf", "photo")}
                    response = browser.post(url, data={"csrf": csrf, **form})
                    if not plain(response):
                        problems.append((method, url, odd[:20], response.status_code))
                continue
            if not plain(response):
                problems.append((method, url, response.status_code))
    assert problems == []
    # what a POST with odd fields may change: only a person's own language or elder mode, nothing of the ledger
    assert written(engine) == before
