"""Every list reaches every row at village size (2 000 households): walking a list's cursor, page after page,
reaches the last row, each row once, in the same order as the whole list; a cursor or limit the list never gave
is a 422 naming the field, never a server error."""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

from ledger import figures
from ledger.activities.models import Activity
from ledger.catalogue.models import Matter
from ledger.claims import deductions, notice
from ledger.claims.models import Claim, ClaimStatus, Deduction, Dispute, DisputeKind
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.failures import JobFailure
from ledger.core.outbox import Notification
from ledger.identity.models import Partner, User
from ledger.tenancy import Village, create_household
from redemption.models import WebhookDelivery
from tests import factories
from tests.api.conftest import World, bearer, client_token, password_token, villager_token

SIZE = 2000


@dataclass(frozen=True)
class Crowd:
    households: list[int]  # village A's, oldest first; the last is the 2 000th of the crowd
    official_user: int


def build_crowd(engine: Engine, world: World) -> Crowd:
    """2 000 households in village A, made through the domain function, each with its head and accounts."""
    with unit_of_work(engine) as session:
        village = session.get(Village, world.village_a.village_id)
        assert village is not None
        made = [
            factories.id_of(
                create_household(
                    session,
                    village=village,
                    code=f"L{n:04d}",
                    name=f"Crowd {n}",
                    head_name=f"Crowdhead {n}",
                    house_number=f"{n}",
                )
            )
            for n in range(1, SIZE + 1)
        ]
        official = session.scalars(select(User).where(col(User.username) == "official-a")).one()
        return Crowd(made, factories.id_of(official))


@pytest.fixture
def crowd(engine: Engine, world: World) -> Crowd:
    return build_crowd(engine, world)


