"""The officials' pages: the review queue (approve, reject with a reason, bulk approve), activities and the
rotating-code screen, households and proxy claims, deductions and appeals, and the dashboard with its downloads."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api import i18n
from api.pages.messages import ERRORS, NOTICES
from ledger.activities import codes
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.tenancy import Household
from tests.api.claiming import JPEG, balance, claim, code_of, new_activity, photo
from tests.api.conftest import World, app_of, bearer, password_token, villager_token
from tests.factories import not_none
from tests.pages.conftest import csrf_of, form_post, sign_in_staff, sign_in_villager

ZH = i18n.translations("zh_CN")
PHONE_A2 = "13900000002"


def _claim(client: TestClient, phone: str, activity: dict[str, Any], **body: Any) -> dict[str, Any]:
    sent = claim(client, villager_token(client, phone), code_of(activity), **body)
    assert sent.status_code == 201, sent.text
    made: dict[str, Any] = sent.json()
    return made


def _status(client: TestClient, token: str, claim_id: int) -> str:
    found = client.get(f"/api/v1/claims/{claim_id}", headers=bearer(token))
    assert found.status_code == 200, found.text
    return str(found.json()["status"])


def _participating(html: str) -> int:
    found = re.search(r'data-participating-households="(\d+)"', html)
    assert found, "the dashboard shows this month's participating households"
    return int(found.group(1))


def test_a_claim_shows_in_the_queue_with_its_photo_and_approving_puts_its_points_in_notice(
    browser: TestClient, world: World
) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id, title="Sweep the square")
    picture = photo(browser, villager_token(browser, world.villager_phone))
    sent = _claim(browser, world.villager_phone, activity, evidence_ids=[picture])
    before = balance(browser, official, world.household_a1)

    sign_in_staff(browser, "official-a")
    queue = browser.get("/office")
    assert queue.status_code == 200, queue.text
    assert queue.headers["cache-control"] == "no-store"
    assert 'data-refresh="60"' in queue.text
    row = queue.text.split(f'data-claim-id="{sent["id"]}"')[1].split("</article>")[0]
    assert f'<img class="evidence" src="/photos/{picture}"' in row
    assert 'data-action="approve"' in row and 'data-action="reject"' in row
    assert f'name="claim_ids" value="{sent["id"]}"' in row
    assert 'data-action="bulk-approve"' in queue.text
    shown = browser.get(f"/photos/{picture}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["content-security-policy"] == "default-src 'none'; sandbox"  # the photo's, not a page's
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.headers["content-disposition"] == f'inline; filename="photo-{picture}.jpg"'

    done = browser.post(f"/office/claims/{sent['id']}/approve", data={"csrf": csrf_of(queue.text)})
    assert done.status_code == 303
    assert done.headers["location"] == "/office?done=approved"
    after = balance(browser, official, world.household_a1)
    assert after["in_notice"] == before["in_notice"] + sent["points"]
    assert _status(browser, official, sent["id"]) == "approved"
    shown = browser.get(done.headers["location"])
    assert ZH.gettext(NOTICES["approved"]) in shown.text
    assert f'data-claim-id="{sent["id"]}"' not in shown.text  # no longer awaiting review


def test_rejecting_needs_a_reason(browser: TestClient, world: World) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id)
    sent = _claim(browser, world.villager_phone, activity)
    sign_in_staff(browser, "official-a")

    refused = form_post(browser, f"/office/claims/{sent['id']}/reject", {"reason": "   "}, from_page="/office")
    assert refused.status_code == 400
    assert ZH.gettext(ERRORS["reason_required"]) in refused.text
    assert _status(browser, official, sent["id"]) == "pending"

    done = form_post(
        browser, f"/office/claims/{sent['id']}/reject", {"reason": "Nobody saw the work done"}, from_page="/office"
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/office?done=rejected"
    decided = browser.get(f"/api/v1/claims/{sent['id']}", headers=bearer(official)).json()
    assert decided["status"] == "rejected"
    assert decided["reject_reason"] == "Nobody saw the work done"


def test_bulk_approve_approves_exactly_the_ticked_claims(browser: TestClient, world: World) -> None:
    official = password_token(browser, "official-a")
    volunteering = new_activity(browser, official, world.village_a.village_id)
    sorting = new_activity(browser, official, world.village_a.village_id, matter="garbage_sorting")
    first = _claim(browser, world.villager_phone, volunteering)
    second = _claim(browser, PHONE_A2, volunteering)
    third = _claim(browser, world.villager_phone, sorting)

    sign_in_staff(browser, "official-a")
    queue = browser.get("/office")
    for sent in (first, second, third):
        assert f'data-claim-id="{sent["id"]}"' in queue.text
    done = browser.post(
        "/office/claims/bulk-approve",
        data={"csrf": csrf_of(queue.text), "claim_ids": [str(first["id"]), str(third["id"])]},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/office?done=bulk_approved"
    assert _status(browser, official, first["id"]) == "approved"
    assert _status(browser, official, third["id"]) == "approved"
    assert _status(browser, official, second["id"]) == "pending"

    nothing = browser.post("/office/claims/bulk-approve", data={"csrf": csrf_of(queue.text)})
    assert nothing.status_code == 400
    assert _status(browser, official, second["id"]) == "pending"


def test_another_villages_official_neither_sees_nor_approves_the_claims(browser: TestClient, world: World) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id)
    sent = _claim(browser, world.villager_phone, activity)

    sign_in_staff(browser, "official-b")
    queue = browser.get("/office")
    assert queue.status_code == 200
    assert f'data-claim-id="{sent["id"]}"' not in queue.text
    refused = browser.post(f"/office/claims/{sent['id']}/approve", data={"csrf": csrf_of(queue.text)})
    assert refused.status_code == 404
    assert ZH.gettext(ERRORS["claim_not_found"]) in refused.text
    bulk = browser.post(
        "/office/claims/bulk-approve", data={"csrf": csrf_of(queue.text), "claim_ids": [str(sent["id"])]}
    )
    assert bulk.status_code == 200
    assert 'class="refusal"' in bulk.text
    assert _status(browser, official, sent["id"]) == "pending"
    assert browser.get(f"/office/dashboard?village_id={world.village_a.village_id}").status_code == 404
    assert (
        browser.get(f"/office/dashboard/data/participation.csv?village_id={world.village_a.village_id}").status_code
        == 404
    )


def test_a_post_without_csrf_is_refused_and_changes_nothing(browser: TestClient, world: World) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id)
    sent = _claim(browser, world.villager_phone, activity)
    sign_in_staff(browser, "official-a")

    refused = browser.post(f"/office/claims/{sent['id']}/approve")
    assert refused.status_code == 403
    forged = browser.post("/office/claims/bulk-approve", data={"csrf": "0" * 64, "claim_ids": [str(sent["id"])]})
    assert forged.status_code == 403
    assert _status(browser, official, sent["id"]) == "pending"
    assert balance(browser, official, world.household_a1)["in_notice"] == 0


def test_a_villager_cannot_open_the_office(browser: TestClient, world: World) -> None:
    from tests.pages.conftest import sign_in_villager

    sign_in_villager(browser, world.villager_phone)
    assert browser.get("/office").status_code == 403
    assert browser.get("/office/dashboard").status_code == 403


def test_the_dashboard_counts_a_household_after_approval_and_its_downloads_agree(
    browser: TestClient, world: World
) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id)
    sent = _claim(browser, world.villager_phone, activity)
    sign_in_staff(browser, "official-a")
    village = world.village_a.village_id

    board = browser.get(f"/office/dashboard?village_id={village}")
    assert board.status_code == 200, board.text
    assert _participating(board.text) == 0

    form_post(browser, f"/office/claims/{sent['id']}/approve", {}, from_page="/office")
    board = browser.get(f"/office/dashboard?village_id={village}")
    assert _participating(board.text) == 1
    assert _participating(browser.get("/office/dashboard").text) == 1  # all my villages: A only

    csv = browser.get(f"/office/dashboard/data/participation.csv?village_id={village}")
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
    assert int(table["参与农户数"].iloc[-1]) == 1
    assert int(table["农户数"].iloc[-1]) == 2  # A1 and A2

    for name in ("participation", "points_by_matter", "on_time", "redemption"):
        assert f'src="/office/dashboard/chart/{name}.svg?village_id={village}"' in board.text
        assert f'href="/office/dashboard/data/{name}.csv?village_id={village}"' in board.text
        assert f'href="/office/dashboard/data/{name}.xlsx?village_id={village}"' in board.text
        chart = browser.get(f"/office/dashboard/chart/{name}.svg?village_id={village}")
        assert chart.status_code == 200
        assert chart.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in chart.content
        xlsx = browser.get(f"/office/dashboard/data/{name}.xlsx?village_id={village}")
        assert xlsx.status_code == 200
        assert xlsx.headers["cache-control"] == "no-store"
        pd.read_excel(io.BytesIO(xlsx.content))  # opens

    points = pd.read_excel(
        io.BytesIO(browser.get(f"/office/dashboard/data/points_by_matter.xlsx?village_id={village}").content)
    )
    assert points.loc[points["事项"] == "志愿服务", "积分"].tolist() == [sent["points"]]
    assert browser.get("/office/dashboard/chart/nonsense.svg").status_code == 422


def test_the_county_admin_sees_the_county_on_the_dashboard(browser: TestClient, world: World) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id)
    sent = _claim(browser, world.villager_phone, activity)
    assert (
        browser.post(
            f"/api/v1/claims/{sent['id']}/approve", headers={**bearer(official), "Idempotency-Key": "dash-1"}
        ).status_code
        == 201
    )
    sign_in_staff(browser, "admin")
    board = browser.get("/office/dashboard")
    assert _participating(board.text) == 1
    csv = pd.read_csv(io.BytesIO(browser.get("/office/dashboard/data/participation.csv").content))
    assert int(csv["农户数"].iloc[-1]) == 3  # A1, A2 and B1: county A's households


def test_an_activity_made_on_the_page_may_have_a_geofence(browser: TestClient, world: World) -> None:
    """Without one, a rotating code's claims all wait for an official (docs/claims.md)."""
    sign_in_staff(browser, "official-a")
    listing = browser.get("/office/activities")
    assert 'name="radius_m"' in listing.text
    form = {
        "csrf": csrf_of(listing.text),
        "village_id": str(world.village_a.village_id),
        "matter_code": "village_meeting",
        "title": "Village assembly",
        "place": "Hall",
        "starts_at": f"{utcnow() - timedelta(hours=1):%Y-%m-%dT%H:%M}+00:00",
        "ends_at": f"{utcnow() + timedelta(days=1):%Y-%m-%dT%H:%M}",
        "period": "once",
        "rotating": "1",
        "lat": "30.2741",
        "lon": "120.1551",
        "radius_m": "150",
    }
    assert browser.post("/office/activities", data=form).status_code == 303
    made = browser.get(
        f"/api/v1/activities?village_id={world.village_a.village_id}",
        headers=bearer(password_token(browser, "official-a")),
    ).json()
    assert [(a["lat"], a["lon"], a["radius_m"]) for a in made if a["title"] == "Village assembly"] == [
        (30.2741, 120.1551, 150)
    ]
    odd = browser.post("/office/activities", data={**form, "title": "Odd", "lat": "north", "radius_m": ""})
    assert odd.status_code == 422  # a plain refusal, nothing made


