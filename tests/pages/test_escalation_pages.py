"""The township supervisor's review queue: a claim not decided in time comes first, marked as sent up; the
village's official still decides it from the same queue."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger import jobs
from ledger.claims.models import Claim
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from tests.api.claiming import claim, code_of, decide, new_activity
from tests.api.conftest import World, password_token, villager_token
from tests.pages.conftest import sign_in_staff

PHONE_A2 = "13900000002"


def _submit(client: TestClient, phone: str, village_id: int, matter: str) -> int:
    official = password_token(client, "official-a")
    made = claim(client, villager_token(client, phone), code_of(new_activity(client, official, village_id, matter)))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _queue_order(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-claim-id="(\d+)"', html)]


def test_the_supervisors_queue_puts_a_claim_sent_up_first_and_marks_it(
    browser: TestClient, engine: Engine, world: World
) -> None:
    older = _submit(browser, world.villager_phone, world.village_a.village_id, "volunteering")
    late = _submit(browser, PHONE_A2, world.village_a.village_id, "garbage_sorting")
    with unit_of_work(engine) as session:
        row = session.get(Claim, late)
        assert row is not None
        row.submitted_at = utcnow() - timedelta(hours=30)
    assert jobs.tick(engine).escalated_claims == 1

    sign_in_staff(browser, "supervisor")
    queue = browser.get("/office")
    assert queue.status_code == 200, queue.text
    assert _queue_order(queue.text) == [late, older]
    card = queue.text.split(f'data-claim-id="{late}"')[1].split("</article>")[0]
    assert 'data-escalated="true"' in card and "已上报乡镇" in card
    assert "已上报乡镇督导员的申报排在最前" in queue.text
    other = queue.text.split(f'data-claim-id="{older}"')[1].split("</article>")[0]
    assert "data-escalated" not in other

    # the village's own official sees it marked too, and can still approve it there
    browser.cookies.clear()
    sign_in_staff(browser, "official-a")
    own = browser.get("/office")
    assert _queue_order(own.text) == [late, older] and 'data-escalated="true"' in own.text


def _village_row(html: str, village_id: int) -> dict[str, str] | None:
    found = re.search(rf'<tr data-village-id="{village_id}"([^>]*)>(.*?)</tr>', html, re.S)
    if not found:
        return None
    values = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', found.group(1) + found.group(2)))
    return values


def test_the_dashboard_shows_each_villages_on_time_rate_and_what_was_sent_up_this_month(
    browser: TestClient, engine: Engine, world: World
) -> None:
    in_time = _submit(browser, world.villager_phone, world.village_a.village_id, "volunteering")
    assert decide(browser, password_token(browser, "official-a"), in_time).status_code == 201
    waiting = _submit(browser, PHONE_A2, world.village_a.village_id, "garbage_sorting")
    official_b = password_token(browser, "official-b")
    made = claim(
        browser,
        villager_token(browser, "13900000003"),
        code_of(new_activity(browser, official_b, world.village_b.village_id, "volunteering")),
    )
    late = int(made.json()["id"])
    with unit_of_work(engine) as session:
        for claim_id in (waiting, late):
            row = session.get(Claim, claim_id)
            assert row is not None
            row.submitted_at = utcnow() - timedelta(hours=30)
    assert jobs.tick(engine).escalated_claims == 2
    assert decide(browser, official_b, late).status_code == 201  # decided after all, 30 hours on

    sign_in_staff(browser, "supervisor")
    board = browser.get("/office/dashboard")
    assert board.status_code == 200, board.text
    assert "各村本月情况" in board.text and "按时办结率" in board.text and "已上报乡镇" in board.text
    assert _village_row(board.text, world.village_a.village_id) == {
        "decided": "1",
        "on-time": "1",
        "escalated": "1",
        "escalated-waiting": "1",
        "rate": "1.0000",
    }
    assert _village_row(board.text, world.village_b.village_id) == {
        "decided": "1",
        "on-time": "0",
        "escalated": "1",
        "escalated-waiting": "0",
        "rate": "0.0000",
    }

    # the same table as a file, in the page's language
    csv = browser.get("/office/dashboard/data/villages.csv")
    assert csv.status_code == 200, csv.text
    table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(table.columns) == ["月份", "村", "办结申报数", "按时办结数", "按时办结率", "已上报乡镇", "其中仍未审核"]
    assert table[["办结申报数", "按时办结数", "按时办结率", "已上报乡镇", "其中仍未审核"]].values.tolist() == [
        ["1", "1", "1.0", "1", "1"],
        ["1", "0", "0.0", "1", "0"],
    ]
    assert re.fullmatch(r"\d{4}年\d{1,2}月", table["月份"][0])
    xlsx = browser.get("/office/dashboard/data/villages.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"

    # a village's own official sees their village only
    browser.cookies.clear()
    sign_in_staff(browser, "official-a")
    own = browser.get("/office/dashboard")
    assert _village_row(own.text, world.village_a.village_id) is not None
    assert _village_row(own.text, world.village_b.village_id) is None