def walk(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every row of a list, following its `Link: rel="next"` header from the first page to the last."""
    rows: list[dict[str, Any]] = []
    response = client.get(url, params=params, headers=headers) if params else client.get(url, headers=headers)
    for _ in range(SIZE):
        assert response.status_code == 200, response.text
        body = response.json()
        page = body if isinstance(body, list) else next(v for v in body.values() if isinstance(v, list))
        rows += page
        if isinstance(body, dict):
            assert (body["next_cursor"] is None) == ("link" not in response.headers)
        link = response.headers.get("link")
        if link is None:
            return rows
        found = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert found, link
        assert "limit" not in params or len(page) == params["limit"]  # only the last page is short
        response = client.get(found.group(1), headers=headers)
    raise AssertionError("the list never ended")


def refuses_odd_cursors(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> None:
    odd = [
        "!!",
        "abc",
        base64.urlsafe_b64encode(b"[1,2,3,4]").decode(),
        base64.urlsafe_b64encode(b'"x"').decode(),
        base64.urlsafe_b64encode(b"[99999999999999999999999]").decode(),
        base64.urlsafe_b64encode(b"[true]").decode(),
        "x" * 201,
    ]
    for cursor in odd:
        response = client.get(url, params={**params, "cursor": cursor}, headers=headers)
        assert response.status_code == 422, (cursor, response.text)
        assert response.json()["code"] in ("invalid", "invalid_request") and "cursor" in response.text
    for limit in ("0", "201", "-1", "x"):
        response = client.get(url, params={**params, "limit": limit}, headers=headers)
        assert response.status_code == 422, (limit, response.text)
        assert response.json()["code"] == "invalid_request" and "limit" in response.text


def test_every_deduction_of_a_village_of_2000_households_is_reached(
    client: TestClient, world: World, engine: Engine, crowd: Crowd
) -> None:
    started = time.perf_counter()
    with unit_of_work(engine) as session:
        who = factories.principal_of(session, crowd.official_user)
        for n, household_id in enumerate(crowd.households):
            deductions.record(
                session,
                who,
                household_id=household_id,
                matter_code="breaking_village_rules",
                reason=f"Burnt straw {n}",
                evidence_ids=(),
                idempotency_key=None,
            )
    assert time.perf_counter() - started < 300
    official = bearer(password_token(client, "official-a"))
    rows = walk(client, "/api/v1/deductions", official, limit=200)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == SIZE
    assert ids == sorted(ids, reverse=True)  # newest first, no gaps, no repeats
    assert rows[-1]["household_id"] == crowd.households[0] and rows[0]["household_id"] == crowd.households[-1]
    assert walk(client, "/api/v1/deductions", official, limit=200, village_id=world.village_a.village_id) == rows
    # another village's official pages through none of them
    assert client.get("/api/v1/deductions", headers=bearer(password_token(client, "official-b"))).json() == []
    refuses_odd_cursors(client, "/api/v1/deductions", official)


def appeal_every_deduction(engine: Engine, world: World, crowd: Crowd) -> list[int]:
    """A deduction for every household of the crowd and an open appeal against each (rows as an appeal writes
    them); the appeals' ids, oldest first."""
    with unit_of_work(engine) as session:
        matter = session.scalars(select(Matter).where(col(Matter.code) == "open_burning")).first()
        assert matter is not None
        a = world.village_a
        made = session.execute(
            insert(Deduction).returning(col(Deduction.id)),
            [
                dict(
                    county_id=a.county_id,
                    village_id=a.village_id,
                    household_id=h,
                    matter_id=matter.id,
                    points=5,
                    posted=0,
                    unpaid=5,
                    reason="x",
                    recorded_by="user:1",
                )
                for h in crowd.households
            ],
        ).scalars()
        appeals = session.execute(
            insert(Dispute).returning(col(Dispute.id)),
            [
                dict(
                    kind=DisputeKind.APPEAL.value,
                    county_id=a.county_id,
                    village_id=a.village_id,
                    household_id=h,
                    deduction_id=d,
                    raised_by="user:1",
                    raised_by_household_id=h,
                    reason="Not us",
                )
                for h, d in zip(crowd.households, made, strict=True)
            ],
        ).scalars()
        return sorted(appeals)


def test_every_dispute_is_reached_oldest_first(client: TestClient, world: World, engine: Engine, crowd: Crowd) -> None:
    """Appeals against 2 000 deductions, walked as the officials' queue reads."""
    appeal_every_deduction(engine, world, crowd)
    official = bearer(password_token(client, "official-a"))
    rows = walk(client, "/api/v1/disputes", official, limit=200, status="open")
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == SIZE and ids == sorted(ids)
    assert rows[-1]["household_id"] == crowd.households[-1]
    refuses_odd_cursors(client, "/api/v1/disputes", official)


def _settle_points(engine: Engine, world: World, crowd: Crowd, points: Callable[[int], int]) -> None:
    """Settled awards for every household of the crowd (rows as settling writes them), `points(n)` each."""
    now = utcnow()
    with unit_of_work(engine) as session:
        matter = session.scalars(select(Matter).where(col(Matter.code) == "volunteering")).first()
        assert matter is not None
        a = world.village_a
        session.execute(
            insert(Claim),
            [
                dict(
                    county_id=a.county_id,
                    village_id=a.village_id,
                    household_id=h,
                    matter_id=matter.id,
                    points=points(n),
                    period_key=f"award:{n}",
                    status=ClaimStatus.SETTLED.value,
                    proxy=True,
                    award_reason="Helped",
                    entered_by="user:1",
                    submitted_at=now - timedelta(minutes=3),
                    decided_at=now - timedelta(minutes=2),
                    settled_at=now - timedelta(minutes=1),
                    flags=[],
                )
                for n, h in enumerate(crowd.households)
                if points(n)
            ],
        )


def test_the_leaderboard_reaches_its_last_household_and_ranks_as_the_whole_table(
    client: TestClient, world: World, engine: Engine, crowd: Crowd
) -> None:
    _settle_points(engine, world, crowd, lambda n: n % 7)  # ties on every score; every seventh has none
    village = world.village_a.village_id
    headers = bearer(villager_token(client, world.villager_phone))
    url = f"/api/v1/villages/{village}/leaderboard"
    rows = walk(client, url, headers, limit=200)
    with Session(engine) as session:
        found = session.get(Village, village)
        assert found is not None
        _, whole = figures.village_leaderboard(session, found, period="month", at=utcnow())
    assert [(r["rank"], r["name"], r["points"]) for r in rows] == [
        (int(r["rank"]), str(r["name"]), int(r["points"])) for r in whole.to_dict(orient="records")
    ]
    assert len(rows) == SIZE + 2  # the crowd and the world's two households of village A
    assert rows[-1]["points"] == 0
    first = client.get(url, params={"limit": 10}, headers=headers).json()
    assert len(first["leaders"]) == 10 and first["next_cursor"] is not None
    mine = [r for r in rows if r["mine"]]
    assert first["me"] == mine[0] and mine[0]["rank"] > 10  # the villager's own row, far below the ten shown
    refuses_odd_cursors(client, url, headers)


def test_the_notice_board_reaches_its_last_entry_newest_first(
    client: TestClient, world: World, engine: Engine, crowd: Crowd
) -> None:
    now = utcnow()
    with unit_of_work(engine) as session:
        matter = session.scalars(select(Matter).where(col(Matter.code) == "volunteering")).first()
        assert matter is not None
        a = world.village_a
        session.execute(
            insert(Claim),
            [
                dict(
                    county_id=a.county_id,
                    village_id=a.village_id,
                    household_id=h,
                    matter_id=matter.id,
                    points=3,
                    period_key=f"award:{n}",
                    status=ClaimStatus.APPROVED.value,
                    proxy=True,
                    award_reason="Helped",
                    entered_by="user:1",
                    submitted_at=now - timedelta(hours=2),
                    decided_at=now - timedelta(seconds=n // 3),  # three at each moment: ties are ordered too
                    notice_until=now + timedelta(days=3),
                    flags=[],
                )
                for n, h in enumerate(crowd.households)
            ],
        )
        who = factories.principal_of(session, crowd.official_user)
        for household_id in crowd.households[:5]:
            deductions.record(
                session,
                who,
                household_id=household_id,
                matter_code="breaking_village_rules",
                reason="Burnt straw",
                evidence_ids=(),
                idempotency_key=None,
                now=now - timedelta(seconds=1),
            )
    village = world.village_a.village_id
    headers = bearer(villager_token(client, world.villager_phone))
    url = f"/api/v1/villages/{village}/notice-board"
    rows = walk(client, url, headers, limit=200)
    with Session(engine) as session:
        whole = notice.board(session, village)
    assert [(r["kind"], r["id"]) for r in rows] == [(e.kind, e.id) for e in whole]
    assert len(rows) == SIZE + 5 and len({(r["kind"], r["id"]) for r in rows}) == SIZE + 5
    with Session(engine) as session:  # the last row: the older of the two claims decided last of all
        oldest = session.scalars(select(Claim.id).where(col(Claim.household_id) == crowd.households[1998])).one()
    assert (rows[-1]["kind"], rows[-1]["id"]) == ("claim", oldest)
    assert [r["decided_at"] for r in rows] == sorted((r["decided_at"] for r in rows), reverse=True)
    refuses_odd_cursors(client, url, headers)


def test_the_household_list_reaches_the_2000th_and_finds_it_by_number_house_or_name(
    client: TestClient, world: World, crowd: Crowd
) -> None:
    official = bearer(password_token(client, "official-a"))
    rows = walk(client, "/api/v1/households", official, limit=200, village_id=world.village_a.village_id)
    ids = [r["id"] for r in rows]
    assert ids == sorted(set(ids)) and crowd.households[-1] == ids[-1] and len(ids) == SIZE + 2
    last = crowd.households[-1]
    for q in ("L2000", "l2000", "2000", "Crowdhead 2000", "Crowd 2000"):
        found = client.get("/api/v1/households", params={"q": q}, headers=official).json()["households"]
        assert last in [h["id"] for h in found], q
    refuses_odd_cursors(client, "/api/v1/households", official)


def test_a_list_walked_while_rows_are_added_repeats_none_and_skips_none(
    client: TestClient, world: World, engine: Engine, crowd: Crowd
) -> None:
    with unit_of_work(engine) as session:
        who = factories.principal_of(session, crowd.official_user)
        for household_id in crowd.households[:30]:
            deductions.record(
                session,
                who,
                household_id=household_id,
                matter_code="breaking_village_rules",
                reason="Burnt straw",
                evidence_ids=(),
                idempotency_key=None,
            )
    official = bearer(password_token(client, "official-a"))
    first = client.get("/api/v1/deductions", params={"limit": 10}, headers=official)
    with unit_of_work(engine) as session:  # a deduction recorded between two pages is newer: not on later pages
        who = factories.principal_of(session, crowd.official_user)
        deductions.record(
            session,
            who,
            household_id=crowd.households[-1],
            matter_code="breaking_village_rules",
            reason="Later",
            evidence_ids=(),
            idempotency_key=None,
        )
    rest = walk(client, re.fullmatch(r"<([^>]+)>.*", first.headers["link"]).group(1), official)  # type: ignore[union-attr]
    ids = [r["id"] for r in first.json() + rest]
    assert len(ids) == len(set(ids)) == 30 and ids == sorted(ids, reverse=True)


def test_the_review_queue_and_what_a_household_was_told_reach_their_last_row(
    client: TestClient, world: World, engine: Engine, crowd: Crowd
) -> None:
    now = utcnow()
    with unit_of_work(engine) as session:
        matter = session.scalars(select(Matter).where(col(Matter.code) == "volunteering")).first()
        assert matter is not None
        a = world.village_a
        session.execute(
            insert(Claim),
            [
                dict(
                    county_id=a.county_id,
                    village_id=a.village_id,
                    household_id=h,
                    matter_id=matter.id,
                    points=2,
                    period_key=f"award:{n}",
                    status=ClaimStatus.PENDING.value,
                    proxy=True,
                    award_reason="Helped",
                    entered_by="user:1",
                    submitted_at=now - timedelta(minutes=10),
                    flags=[],
                )
                for n, h in enumerate(crowd.households)
            ],
        )
        session.execute(
            insert(Notification),
            [
                dict(county_id=a.county_id, household_id=world.household_a1, kind="claim_approved", payload={"n": n})
                for n in range(SIZE)
            ],
        )
    official = bearer(password_token(client, "official-a"))
    queue = walk(client, "/api/v1/claims", official, limit=200, status="pending")
    assert [c["household_id"] for c in queue] == crowd.households  # oldest first, every one, once
    villager = bearer(villager_token(client, world.villager_phone))
    told = walk(client, "/api/v1/notifications", villager, limit=200)
    assert [n["payload"]["n"] for n in told] == list(reversed(range(SIZE)))
    refuses_odd_cursors(client, "/api/v1/notifications", villager)


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/api/v1/vouchers", "villager"),
        ("/api/v1/vouchers", "mart"),
        ("/api/v1/bookings", "clinic"),
        ("/api/v1/loan-applications", "villager"),
        ("/api/v1/loan-applications", "bank"),
        ("/api/v1/credit/me/lookups", "villager"),
        ("/api/v1/credit/me/review-requests", "villager"),
        ("/api/v1/credit/review-requests", "official-a"),
        ("/api/v1/partners/me/webhook/deliveries", "mart"),
        ("/api/v1/disputes", "villager"),
        ("/api/v1/deductions", "villager"),
        ("/api/v1/activities", "villager"),
        ("/api/v1/jobs/failures", "auditor"),
    ],
)
def test_every_paged_list_answers_a_first_page_and_refuses_a_cursor_it_never_gave(
    client: TestClient, world: World, path: str, who: str
) -> None:
    if who == "villager":
        headers = bearer(villager_token(client, world.villager_phone))
    elif who.startswith("official") or who == "auditor":
        headers = bearer(password_token(client, who))
    else:
        headers = bearer(client_token(client, who))
    first = client.get(path, params={"limit": 1}, headers=headers)
    assert first.status_code == 200, first.text
    assert isinstance(first.json(), list) and "link" not in first.headers  # nothing yet: one page, no next
    refuses_odd_cursors(client, path, headers)


