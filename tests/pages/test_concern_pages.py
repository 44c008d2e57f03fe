"""The pages of village concerns (随手拍), each opened as its user would: the village's concern code and poster,
the report form a scanned code opens, and refusals in words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select
from sqlmodel import col

from ledger.activities import codes
from ledger.concerns import setup
from ledger.concerns.models import Concern
from ledger.core.db import unit_of_work
from ledger.identity.models import Role, User
from ledger.identity.service import set_password
from ledger.tenancy import Household
from tests import factories
from tests.api.claiming import JPEG
from tests.api.conftest import PASSWORD, World
from tests.pages.conftest import csrf_of, form_post, sign_in_staff, sign_in_villager


def _keys(browser: TestClient) -> codes.Keys:
    keys: codes.Keys = browser.app.state.code_keys  # type: ignore[attr-defined]
    return keys


def _code_url(browser: TestClient, village_id: int) -> str:
    return f"/r/{codes.sign_concern_place(_keys(browser), village_id=village_id)}"


def test_a_concern_code_names_its_village_or_township_and_nothing_else_reads_as_one(browser: TestClient) -> None:
    keys = _keys(browser)
    village = codes.sign_concern_place(keys, village_id=42)
    township = codes.sign_concern_place(keys, township_id=42)
    assert codes.read_concern_place(keys, village) == codes.ConcernPlaceCode(village_id=42)
    assert codes.read_concern_place(keys, township) == codes.ConcernPlaceCode(township_id=42)
    assert len(village) < 40  # compact enough to scan from a poster
    with pytest.raises(codes.CodeInvalid):
        codes.read_concern_place(keys, codes.sign_household(keys, household_id=42))
    with pytest.raises(codes.CodeInvalid):
        codes.read(keys, village)  # a concern code claims no points
    tampered = village[:-2] + ("AA" if not village.endswith("AA") else "BB")
    with pytest.raises(codes.CodeInvalid):
        codes.read_concern_place(keys, tampered)
    assert codes.scanned(f"https://x.example/r/{village}/") == village


def test_the_official_prints_the_poster_of_their_village_only(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "official-a")
    listing = browser.get("/office/concerns/poster")
    assert listing.status_code == 200
    assert f'data-village-id="{world.village_a.village_id}"' in listing.text
    assert f'data-village-id="{world.village_b.village_id}"' not in listing.text
    poster = browser.get(f"/office/concerns/poster.svg?village_id={world.village_a.village_id}")
    assert poster.status_code == 200 and poster.headers["content-type"].startswith("image/svg+xml")
    assert "随手拍·有事您说" in poster.text and "/r/" in poster.text
    png = browser.get(f"/office/concerns/poster.png?village_id={world.village_a.village_id}")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    other = browser.get(f"/office/concerns/poster.svg?village_id={world.village_b.village_id}")
    assert other.status_code == 404 and "随手拍" not in other.text


def test_a_villager_cannot_print_posters(browser: TestClient, world: World) -> None:
    sign_in_villager(browser, world.villager_phone)
    assert browser.get(f"/office/concerns/poster.svg?village_id={world.village_a.village_id}").status_code == 403


def test_scanning_the_code_asks_to_sign_in_then_opens_the_report_form_for_that_village(
    browser: TestClient, world: World
) -> None:
    url = _code_url(browser, world.village_b.village_id)  # a neighbouring village of the same county
    first = browser.get(url)
    assert first.status_code == 303 and first.headers["location"].startswith("/signin?next=%2Fr%2F")
    sign_in_villager(browser, world.villager_phone, next_path=url)
    form = browser.get(url)
    assert form.status_code == 200
    assert 'name="kind" value="hazard"' in form.text and 'accept="audio/*"' in form.text
    assert form.text.count('name="photo"') == 3 and 'name="anonymous"' in form.text
    assert re.search(r'action="/r/[^"]+"', form.text)


def test_a_code_of_another_county_or_a_damaged_one_is_refused_in_words(browser: TestClient, world: World) -> None:
    sign_in_villager(browser, world.villager_phone)
    other_county = browser.get(_code_url(browser, world.village_c.village_id))
    assert other_county.status_code == 404 and "data-code" in other_county.text
    damaged = browser.get("/r/not-a-code-at-all")
    assert damaged.status_code == 422 and 'data-code="code_invalid"' in damaged.text


def test_staff_are_not_sent_to_the_report_form(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "official-a")
    assert browser.get(_code_url(browser, world.village_a.village_id)).status_code == 403


def test_the_api_gives_the_poster_to_the_villages_officials_in_either_language(
    browser: TestClient, world: World
) -> None:
    from tests.api.conftest import password_token

    official = {"Authorization": f"Bearer {password_token(browser, 'official-a')}"}
    village = world.village_a.village_id
    chinese = browser.get(f"/api/v1/villages/{village}/concern-code.svg", headers=official)
    assert chinese.status_code == 200 and "随手拍·有事您说" in chinese.text
    english = browser.get(f"/api/v1/villages/{village}/concern-code.svg?lang=en", headers=official)
    assert "Report a village problem" in english.text and "随手拍" not in english.text
    png = browser.get(f"/api/v1/villages/{village}/concern-code.png", headers=official)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    other = browser.get(f"/api/v1/villages/{world.village_b.village_id}/concern-code.svg", headers=official)
    assert other.status_code == 404


# --- reporting, following, handling ------------------------------------------------------------------------------


@dataclass
class Handling:
    handler_id: int
    category: str = "road_hazard"


@pytest.fixture
def handling(world: World, engine: Engine) -> Handling:
    """The county's default categories and a grid handler of village A whose member, "handler-a", is an official of
    no village (the county admin sets it up)."""
    with unit_of_work(engine) as session:
        county = world.village_a.county_id
        setup.default_categories(session, county)
        member = User(role=Role.OFFICIAL, county_id=county, username="handler-a", display_name="Handler A")
        set_password(member, PASSWORD)
        session.add(member)
        session.flush()
        admin = session.scalars(select(User).where(col(User.username) == "admin")).one()
        who = factories.principal_of(session, factories.id_of(admin))
        handler = setup.add_handler(session, who, kind="grid", name="Grid A", village_id=world.village_a.village_id)
        setup.set_members(session, who, factories.id_of(handler), [factories.id_of(member)])
        return Handling(handler_id=factories.id_of(handler))


def report(browser: TestClient, path: str, *, anonymous: bool = False, photo: bool = True, **fields: str) -> Response:
    form = browser.get(path)
    assert form.status_code == 200, form.text
    key = re.search(r'name="key" value="([^"]+)"', form.text)
    assert key
    data = {"csrf": csrf_of(form.text), "key": key.group(1), "kind": "hazard", "category": "road_hazard"}
    data |= {"text": "A hole in the road by the bridge", **({"anonymous": "true"} if anonymous else {}), **fields}
    files = [("photo", ("hole.jpg", JPEG, "image/jpeg"))] if photo else None
    sent: Response = browser.post(path, data=data, files=files)
    return sent


def concern_of(sent: Response) -> int:
    assert sent.status_code == 303, sent.text
    found = re.search(r"/concerns/(\d+)", sent.headers["location"])
    assert found
    return int(found.group(1))


def act(browser: TestClient, concern_id: int, step: str, data: dict[str, str] | None = None, **kw: Any) -> Response:
    shown = browser.get(f"/office/concerns/{concern_id}")
    assert shown.status_code == 200, shown.text
    answer: Response = browser.post(
        f"/office/concerns/{concern_id}/{step}", data={"csrf": csrf_of(shown.text), **(data or {})}, **kw
    )
    return answer


def test_a_scanned_report_is_handled_to_the_end_and_the_reporter_follows_each_step(
    browser: TestClient, world: World, handling: Handling
) -> None:
    url = _code_url(browser, world.village_a.village_id)
    sign_in_villager(browser, world.villager_phone)
    concern = concern_of(report(browser, url))
    parcel = browser.get(f"/me/concerns/{concern}")
    assert parcel.status_code == 200 and 'data-status="submitted"' in parcel.text
    assert "待受理" in parcel.text and "应在" in parcel.text  # the step's deadline in plain words
    assert f'data-concern-id="{concern}"' in browser.get("/me/concerns").text

    browser.cookies.clear()
    sign_in_staff(browser, "official-a")
    queue = browser.get("/office/concerns")
    assert f'data-concern-id="{concern}"' in queue.text
    assert act(browser, concern, "accept").status_code == 303
    again = act(browser, concern, "accept")  # pressed twice: refused in words, nothing changes
    assert again.status_code == 409 and 'data-refusal="concern_wrong_step"' in again.text
    assert act(browser, concern, "dispatch", {"handler_id": str(handling.handler_id)}).status_code == 303

    browser.cookies.clear()
    sign_in_staff(browser, "handler-a")
    assert f'data-concern-id="{concern}"' in browser.get("/office/concerns/assigned").text
    no_photo = act(browser, concern, "resolve", {"note": "Filled", "judgement": "real"})
    assert no_photo.status_code == 422 and 'data-refusal="concern_photo_required"' in no_photo.text
    done = act(
        browser,
        concern,
        "resolve",
        {"note": "Filled the hole", "judgement": "real"},
        files=[("photo", ("done.jpg", JPEG, "image/jpeg"))],
    )
    assert done.status_code == 303, done.text

    browser.cookies.clear()
    sign_in_villager(browser, world.villager_phone)
    parcel = browser.get(f"/me/concerns/{concern}")
    steps = re.findall(r'data-step="(\w+)"', parcel.text)
    assert steps[:4] == ["submit", "accept", "dispatch", "resolve"]
    assert "Filled the hole" in parcel.text and 'id="evaluate"' in parcel.text
    assert "handler-a" not in parcel.text and "official-a" not in parcel.text  # roles, never names
    assert "处理人" in parcel.text and "村干部" in parcel.text
    photos = re.findall(r'src="(/concerns/\d+/photos/\d+)"', parcel.text)
    assert len(photos) == 2 and all(browser.get(p).headers["content-type"] == "image/jpeg" for p in photos)
    closed = browser.post(
        f"/me/concerns/{concern}/evaluate", data={"csrf": csrf_of(parcel.text), "satisfied": "yes", "comment": ""}
    )
    assert closed.status_code == 303
    assert 'data-status="closed"' in browser.get(f"/me/concerns/{concern}").text


def test_an_anonymous_reporter_is_on_no_staff_page(browser: TestClient, world: World, handling: Handling) -> None:
    sign_in_villager(browser, world.villager_phone)
    concern = concern_of(report(browser, "/me/concerns/new", anonymous=True))
    with unit_of_work(browser.app.state.engine) as session:  # type: ignore[attr-defined]
        household = session.get(Household, world.household_a1)
        assert household is not None
        secrets_of = {household.name, household.code, world.villager_phone}
    browser.cookies.clear()
    for staff in ("official-a", "supervisor", "admin", "auditor", "handler-a"):
        sign_in_staff(browser, staff)
        if staff == "official-a":
            act(browser, concern, "accept")
            act(browser, concern, "dispatch", {"handler_id": str(handling.handler_id)})
        for path in ("/office/concerns", f"/office/concerns/{concern}", "/office/concerns/assigned"):
            shown = browser.get(path)
            if shown.status_code == 403:
                continue
            assert shown.status_code == 200, (staff, path)
            leaked = {s for s in secrets_of if s and s in shown.text}
            assert leaked == set(), (staff, path, leaked)
        browser.cookies.clear()


def test_someone_elses_concern_looks_missing_and_a_villager_cannot_act_as_staff(
    browser: TestClient, world: World, handling: Handling
) -> None:
    sign_in_villager(browser, world.villager_phone)
    concern = concern_of(report(browser, "/me/concerns/new", photo=False))
    browser.cookies.clear()
    sign_in_villager(browser, "13900000003")  # household B1
    assert browser.get(f"/me/concerns/{concern}").status_code == 404
    assert browser.get(f"/office/concerns/{concern}").status_code == 403
    browser.cookies.clear()
    sign_in_staff(browser, "official-b")
    assert browser.get(f"/office/concerns/{concern}").status_code == 404
    browser.cookies.clear()
    sign_in_staff(browser, "official-home")  # lives in A2: not the reporter's household, so may act
    assert act(browser, concern, "accept").status_code == 303


def test_a_report_refused_is_shown_on_the_form_with_what_was_typed(
    browser: TestClient, world: World, handling: Handling
) -> None:
    sign_in_villager(browser, world.villager_phone)
    refused = report(browser, "/me/concerns/new", text="   ", photo=False)
    assert refused.status_code == 422 and 'data-refusal="concern_text_required"' in refused.text
    assert "请" in refused.text
    with unit_of_work(browser.app.state.engine) as session:  # type: ignore[attr-defined]
        assert session.scalars(select(Concern)).first() is None


def test_an_official_records_a_report_told_in_person_and_the_reporters_word(
    browser: TestClient, world: World, handling: Handling
) -> None:
    sign_in_staff(browser, "official-a")
    form = browser.get("/office/concerns/new?q=")
    assert form.status_code == 200
    sent = form_post(
        browser,
        "/office/concerns/new",
        {
            "key": "record-key-1",
            "channel": "phone",
            "village_id": str(world.village_a.village_id),
            "reporter_name": "Old Wang",
            "reporter_phone": "13800000099",
            "kind": "complaint",
            "category": "environment",
            "text": "Rubbish by the pond",
        },
    )
    concern = concern_of(sent)
    shown = browser.get(f"/office/concerns/{concern}")
    assert "Old Wang" in shown.text and 'id="accept"' in shown.text


def test_the_handler_returns_one_not_theirs_and_an_official_merges_a_repeat(
    browser: TestClient, world: World, handling: Handling
) -> None:
    sign_in_villager(browser, world.villager_phone)
    first = concern_of(report(browser, "/me/concerns/new", photo=False))
    browser.cookies.clear()
    sign_in_villager(browser, "13900000002")  # household A2 reports the same thing, in other words
    second = concern_of(report(browser, "/me/concerns/new", photo=False, category="environment", text="Litter"))
    browser.cookies.clear()
    sign_in_staff(browser, "official-a")
    act(browser, first, "accept")
    act(browser, first, "dispatch", {"handler_id": str(handling.handler_id)})
    into_self = act(browser, second, "merge", {"into_id": str(second)})
    assert into_self.status_code == 409 and 'data-refusal="merge_into_self"' in into_self.text
    assert act(browser, second, "merge", {"into_id": f"#{first}"}).status_code == 303
    assert 'data-status="merged"' in browser.get(f"/office/concerns/{second}").text
    browser.cookies.clear()
    sign_in_staff(browser, "handler-a")
    empty = act(browser, first, "return", {"reason": " "})
    assert empty.status_code == 422 and "data-refusal" in empty.text
    assert act(browser, first, "return", {"reason": "This is the township's road"}).status_code == 303
    browser.cookies.clear()
    sign_in_villager(browser, "13900000002")  # the repeat's reporter follows the first one now
    followed = browser.get(f"/me/concerns/{first}")
    assert followed.status_code == 200 and 'data-status="returned"' in followed.text
    assert "This is the township's road" not in followed.text  # a step's note is for staff
    assert "重新派单中" in followed.text


def test_an_official_records_what_a_reporter_told_in_person_said_of_the_resolution(
    browser: TestClient, world: World, handling: Handling
) -> None:
    sign_in_staff(browser, "official-a")
    concern = concern_of(
        form_post(
            browser,
            "/office/concerns/new?household_id=" + str(world.household_a2),
            {
                "key": "record-key-2",
                "household_id": str(world.household_a2),
                "channel": "in_person",
                "kind": "hazard",
                "category": "road_hazard",
                "text": "The well cover is broken",
            },
        )
    )
    act(browser, concern, "accept")
    act(browser, concern, "dispatch", {"handler_id": str(handling.handler_id)})
    browser.cookies.clear()
    sign_in_staff(browser, "handler-a")
    act(
        browser,
        concern,
        "resolve",
        {"note": "New cover", "judgement": "real"},
        files=[("photo", ("c.jpg", JPEG, "image/jpeg"))],
    )
    browser.cookies.clear()
    sign_in_staff(browser, "official-a2")
    shown = browser.get(f"/office/concerns/{concern}")
    assert 'id="evaluate"' in shown.text
    assert act(browser, concern, "evaluate", {"satisfied": "no", "comment": "Still wobbly"}).status_code == 303
    assert 'data-status="reopened"' in browser.get(f"/office/concerns/{concern}").text


def test_a_supervisor_prints_the_townships_own_code_and_a_villager_reports_through_it(
    browser: TestClient, world: World, handling: Handling
) -> None:
    sign_in_staff(browser, "supervisor")
    listing = browser.get("/office/concerns/poster")
    assert f'data-township-id="{world.village_a.township_id}"' in listing.text
    assert f'data-village-id="{world.village_b.village_id}"' in listing.text  # B is in A's township too
    poster = browser.get(f"/office/concerns/poster.svg?township_id={world.village_a.township_id}")
    assert poster.status_code == 200 and "随手拍·有事您说" in poster.text
    token = re.search(r"/r/([A-Za-z0-9_-]+)", poster.text)
    assert token
    browser.cookies.clear()
    sign_in_staff(browser, "official-a")  # a village's official prints no township's code
    assert "data-township-id" not in browser.get("/office/concerns/poster").text
    refused = browser.get(f"/office/concerns/poster.svg?township_id={world.village_a.township_id}")
    assert refused.status_code == 404
    browser.cookies.clear()
    sign_in_villager(browser, world.villager_phone)
    concern = concern_of(report(browser, f"/r/{token.group(1)}", photo=False))
    with unit_of_work(browser.app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.get(Concern, concern)
        assert row is not None and row.village_id is None and row.township_id == world.village_a.township_id


def test_a_voice_note_goes_with_the_report_and_a_resend_of_the_form_reports_once(
    browser: TestClient, world: World, handling: Handling
) -> None:
    sign_in_villager(browser, world.villager_phone)
    form = browser.get("/me/concerns/new")
    key = re.search(r'name="key" value="([^"]+)"', form.text)
    assert key
    data = {"csrf": csrf_of(form.text), "key": key.group(1), "kind": "question", "category": "public_service"}
    data["text"] = "When is the clinic open?"
    voice = ("voice", ("note.ogg", b"OggS" + bytes(200), "audio/ogg"))
    first = browser.post("/me/concerns/new", data=data, files=[voice])
    again = browser.post("/me/concerns/new", data=data, files=[voice])  # the double tap, or a resend
    assert concern_of(first) == concern_of(again)
    parcel = browser.get(f"/me/concerns/{concern_of(first)}")
    assert f'src="/concerns/{concern_of(first)}/voice"' in parcel.text
    heard = browser.get(f"/concerns/{concern_of(first)}/voice")
    assert heard.status_code == 200 and heard.headers["content-type"] == "audio/ogg"
    assert heard.content.startswith(b"OggS")
    with unit_of_work(browser.app.state.engine) as session:  # type: ignore[attr-defined]
        assert len(session.scalars(select(Concern)).all()) == 1
    browser.cookies.clear()
    sign_in_villager(browser, "13900000002")  # another household hears nothing of it
    assert browser.get(f"/concerns/{concern_of(first)}/voice").status_code == 404


def test_too_many_photos_or_a_voice_note_that_is_no_recording_are_refused_in_words(
    browser: TestClient, world: World, handling: Handling
) -> None:
    sign_in_villager(browser, world.villager_phone)
    photos = [("photo", (f"p{n}.jpg", JPEG, "image/jpeg")) for n in range(4)]
    form = browser.get("/me/concerns/new")
    key = re.search(r'name="key" value="([^"]+)"', form.text)
    assert key
    data = {"csrf": csrf_of(form.text), "key": key.group(1), "kind": "hazard", "category": "road_hazard"}
    data["text"] = "Four photos"
    many = browser.post("/me/concerns/new", data=data, files=photos)
    assert many.status_code == 422 and 'data-refusal="concern_too_many_photos"' in many.text
    assert "最多三张照片" in many.text and "Four photos" in many.text  # what was typed is kept
    not_audio = browser.post(
        "/me/concerns/new", data=data, files=[("voice", ("note.txt", b"hello, this is text", "audio/ogg"))]
    )
    assert not_audio.status_code == 415 and 'data-refusal="concern_voice_type"' in not_audio.text
    with unit_of_work(browser.app.state.engine) as session:  # type: ignore[attr-defined]
        assert session.scalars(select(Concern)).first() is None


def test_a_second_report_of_the_same_place_joins_the_first_and_its_reporter_follows_that_one(
    browser: TestClient, world: World, handling: Handling
) -> None:
    with unit_of_work(browser.app.state.engine) as session:  # type: ignore[attr-defined]
        admin = session.scalars(select(User).where(col(User.username) == "admin")).one()
        who = factories.principal_of(session, factories.id_of(admin))
        bridge = factories.id_of(setup.add_place(session, who, village_id=world.village_a.village_id, name="石桥"))
    sign_in_villager(browser, world.villager_phone)
    form = browser.get("/me/concerns/new")
    assert f'<option value="{bridge}">石桥</option>' in form.text  # the village's places to choose from
    first = concern_of(report(browser, "/me/concerns/new", photo=False, place_id=str(bridge)))
    browser.cookies.clear()
    sign_in_villager(browser, "13900000002")
    joined = report(browser, "/me/concerns/new", photo=False, place_id=str(bridge), text="The bridge rail is broken")
    assert concern_of(joined) == first  # the parcel view of the concern it joined
    followed = browser.get(joined.headers["location"])
    assert followed.status_code == 200 and "已经有人反映过同一个问题" in followed.text
    assert f'data-concern-id="{first}"' in browser.get("/me/concerns").text


def test_in_a_county_with_no_handler_yet_the_official_is_told_whom_to_ask_instead_of_an_empty_choice(
    browser: TestClient, world: World, engine: Engine
) -> None:
    with unit_of_work(engine) as session:
        setup.default_categories(session, world.village_a.county_id)  # categories, but no handler set up yet
    url = _code_url(browser, world.village_a.village_id)
    sign_in_villager(browser, world.villager_phone)
    concern = concern_of(report(browser, url))
    browser.cookies.clear()
    sign_in_staff(browser, "official-a")
    assert act(browser, concern, "accept").status_code == 303
    shown = browser.get(f"/office/concerns/{concern}").text
    assert "data-no-handlers" in shown and "请县管理员添加处理人" in shown
    assert 'name="handler_id"' not in shown  # no form that cannot be sent