def test_activities_create_poster_and_the_rotating_code_screen(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "official-a")
    listing = browser.get("/office/activities")
    assert listing.status_code == 200
    created = browser.post(
        "/office/activities",
        data={
            "csrf": csrf_of(listing.text),
            "village_id": str(world.village_a.village_id),
            "matter_code": "volunteering",
            "title": "Evening patrol",
            "place": "Gate",
            "starts_at": f"{utcnow() - timedelta(hours=1):%Y-%m-%dT%H:%M}+00:00",
            "ends_at": f"{utcnow() + timedelta(days=1):%Y-%m-%dT%H:%M}",
            "period": "once",
            "rotating": "1",
        },
    )
    assert created.status_code == 303, created.text
    listing = browser.get(created.headers["location"])
    assert "Evening patrol" in listing.text
    activity_id = int(not_none(re.search(r'data-activity-id="(\d+)"', listing.text)).group(1))

    screen = browser.get(f"/office/activities/{activity_id}/screen")
    assert screen.status_code == 200
    assert f'data-live-code="/office/activities/{activity_id}/live.json"' in screen.text
    assert 'class="qr" src="data:image/svg+xml;base64,' in screen.text
    assert 'class="screen' in screen.text or 'screen"' in screen.text

    live = browser.get(f"/office/activities/{activity_id}/live.json")
    assert live.status_code == 200
    code = live.json()
    assert code["expires_in"] > 0 and code["svg"].lstrip().startswith("<")
    scanned = browser.get(f"/api/v1/codes/{code['token']}")  # a fresh, valid code for this activity
    assert scanned.status_code == 200
    assert scanned.json()["activity_id"] == activity_id

    printed = new_activity(browser, password_token(browser, "official-a"), world.village_a.village_id)
    poster = browser.get(f"/office/activities/{printed['id']}/poster.svg")
    assert poster.status_code == 200
    assert poster.headers["content-type"].startswith("image/svg+xml")

    browser.cookies.clear()
    sign_in_staff(browser, "official-b")
    assert browser.get(f"/office/activities/{activity_id}/live.json").status_code == 404
    assert browser.get(f"/office/activities/{activity_id}/screen").status_code == 404


