"""The township supervisor's review queue: a claim not decided in time comes first, marked as sent up; the
village's official still decides it from the same queue."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger import jobs
from ledger.claims.models import Claim
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from tests.api.claiming import claim, code_of, new_activity
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
