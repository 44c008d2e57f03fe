"""A villager objects to an entry of the village notice board from the board itself: the entry's button, a form
that asks why (required), a worded confirmation; and the refusals in words: their own household's entry, another
village's, one no longer in notice, one objected to already. An anonymous board stays anonymous throughout."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.claims.models import Dispute
from ledger.core.db import unit_of_work
from ledger.tenancy import NoticePrivacy, Person, Village
from tests.api.claiming import claim, code_of, decide, new_activity
from tests.api.conftest import World, password_token, villager_token
from tests.pages.conftest import csrf_of, sign_in_villager
from tests.pages.test_gentle_words import board_line, deduct

NEIGHBOUR = "13900000002"  # the head of household A2, in village A with A1
IN_B = "13900000003"  # household B1, in village B


def _approved(client: TestClient, phone: str, village_id: int, official: str = "official-a") -> int:
    token = password_token(client, official)
    made = claim(client, villager_token(client, phone), code_of(new_activity(client, token, village_id)))
    assert made.status_code == 201, made.text
    decided = decide(client, token, made.json()["id"])
    assert decided.status_code == 201, decided.text
    return int(made.json()["id"])


def _objections(engine: Engine, claim_id: int) -> list[Dispute]:
    with unit_of_work(engine) as session:
        found = session.scalars(select(Dispute).where(col(Dispute.claim_id) == claim_id)).all()
        for row in found:
            session.expunge(row)
        return list(found)


def _head_name(engine: Engine, household_id: int) -> str:
    with unit_of_work(engine) as session:
        return session.scalars(
            select(col(Person.name)).where(col(Person.household_id) == household_id, col(Person.is_head))
        ).one()


def _refusal(html: str) -> str:
    found = re.search(r'data-refusal="([a-z_]+)">\s*<p class="reason">(.*?)</p>', html, re.S)
    assert found, "the page shows a refusal"
    return f"{found.group(1)}: {found.group(2)}"


def _send(client: TestClient, claim_id: int, reason: str) -> Any:
    form = client.get(f"/me/objection?claim_id={claim_id}")
    assert form.status_code == 200, form.text
    key = re.search(r'name="key" value="([^"]+)"', form.text)
    assert key
    return client.post(
        "/me/objection",
        data={"csrf": csrf_of(form.text), "key": key.group(1), "claim_id": str(claim_id), "reason": reason},
    )


def test_a_villager_objects_to_a_neighbours_entry_from_an_anonymous_board_without_learning_whose_it_is(
    browser: TestClient, engine: Engine, world: World
) -> None:
    with unit_of_work(engine) as session:
        village = session.get(Village, world.village_a.village_id)
        assert village is not None
        village.notice_privacy = NoticePrivacy.ANONYMOUS
    theirs = _approved(browser, NEIGHBOUR, world.village_a.village_id)
    mine = _approved(browser, world.villager_phone, world.village_a.village_id)
    deduction = deduct(browser, password_token(browser, "official-a"), world.household_a2)
    neighbour = _head_name(engine, world.household_a2)

    sign_in_villager(browser, world.villager_phone)
    home = browser.get("/me")
    assert home.status_code == 200, home.text
    their_line = board_line(home.text, "claim", theirs)
    assert their_line is not None and f'href="/me/objection?claim_id={theirs}"' in their_line
    assert "请村里核实" in their_line and neighbour not in their_line
    assert 'data-action="object"' not in (board_line(home.text, "claim", mine) or "")  # my own household's
    assert 'data-action="object"' not in (board_line(home.text, "deduction", deduction["id"]) or "")

    form = browser.get(f"/me/objection?claim_id={theirs}")
    assert form.status_code == 200, form.text
    assert "一户村民" in form.text and neighbour not in form.text and "对公示提出异议" in form.text
    assert 'name="reason"' in form.text and "required" in form.text

    # no reason: asked again, in words, and nothing is written
    blank = _send(browser, theirs, "   ")
    assert blank.status_code == 400, blank.text
    assert _refusal(blank.text) == "reason_required: 请简单写明为什么要核实，再提交。"
    assert "一户村民" in blank.text and neighbour not in blank.text
    assert _objections(engine, theirs) == []

    sent = _send(browser, theirs, "那天他家没人去打扫。")
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == "/me?done=objected"
    shown = browser.get(sent.headers["location"])
    assert "异议已提交。村干部会核实这条公示" in shown.text and neighbour not in shown.text
    line = board_line(shown.text, "claim", theirs)
    assert line is not None and "核实中" in line and "您家已提出异议" in line and 'data-action="object"' not in line
    (objection,) = _objections(engine, theirs)
    assert (objection.kind, objection.status, objection.raised_by_household_id) == (
        "objection",
        "open",
        world.household_a1,
    )
    assert objection.reason == "那天他家没人去打扫。"

    # the second time is refused in words
    again = browser.get(f"/me/objection?claim_id={theirs}")
    assert again.status_code == 409
    assert _refusal(again.text).startswith("already_disputed: 您家已经对这条公示提出过异议")
    assert "一户村民" not in again.text and 'name="reason"' not in again.text


def test_the_refusals_are_words_own_household_another_village_not_in_notice(
    browser: TestClient, engine: Engine, world: World
) -> None:
    mine = _approved(browser, world.villager_phone, world.village_a.village_id)
    in_b = _approved(browser, IN_B, world.village_b.village_id, official="official-b")
    official = password_token(browser, "official-a")
    pending = claim(
        browser,
        villager_token(browser, NEIGHBOUR),
        code_of(new_activity(browser, official, world.village_a.village_id, "garbage_sorting")),
    ).json()["id"]
    sign_in_villager(browser, world.villager_phone)

    own = browser.get(f"/me/objection?claim_id={mine}")
    assert own.status_code == 403
    assert _refusal(own.text) == "own_entry: 这是您家自己的公示，不能提出异议。如果哪里不对，请告诉村干部。"
    elsewhere = browser.get(f"/me/objection?claim_id={in_b}")
    assert elsewhere.status_code == 404
    assert _refusal(elsewhere.text) == "claim_not_found: 这条公示不在本村公示栏上。请回到“我家积分”查看公示栏。"
    assert _head_name(engine, world.household_b1) not in elsewhere.text
    waiting = browser.get(f"/me/objection?claim_id={pending}")
    assert waiting.status_code == 409
    assert _refusal(waiting.text).startswith("not_in_notice: ")
    missing = browser.get("/me/objection?claim_id=999999")
    assert missing.status_code == 404 and _refusal(missing.text).startswith("claim_not_found: ")

    # sending the form anyway is refused the same way, and writes nothing
    page = browser.get("/me")
    for claim_id, code in ((mine, "own_entry"), (in_b, "claim_not_found"), (pending, "not_in_notice")):
        sent = browser.post(
            "/me/objection",
            data={"csrf": csrf_of(page.text), "key": "k" * 16, "claim_id": str(claim_id), "reason": "不对"},
        )
        assert _refusal(sent.text).startswith(f"{code}: ")
        assert _objections(engine, claim_id) == []


def test_staff_do_not_object_from_the_villager_page(browser: TestClient, world: World) -> None:
    from tests.pages.conftest import sign_in_staff

    theirs = _approved(browser, NEIGHBOUR, world.village_a.village_id)
    sign_in_staff(browser, "official-a")
    assert browser.get(f"/me/objection?claim_id={theirs}").status_code == 403