def test_households_card_and_a_proxy_claim_by_card_scan(browser: TestClient, world: World, engine: Engine) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id)
    sign_in_staff(browser, "official-a")
    listing = browser.get("/office/households")
    assert listing.status_code == 200
    assert f'data-household-id="{world.household_a1}"' in listing.text
    assert f'data-household-id="{world.household_b1}"' not in listing.text
    assert browser.get(f"/office/households/{world.household_a1}/card").status_code == 200
    card = browser.get(f"/office/households/{world.household_a1}/card.svg")
    assert card.status_code == 200 and card.headers["content-type"].startswith("image/svg+xml")
    scan = "https://testserver/h/" + codes.sign_household(
        app_of(browser).state.code_keys,
        household_id=world.household_a1,
    )

    done = form_post(
        browser, "/office/proxy", {"activity_id": str(activity["id"]), "household_card": scan, "key": "proxy-key-1"}
    )
    assert done.status_code == 303, done.text
    claims = browser.get("/api/v1/claims?status=pending", headers=bearer(official)).json()
    assert [(c["household_id"], c["proxy"]) for c in claims] == [(world.household_a1, True)]

    assert browser.get(f"/office/households/{world.household_b1}/card.svg").status_code == 404

    # a matter that needs a photo: without one it is refused; with the official's photo it is entered
    hygiene = new_activity(browser, official, world.village_a.village_id, "courtyard_hygiene")
    with unit_of_work(engine) as session:  # the household's 户号, as the list and its card show it
        code = not_none(session.get(Household, world.household_a2)).code
    fields = {"activity_id": str(hygiene["id"]), "household_code": code, "key": "proxy-key-2"}
    bare = form_post(browser, "/office/proxy", fields)
    assert bare.status_code == 422 and "evidence_required" in bare.text
    shot = form_post(
        browser, "/office/proxy", {**fields, "key": "proxy-key-3"}, files={"photo": ("yard.jpg", JPEG, "image/jpeg")}
    )
    assert shot.status_code == 303, shot.text
    entered = [
        c
        for c in browser.get("/api/v1/claims?status=pending", headers=bearer(official)).json()
        if c["activity_id"] == hygiene["id"]
    ]
    assert [(c["household_id"], len(c["evidence"])) for c in entered] == [(world.household_a2, 1)]