def test_webhook_deliveries_written_in_the_same_moment_are_each_reached_once(
    client: TestClient, world: World, engine: Engine
) -> None:
    """A delivery's id is random: deliveries written at one moment (one change telling many things) are ordered by
    id within it, and the cursor carries both."""
    now = utcnow()
    with unit_of_work(engine) as session:
        mart = session.scalars(select(Partner).where(col(Partner.code) == "mart")).one()
        session.execute(
            insert(WebhookDelivery),
            [
                dict(
                    id=secrets.token_hex(16),
                    partner_id=mart.id,
                    county_id=mart.county_id,
                    event="voucher.used",
                    payload={"n": n},
                    created_at=now - timedelta(seconds=n // 100),  # a hundred at each moment
                    attempts=1 if n % 2 else 0,
                )
                for n in range(450)
            ],
        )
    with Session(engine) as session:
        written = session.execute(select(WebhookDelivery.id, WebhookDelivery.attempts)).all()
    headers = bearer(client_token(client, "mart"))
    rows = walk(client, "/api/v1/partners/me/webhook/deliveries", headers, limit=40)
    assert sorted(r["id"] for r in rows) == sorted(i for i, _ in written) and len(rows) == 450
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
    failed = walk(client, "/api/v1/partners/me/webhook/deliveries", headers, limit=40, failed="true")
    assert sorted(r["id"] for r in failed) == sorted(i for i, tried in written if tried)


def test_the_openapi_document_describes_how_every_paged_list_pages(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    paged = [
        "/api/v1/deductions",
        "/api/v1/disputes",
        "/api/v1/claims",
        "/api/v1/households",
        "/api/v1/households/{household_id}/statement",
        "/api/v1/villages/{village_id}/notice-board",
        "/api/v1/villages/{village_id}/leaderboard",
        "/api/v1/vouchers",
        "/api/v1/bookings",
        "/api/v1/loan-applications",
        "/api/v1/notifications",
        "/api/v1/credit/me/lookups",
        "/api/v1/credit/me/review-requests",
        "/api/v1/credit/review-requests",
        "/api/v1/partners/me/webhook/deliveries",
        "/api/v1/activities",
    ]
    for path in paged:
        operation = document["paths"][path]["get"]
        params = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert {"cursor", "limit"} <= set(params), path
        assert params["limit"]["schema"]["maximum"] == 200 and params["limit"]["schema"]["minimum"] == 1, path
        assert "Link" in operation["responses"]["200"]["headers"], path


def test_every_activity_of_a_village_is_reached_by_start_even_those_starting_together(
    client: TestClient, world: World, engine: Engine
) -> None:
    now = utcnow()
    with unit_of_work(engine) as session:
        matter = session.scalars(select(Matter).where(col(Matter.code) == "volunteering")).first()
        assert matter is not None
        a = world.village_a
        session.execute(
            insert(Activity),
            [
                dict(
                    county_id=a.county_id,
                    village_id=a.village_id,
                    matter_id=matter.id,
                    title=f"Sweep {n}",
                    starts_at=now - timedelta(days=100) + timedelta(days=n // 4),  # four start together
                    ends_at=now - timedelta(days=99) + timedelta(days=n // 4),
                    created_by="user:1",
                )
                for n in range(450)
            ],
        )
    official = bearer(password_token(client, "official-a"))
    rows = walk(client, "/api/v1/activities", official, limit=40, include_ended="true", village_id=a.village_id)
    titles = [r["title"] for r in rows]
    assert sorted(titles) == sorted(f"Sweep {n}" for n in range(450)) and len(set(titles)) == 450
    assert [r["starts_at"] for r in rows] == sorted(r["starts_at"] for r in rows)
    current = walk(client, "/api/v1/activities", official, limit=40, village_id=a.village_id)
    assert {r["title"] for r in current} == {f"Sweep {n}" for n in range(450) if n // 4 > 99}  # not ended yet


def test_every_failure_of_the_scheduled_work_is_reached_newest_first(
    client: TestClient, world: World, engine: Engine
) -> None:
    """450 failures: the county's, whole steps' (every county's) and another county's; 200 of them last seen in
    the same moment. The auditor walks to the last of the county's and steps', newest first, each once."""
    now = utcnow()
    with unit_of_work(engine) as session:
        session.execute(
            insert(JobFailure),
            [
                dict(
                    county_id=(world.village_a.county_id, None, world.village_c.county_id)[i % 3],
                    step="settle",
                    record_kind="claim",
                    record_id=str(i),
                    error_code="boom",
                    error="boom",
                    first_seen=now - timedelta(days=1),
                    last_seen=now if i < 200 else now - timedelta(minutes=i),
                )
                for i in range(450)
            ],
        )
    auditor = bearer(password_token(client, "auditor"))
    rows = walk(client, "/api/v1/jobs/failures", auditor, limit=37)
    ours = [i for i in range(450) if i % 3 != 2]
    assert len(rows) == len(ours) and {int(r["record_id"]) for r in rows} == set(ours)
    seen = [r["last_seen"] for r in rows]
    assert seen == sorted(seen, reverse=True)
    assert rows[-1]["record_id"] == str(ours[-1])  # the oldest last seen, reached
    first = client.get("/api/v1/jobs/failures", headers=auditor)
    assert len(first.json()) == 200 and 'rel="next"' in first.headers["Link"]  # 200 a page unless asked