def test_a_deduction_is_recorded_and_an_appeal_against_it_upheld(browser: TestClient, world: World) -> None:
    official = password_token(browser, "official-a")
    sign_in_staff(browser, "official-a")
    page = browser.get("/office/disputes")
    assert page.status_code == 200
    matter = re.search(r'name="matter_code".*?<option value="([a-z_0-9]+)"', page.text, re.S)
    assert matter, "the deduction form lists the deduction matters"
    key = page.text.split('name="key" value="')[1].split('"')[0]
    missing = browser.post(
        "/office/deductions",
        data={
            "csrf": csrf_of(page.text),
            "key": key,
            "reason": "",
            "household_id": str(world.household_a1),
            "matter_code": matter.group(1),
        },
    )
    assert missing.status_code == 400
    assert browser.get("/api/v1/deductions", headers=bearer(official)).json() == []

    done = browser.post(
        "/office/deductions",
        data={
            "csrf": csrf_of(page.text),
            "key": key,
            "household_id": str(world.household_a1),
            "matter_code": matter.group(1),
            "reason": "Burned straw in the field",
        },
        files={"photo": ("photo.jpg", JPEG, "image/jpeg")},
    )
    assert done.status_code == 303, done.text
    deductions = browser.get("/api/v1/deductions", headers=bearer(official)).json()
    assert len(deductions) == 1 and len(deductions[0]["evidence"]) == 1
    listed = browser.get("/office/disputes").text
    row = listed.split(f'data-deduction-id="{deductions[0]["id"]}"')[1].split("</tr>")[0]
    shown_as = not_none(re.search(rf'<option value="{matter.group(1)}">([^（<]+)（', page.text)).group(1)
    assert f"<td>{shown_as}</td>" in row and matter.group(1) not in row  # the matter's name, not its code

    villager = villager_token(browser, world.villager_phone)
    appeal = browser.post(
        "/api/v1/appeals",
        json={"deduction_id": deductions[0]["id"], "reason": "Not us"},
        headers={**bearer(villager), "Idempotency-Key": "appeal-1"},
    )
    assert appeal.status_code == 201, appeal.text
    page = browser.get("/office/disputes")
    assert f'data-dispute-id="{appeal.json()["id"]}" data-dispute-status="open"' in page.text
    resolved = browser.post(
        f"/office/disputes/{appeal.json()['id']}/resolve",
        data={"csrf": csrf_of(page.text), "outcome": "upheld", "note": "Checked"},
    )
    assert resolved.status_code == 303, resolved.text
    after = browser.get("/api/v1/deductions", headers=bearer(official)).json()
    assert after[0]["status"] == "revoked"


def test_every_office_page_opens_for_staff_and_the_auditor_gets_no_forms(browser: TestClient, world: World) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id)
    sent = _claim(browser, world.villager_phone, activity)
    pages = ("/office", "/office/activities", "/office/households", "/office/disputes", "/office/dashboard")
    for username in ("admin", "supervisor", "auditor"):
        browser.cookies.clear()
        sign_in_staff(browser, username)
        for path in pages:
            shown = browser.get(path)
            assert shown.status_code == 200, (username, path, shown.text)
        queue = browser.get("/office").text
        assert f'data-claim-id="{sent["id"]}"' in queue
        assert ('data-action="approve"' in queue) == (username != "auditor")
    refused = form_post(browser, f"/office/claims/{sent['id']}/approve", {}, from_page="/office")
    assert refused.status_code == 403  # the auditor reads; only officials decide
    assert _status(browser, official, sent["id"]) == "pending"


def test_a_rating_review_is_answered_from_the_office_and_the_household_reads_the_answer(
    browser: TestClient, world: World
) -> None:
    villager = villager_token(browser, world.villager_phone)
    asked = browser.post(
        "/api/v1/credit/me/review-requests", json={"reason": "My deduction was revoked."}, headers=bearer(villager)
    )
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]

    sign_in_staff(browser, "official-b")  # another village's official sees nothing of it
    assert f'data-review-id="{request_id}"' not in browser.get("/office/rating-reviews").text
    refused = form_post(
        browser, f"/office/rating-reviews/{request_id}/answer", {"answer": "x"}, from_page="/office/rating-reviews"
    )
    assert refused.status_code == 404

    browser.cookies.clear()
    sign_in_staff(browser, "official-a")
    page = browser.get("/office/rating-reviews")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    card = page.text.split(f'data-review-id="{request_id}"')[1].split("</section>")[0]
    assert 'data-review-status="open"' in page.text and "My deduction was revoked." in card
    assert re.search(r"<strong>(AAA|AA|A|B|C|D|NR)</strong>", card), "the rating asked about is shown"
    empty = form_post(
        browser, f"/office/rating-reviews/{request_id}/answer", {"answer": "  "}, from_page="/office/rating-reviews"
    )
    assert empty.status_code == 422  # an empty answer is refused, and the request stays open
    answer = "The deduction was revoked on appeal; the next rating counts it no more."
    done = form_post(
        browser, f"/office/rating-reviews/{request_id}/answer", {"answer": answer}, from_page="/office/rating-reviews"
    )
    assert done.status_code == 303 and done.headers["location"] == "/office/rating-reviews?done=answered"
    shown = browser.get("/office/rating-reviews").text
    assert f'data-review-id="{request_id}" data-review-status="answered"' in shown
    again = form_post(
        browser, f"/office/rating-reviews/{request_id}/answer", {"answer": "again"}, from_page="/office/rating-reviews"
    )
    assert again.status_code == 409 and ZH.gettext(ERRORS["review_already_answered"]) in again.text

    browser.cookies.clear()
    sign_in_villager(browser, world.villager_phone)
    assert answer in browser.get("/me").text  # the household reads the answer among its messages


def test_an_award_waiting_for_a_second_official_shows_why_in_the_queue(browser: TestClient, world: World) -> None:
    official = password_token(browser, "official-a")
    evidence = photo(browser, official, village_id=world.village_a.village_id)
    given = browser.post(
        "/api/v1/claims/awards",
        headers={**bearer(official), "Idempotency-Key": "award-page"},
        json={
            "household_id": world.household_a1,
            "matter_code": "clearing_debris",
            "reason": "Cleared the blocked ditch after the storm.",
            "evidence_ids": [evidence],
        },
    )
    assert given.status_code == 201 and given.json()["status"] == "pending", given.text
    sign_in_staff(browser, "official-a2")
    queue = browser.get("/office")
    row = queue.text.split(f'data-claim-id="{given.json()["id"]}"')[1].split("</article>")[0]
    assert "Cleared the blocked ditch after the storm." in row and ZH.gettext("Why it is awarded") in row


def _award_page(browser: TestClient, household_id: int) -> tuple[str, str]:
    """The award form for a household: its CSRF token and its idempotency key."""
    page = browser.get(f"/office/awards?household_id={household_id}")
    assert page.status_code == 200, page.text
    return csrf_of(page.text), page.text.split('name="key" value="')[1].split('"')[0]


def _award(
    browser: TestClient,
    household_id: int,
    matter: str,
    reason: str = "Helped at the flood bank.",
    photo_file: bytes | None = None,
) -> Any:
    csrf, key = _award_page(browser, household_id)
    files = {"photo": ("shot.jpg", photo_file, "image/jpeg")} if photo_file is not None else None
    return browser.post(
        "/office/awards",
        data={"csrf": csrf, "key": key, "household_id": str(household_id), "matter_code": matter, "reason": reason},
        files=files,
    )


def _awards(browser: TestClient, token: str, household_id: int) -> list[dict[str, Any]]:
    found = browser.get("/api/v1/claims?limit=200", headers=bearer(token)).json()
    return [c for c in found if c["household_id"] == household_id and c["award_reason"] is not None]


def test_an_award_under_the_threshold_goes_on_the_notice_board_and_the_balance_shows_it(
    browser: TestClient, world: World
) -> None:
    official = password_token(browser, "official-a")
    before = balance(browser, official, world.household_a1)
    sign_in_staff(browser, "official-a")
    listing = browser.get("/office/households").text
    row = listing.split(f'data-household-id="{world.household_a1}"')[1].split("</tr>")[0]
    assert f'href="/office/awards?household_id={world.household_a1}"' in row  # the household's award form
    form = browser.get(f"/office/awards?household_id={world.household_a1}").text
    assert '<option value="volunteering">' in form and '<option value="breaking_village_rules">' not in form

    csrf, key = _award_page(browser, world.household_a1)
    fields = {
        "csrf": csrf,
        "key": key,
        "household_id": str(world.household_a1),
        "matter_code": "volunteering",
        "reason": "Helped at the flood bank.",
    }  # 5 points: the county's threshold, not above
    done = browser.post("/office/awards", data=fields)
    assert done.status_code == 303, done.text
    again = browser.post("/office/awards", data=fields)  # a double tap, or a resend on a bad connection
    assert again.status_code == 303 and again.headers["location"] == done.headers["location"]
    assert done.headers["location"] == f"/office/awards?household_id={world.household_a1}&done=award_in_notice"
    shown = browser.get(done.headers["location"]).text
    assert ZH.gettext(NOTICES["award_in_notice"]) in shown
    given = _awards(browser, official, world.household_a1)
    assert [(c["matter_code"], c["points"], c["status"], c["award_reason"]) for c in given] == [
        ("volunteering", 5, "approved", "Helped at the flood bank.")
    ]
    assert f'data-award-id="{given[0]["id"]}" data-award-status="approved"' in shown
    after = balance(browser, official, world.household_a1)
    assert after["in_notice"] == before["in_notice"] + 5 and after["posted"] == before["posted"]
    row = browser.get("/office/households").text.split(f'data-household-id="{world.household_a1}"')[1]
    assert ZH.gettext("+%(n)s in notice") % {"n": after["in_notice"]} in row.split("</tr>")[0]


def test_an_award_above_the_threshold_waits_and_only_another_official_approves_it(
    browser: TestClient, world: World
) -> None:
    official = password_token(browser, "official-a")
    sign_in_staff(browser, "official-a")
    bare = _award(browser, world.household_a1, "clearing_debris", "Cleared the ditch.")  # 20 points, photo matter
    assert bare.status_code == 422 and ZH.gettext(ERRORS["evidence_required"]) in bare.text
    assert _awards(browser, official, world.household_a1) == []

    done = _award(browser, world.household_a1, "clearing_debris", "Cleared the ditch.", photo_file=JPEG)
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith("done=award_waiting")
    assert ZH.gettext(NOTICES["award_waiting"]) in browser.get(done.headers["location"]).text
    given = _awards(browser, official, world.household_a1)
    assert [(c["status"], len(c["evidence"])) for c in given] == [("pending", 1)]
    award_id = given[0]["id"]
    queue = browser.get("/office")
    assert "Cleared the ditch." in queue.text.split(f'data-claim-id="{award_id}"')[1].split("</article>")[0]
    own = browser.post(f"/office/claims/{award_id}/approve", data={"csrf": csrf_of(queue.text)})
    assert own.status_code == 403 and ZH.gettext(ERRORS["second_official_needed"]) in own.text  # not its author
    assert _status(browser, official, award_id) == "pending"

    browser.cookies.clear()
    sign_in_staff(browser, "official-a2")
    queue = browser.get("/office")
    approved = browser.post(f"/office/claims/{award_id}/approve", data={"csrf": csrf_of(queue.text)})
    assert approved.status_code == 303, approved.text
    assert _status(browser, official, award_id) == "approved"
    assert balance(browser, official, world.household_a1)["in_notice"] >= 20


def test_award_refusals_are_said_in_words_and_write_nothing(browser: TestClient, world: World) -> None:
    official = password_token(browser, "official-a")
    before = balance(browser, official, world.household_a2)
    sign_in_staff(browser, "official-home")  # lives in household A2
    own = _award(browser, world.household_a2, "volunteering")
    assert own.status_code == 403, own.text
    assert (
        'role="alert"' in own.text
        and ZH.gettext(
            "You cannot award your own household: another official of the village, the township supervisor or the "
            "county admin does it."
        )
        in own.text
    )
    deduction = _award(browser, world.household_a1, "breaking_village_rules")
    assert deduction.status_code == 422
    assert ZH.gettext("This matter takes points away: record it as a deduction instead.") in deduction.text
    no_reason = _award(browser, world.household_a1, "volunteering", reason="  ")
    assert no_reason.status_code == 422 and ZH.gettext(ERRORS["reason_required"]) in no_reason.text
    assert _awards(browser, official, world.household_a2) == [] == _awards(browser, official, world.household_a1)
    assert balance(browser, official, world.household_a2) == before

    assert _award(browser, world.household_a1, "garbage_sorting").status_code == 303  # at most once a day
    capped = _award(browser, world.household_a1, "garbage_sorting")
    assert capped.status_code == 409
    assert ZH.gettext("This household has reached the limit of points for this matter.") in capped.text
    assert len(_awards(browser, official, world.household_a1)) == 1


def test_the_auditor_gets_no_award_form(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "auditor")
    listing = browser.get("/office/households")
    assert listing.status_code == 200 and "/office/awards" not in listing.text
    assert browser.get(f"/office/awards?household_id={world.household_a1}").status_code == 403
    refused = browser.post(
        "/office/awards",
        data={
            "csrf": csrf_of(listing.text),
            "key": "auditor-award-1",
            "household_id": str(world.household_a1),
            "matter_code": "volunteering",
            "reason": "x",
        },
    )
    assert refused.status_code == 403
    official = password_token(browser, "official-a")
    assert _awards(browser, official, world.household_a1) == []


def test_a_chart_is_drawn_once_per_change_of_its_data_and_an_approval_redraws_it(
    browser: TestClient, world: World
) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id)
    sent = _claim(browser, world.villager_phone, activity)
    sign_in_staff(browser, "official-a")
    chart = f"/office/dashboard/chart/points_by_matter.svg?village_id={world.village_a.village_id}"
    drawn = browser.app.state.drawn  # type: ignore[attr-defined]

    before = browser.get(chart)
    assert before.status_code == 200
    made = drawn.made
    assert browser.get(chart).content == before.content
    assert drawn.made == made  # the same data: served as drawn, nothing computed again

    form_post(browser, f"/office/claims/{sent['id']}/approve", {}, from_page="/office")
    after = browser.get(chart)
    assert after.content != before.content  # the approved claim's points are on it
    assert ZH.gettext("Nothing yet").encode() in before.content
    assert ZH.gettext("Nothing yet").encode() not in after.content
    assert drawn.made > made
