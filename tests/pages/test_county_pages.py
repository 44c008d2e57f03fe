"""The county admin's pages: each opens in Chinese for the admin; each form changes what it says and writes its row
in the change log; a wrong value is refused in words and changes nothing; officials, villagers and partners are
refused; the auditor reads and downloads the change log but changes nothing."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import col

from api import i18n
from api.pages.messages import ERRORS, NOTICES
from ledger.catalogue import service as catalogue
from ledger.core import audit
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.identity.models import Partner, PartnerClient, User
from ledger.tenancy import County, Village
from redemption.models import Offer
from scoring import ratings
from scoring.card import Card
from scoring.models import LoanOutcome, Rating
from tests.api.conftest import World
from tests.api.redeeming import propose
from tests.api.test_county_settings import another_card
from tests.factories import id_of
from tests.pages.conftest import csrf_of, form_post, sign_in_staff, sign_in_villager

ZH = i18n.translations("zh_CN")
PAGES = (
    ("/county", "县级设置"),
    ("/county/policy", "政策设置"),
    ("/county/catalogue", "积分事项"),
    ("/county/catalogue/volunteering", "志愿服务"),
    ("/county/partners", "合作单位"),
    ("/county/offers", "兑换项目审核"),
    ("/county/scorecards", "评分卡"),
    ("/county/changes", "变更记录"),
)


def _changes(engine: Engine, world: World, action: str) -> list[dict[str, Any]]:
    with unit_of_work(engine) as session:
        return [audit.as_dict(r) for r in audit.changes(session, world.village_a.county_id, action=action)]


def _county(engine: Engine, world: World) -> County:
    with unit_of_work(engine) as session:
        county = session.get(County, world.village_a.county_id)
        assert county is not None
        session.expunge(county)
        return county


def _partner_id(engine: Engine, code: str) -> int:
    with unit_of_work(engine) as session:
        return id_of(session.scalars(select(Partner).where(col(Partner.code) == code)).one())


def _refusal(html: str) -> str:
    found = re.search(r'<p class="refusal" role="alert" data-refusal>(.*?)</p>', html, re.S)
    assert found, "the page says why it refused"
    return found.group(1).strip()


POLICY = {
    "notice_days": "5",
    "review_days": "7",
    "appeal_days": "7",
    "overdue_hours": "48",
    "village_max_rewards": "3",
    "village_max_deductions": "3",
    "village_max_points": "10",
    "points_expiry_months": "24",
    "award_second_official_points": "50",
    "notice_deductions": "hidden",
}


def test_every_page_opens_for_the_county_admin_in_chinese(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "admin")
    for path, title in PAGES:
        answer = browser.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert '<html lang="zh-CN">' in answer.text and title in answer.text, path
        assert answer.headers["cache-control"] == "no-store"
    home = browser.get("/county").text
    for section in ("places", "households", "staff", "roster"):  # the places the other sections fill in
        assert f'data-section="{section}"' in home
    assert 'href="/county"' in browser.get("/office").text  # the menu leads there
    partner = browser.get(f"/county/partners/{_partner_id(browser_engine(browser), 'bank')}")
    assert partner.status_code == 200 and "系统接入" in partner.text
    card = browser.get(f"/county/scorecards/{Card.shipped().id}")
    assert card.status_code == 200 and "data-no-report" in card.text  # too few loans to check it: said in words
    assert ZH.gettext(ERRORS["not_enough_outcomes"]) in card.text


def browser_engine(browser: TestClient) -> Engine:
    engine: Engine = browser.app.state.engine  # type: ignore[attr-defined]
    return engine


def test_the_policy_form_changes_the_policy_and_logs_it(browser: TestClient, engine: Engine, world: World) -> None:
    sign_in_staff(browser, "admin")
    done = form_post(browser, "/county/policy", POLICY)
    assert done.status_code == 303 and done.headers["location"] == "/county/policy?done=saved"
    county = _county(engine, world)
    assert (county.notice_days, county.overdue_hours, county.notice_deductions) == (5, 48, "hidden")
    shown = browser.get(done.headers["location"]).text
    assert ZH.gettext(NOTICES["saved"]) in shown and 'value="48"' in shown
    logged = _changes(engine, world, "policy.change")
    assert (
        len(logged) == 1
        and logged[0]["after"]["notice_days"] == 5
        and logged[0]["after"]["notice_deductions"] == "hidden"
    )


@pytest.mark.parametrize(
    ("field", "value"), [("notice_days", "0"), ("overdue_hours", "abc"), ("notice_deductions", "x")]
)
def test_a_wrong_setting_is_refused_in_words_and_nothing_changes(
    browser: TestClient, engine: Engine, world: World, field: str, value: str
) -> None:
    before = _county(engine, world)
    sign_in_staff(browser, "admin")
    refused = form_post(browser, "/county/policy", {**POLICY, field: value})
    assert refused.status_code == 422
    assert _refusal(refused.text) == ZH.gettext(ERRORS["invalid_policy"])
    assert f'data-wrong="{field}"' in refused.text
    after = _county(engine, world)
    assert (after.notice_days, after.overdue_hours) == (before.notice_days, before.overdue_hours)
    assert _changes(engine, world, "policy.change") == []


def test_a_villages_notice_board_privacy_is_set_from_the_policy_page(
    browser: TestClient, engine: Engine, world: World
) -> None:
    sign_in_staff(browser, "admin")
    village = world.village_a.village_id
    done = form_post(
        browser, f"/county/villages/{village}/privacy", {"notice_privacy": "anonymous"}, from_page="/county/policy"
    )
    assert done.status_code == 303
    with unit_of_work(engine) as session:
        assert session.get(Village, village).notice_privacy == "anonymous"  # type: ignore[union-attr]
    assert len(_changes(engine, world, "village.change")) == 1
    wrong = form_post(
        browser, f"/county/villages/{village}/privacy", {"notice_privacy": "everyone"}, from_page="/county/policy"
    )
    assert wrong.status_code == 422 and _refusal(wrong.text) == ZH.gettext(ERRORS["invalid_notice_privacy"])
    other = form_post(
        browser,
        f"/county/villages/{world.village_c.village_id}/privacy",
        {"notice_privacy": "anonymous"},
        from_page="/county/policy",
    )
    assert other.status_code == 404  # another county's village looks missing
    assert len(_changes(engine, world, "village.change")) == 1


MATTER = {
    "name_zh": "巡河",
    "name_en": "River patrol",
    "category": "safety",
    "points": "4",
    "evidence": "photo",
    "review": "official",
    "cap_week": "1",
    "active": "yes",
}


def test_the_admin_adds_and_changes_a_matter_each_a_version_in_the_log(
    browser: TestClient, engine: Engine, world: World
) -> None:
    sign_in_staff(browser, "admin")
    added = form_post(browser, "/county/catalogue", {"code": "river_patrol", **MATTER})
    assert added.status_code == 303, added.text
    listed = browser.get("/county/catalogue").text
    row = listed.split('data-matter="river_patrol"')[1].split("</tr>")[0]
    assert "巡河" in row and 'data-points="4"' in row and "每周 1 次" in row and 'data-version="1"' in row
    page = browser.get("/county/catalogue/river_patrol")
    assert page.status_code == 200 and "第 1 版" in page.text
    changed = form_post(browser, "/county/catalogue/river_patrol", {**MATTER, "points": "6", "valid_to": "2030-01-01"})
    assert changed.status_code == 303 and changed.headers["location"].endswith("done=saved")
    same = form_post(browser, "/county/catalogue/river_patrol", {**MATTER, "points": "6", "valid_to": "2030-01-01"})
    assert same.status_code == 303  # nothing changed: no new version
    with unit_of_work(engine) as session:
        versions = catalogue.versions(
            session, county_id=world.village_a.county_id, village_id=None, code="river_patrol"
        )
        assert [(m.version, m.points) for m in versions] == [(1, 4), (2, 6)]
        assert versions[-1].valid_to is not None
    logged = _changes(engine, world, "matter.")
    assert [(c["action"], c["target_id"]) for c in logged] == [
        ("matter.create", "river_patrol"),
        ("matter.edit", "river_patrol"),
    ]
    assert logged[1]["before"]["points"] == 4 and logged[1]["after"]["points"] == 6


@pytest.mark.parametrize(
    ("path", "fields", "code"),
    [
        ("/county/catalogue", {"code": "Bad Code", **MATTER}, "invalid_matter"),
        ("/county/catalogue", {"code": "volunteering", **MATTER}, "matter_exists"),
        ("/county/catalogue/volunteering", {**MATTER, "points": "0"}, "invalid_matter"),
        ("/county/catalogue/volunteering", {**MATTER, "points": "many"}, "invalid_matter"),
        (
            "/county/catalogue/volunteering",
            {**MATTER, "valid_from": "2030-01-01", "valid_to": "2029-01-01"},
            "invalid_matter",
        ),
    ],
)
def test_a_wrong_matter_is_refused_in_words_and_nothing_changes(
    browser: TestClient, engine: Engine, world: World, path: str, fields: dict[str, str], code: str
) -> None:
    sign_in_staff(browser, "admin")
    refused = form_post(browser, path, fields)
    assert refused.status_code in (409, 422)
    assert _refusal(refused.text) == ZH.gettext(ERRORS[code])
    with unit_of_work(engine) as session:
        versions = catalogue.versions(
            session, county_id=world.village_a.county_id, village_id=None, code="volunteering"
        )
        assert len(versions) == 1
    assert _changes(engine, world, "matter.") == []


def test_the_admin_adds_a_partner_its_villages_a_connection_and_a_sign_in(
    browser: TestClient, engine: Engine, world: World
) -> None:
    sign_in_staff(browser, "admin")
    added = form_post(
        browser, "/county/partners", {"kind": "clinic", "partner_code": "clinic-east", "name": "东乡卫生室"}
    )
    assert added.status_code == 303, added.text
    path = added.headers["location"].split("?")[0]
    partner_id = _partner_id(engine, "clinic-east")
    assert path == f"/county/partners/{partner_id}"
    assert "全县" in browser.get("/county/partners").text.split('data-partner="clinic-east"')[1].split("</tr>")[0]

    served = form_post(browser, f"{path}/villages", {"village_ids": str(world.village_a.village_id)}, from_page=path)
    assert served.status_code == 303

    made = form_post(
        browser, f"{path}/clients", {"client_id": "clinic-east-app", "scopes": "bookings:manage"}, from_page=path
    )
    assert made.status_code == 200, made.text
    secret = re.search(r"<code data-client-secret>([^<]+)</code>", made.text)
    assert secret and len(secret.group(1)) >= 32
    token = browser.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": "clinic-east-app", "client_secret": secret.group(1)},
    )
    assert token.status_code == 200 and token.json()["scope"] == "bookings:manage"
    again = browser.get(path).text
    assert secret.group(1) not in again and "data-client-secret" not in again  # shown once

    staff = form_post(browser, f"{path}/staff", {"username": "nurse-wang", "display_name": "王护士"}, from_page=path)
    assert staff.status_code == 200
    password = re.search(r"<code data-password>([^<]+)</code>", staff.text)
    assert password and len(password.group(1)) >= 12
    with unit_of_work(engine) as session:
        user = session.scalars(select(User).where(col(User.username) == "nurse-wang")).one()
        assert user.must_change_password and user.partner_id == partner_id

    disabled = form_post(browser, f"{path}/clients/clinic-east-app/disable", {}, from_page=path)
    assert disabled.status_code == 303
    with unit_of_work(engine) as session:
        client = session.scalars(select(PartnerClient).where(col(PartnerClient.client_id) == "clinic-east-app")).one()
        assert client.active is False
    actions = [c["action"] for c in _changes(engine, world, "partner")]
    assert actions == [
        "partner.create",
        "partner.villages",
        "partner_client.create",
        "partner_staff.create",
        "partner_client.disable",
    ]
    log = browser.get("/county/changes").text
    assert secret.group(1) not in log and password.group(1) not in log
    assert "新增合作单位" in log and "东乡卫生室" in log


def test_partner_forms_refuse_in_words_and_a_forged_form_makes_no_secret(
    browser: TestClient, engine: Engine, world: World
) -> None:
    sign_in_staff(browser, "admin")
    taken = form_post(browser, "/county/partners", {"kind": "bank", "partner_code": "mart", "name": "又一个"})
    assert taken.status_code == 409 and _refusal(taken.text) == ZH.gettext(ERRORS["partner_exists"])
    path = f"/county/partners/{_partner_id(engine, 'mart')}"
    scope = form_post(browser, f"{path}/clients", {"scopes": "credit:read"}, from_page=path)
    assert scope.status_code == 422 and _refusal(scope.text) == ZH.gettext(ERRORS["scope_not_allowed"])
    assert "data-client-secret" not in scope.text
    name = form_post(browser, f"{path}/staff", {"username": "admin"}, from_page=path)
    assert name.status_code == 409 and _refusal(name.text) == ZH.gettext(ERRORS["partner_username_taken"])
    forged = browser.post(f"{path}/clients", data={"csrf": "0" * 64})
    assert forged.status_code == 403 and "data-client-secret" not in forged.text
    assert browser.post(f"{path}/staff", data={"username": "sneaky"}).status_code == 403
    other = form_post(
        browser, f"/county/partners/{_partner_id(engine, 'mart')}/clients", {}, from_page="/county/partners"
    )
    assert other.status_code == 200  # the admin's own partner works from any of their pages
    with unit_of_work(engine) as session:
        assert session.scalars(select(User).where(col(User.username) == "sneaky")).first() is None
    assert [c["action"] for c in _changes(engine, world, "partner")] == ["partner_client.create"]


def test_offers_wait_for_the_admins_decision_on_the_page(browser: TestClient, engine: Engine, world: World) -> None:
    first, second = propose(browser)["id"], propose(browser, title="理发券")["id"]
    sign_in_staff(browser, "admin")
    waiting = browser.get("/county/offers").text
    assert f'data-offer-id="{first}"' in waiting and f'data-offer-id="{second}"' in waiting
    assert "有 2 个兑换项目等您审核" in browser.get("/county").text
    approved = form_post(
        browser, f"/county/offers/{first}/decision", {"decision": "approve"}, from_page="/county/offers"
    )
    assert approved.status_code == 303
    no_reason = form_post(
        browser, f"/county/offers/{second}/decision", {"decision": "reject"}, from_page="/county/offers"
    )
    assert no_reason.status_code == 400 and "请写明不通过的原因" in _refusal(no_reason.text)
    rejected = form_post(
        browser,
        f"/county/offers/{second}/decision",
        {"decision": "reject", "note": "价格太高"},
        from_page="/county/offers",
    )
    assert rejected.status_code == 303
    twice = form_post(
        browser, f"/county/offers/{first}/decision", {"decision": "reject", "note": "x"}, from_page="/county/offers"
    )
    assert twice.status_code == 409
    with unit_of_work(engine) as session:
        statuses = {o.id: o.status for o in session.scalars(select(Offer)).all()}
    assert (statuses[first], statuses[second]) == ("approved", "rejected")
    assert [c["action"] for c in _changes(engine, world, "offer.")] == ["offer.approve", "offer.reject"]
    assert "没有等您审核的兑换项目" in browser.get("/county/offers").text


def _loans(engine: Engine, world: World, n: int = 80) -> None:
    """Finished loans the county's banks reported, with the features their ratings were decided on."""
    rng = np.random.default_rng(3)
    now = utcnow()
    with unit_of_work(engine) as session:
        county = world.village_a.county_id
        active = ratings.active_card(session, county)
        bank = session.scalars(select(Partner).where(col(Partner.code) == "bank")).one()
        for n_ in range(n):
            months = int(rng.integers(0, 13))
            features = {
                "tenure_months": 20,
                "active_months_12": months,
                "months_since_last_positive": 0,
                "points_12m_capped": 10 * months,
                "categories_24m": 3,
                "deductions_24m": int(n_ % 7 == 0),
                "months_since_last_deduction": None,
                "rejected_share": None,
                "objections_upheld_24m": 0,
            }
            rating = Rating(
                household_id=world.household_a2,
                county_id=county,
                scorecard_id=active.id,
                score=600,
                grade="A",
                as_of=now,
                record_seq=0,
                computed_at=now,
                features=features,
                points={},
                reasons=[],
                sufficiency={},
            )
            session.add(rating)
            session.flush()
            bad = rng.random() < (0.5 if months < 3 else 0.05)
            for event, days in (("disbursed", 400 - n_), ("default" if bad else "repaid", 200 - n_ // 2)):
                session.add(
                    LoanOutcome(
                        county_id=county,
                        partner_id=id_of(bank),
                        household_id=world.household_a2,
                        loan_ref=f"L{n_}",
                        rating_id=id_of(rating),
                        event=event,
                        occurred_at=now - timedelta(days=days),
                        reported_by="client:bank",
                    )
                )


def test_a_scorecard_version_is_checked_then_put_in_force(browser: TestClient, engine: Engine, world: World) -> None:
    _loans(engine, world)
    candidate = another_card(engine)
    sign_in_staff(browser, "admin")
    listed = browser.get("/county/scorecards").text
    assert f'data-scorecard="{candidate}"' in listed and f'data-scorecard="{Card.shipped().id}" data-active' in listed
    report = browser.get(f"/county/scorecards/{candidate}")
    assert report.status_code == 200 and "data-report" in report.text
    assert 'data-metric="AUC"' in report.text and "PSI" in report.text and "用全部贷款检验" in report.text
    done = form_post(
        browser,
        f"/county/scorecards/{candidate}/activate",
        {"note": "用本县贷款拟合"},
        from_page=f"/county/scorecards/{candidate}",
    )
    assert done.status_code == 303
    with unit_of_work(engine) as session:
        assert ratings.active_id(session, world.village_a.county_id) == candidate
    logged = _changes(engine, world, "scorecard.activate")
    assert len(logged) == 1 and logged[0]["after"] == {"active": candidate, "note": "用本县贷款拟合"}
    assert "data-in-force" in browser.get(f"/county/scorecards/{candidate}").text
    assert browser.get("/county/scorecards/nosuchversion").status_code == 404


def test_the_change_log_is_filtered_and_downloaded_by_the_admin_and_the_auditor(
    browser: TestClient, engine: Engine, world: World
) -> None:
    sign_in_staff(browser, "admin")
    assert form_post(browser, "/county/policy", POLICY).status_code == 303
    assert (
        form_post(
            browser, "/county/catalogue/volunteering", {**MATTER, "name_zh": "志愿服务", "points": "6"}
        ).status_code
        == 303
    )
    for who in ("admin", "auditor"):
        browser.cookies.clear()
        sign_in_staff(browser, who)
        log = browser.get("/county/changes")
        assert log.status_code == 200
        assert "修改政策设置" in log.text and "修改事项（新版本）" in log.text
        assert "<del>7</del> → <ins>5</ins>" in log.text  # the notice days, before and after
        assert "<ins>不在公示栏显示</ins>" in log.text  # a setting's value in words
        only = browser.get("/county/changes?action=matter.edit").text
        assert 'data-change-action="matter.edit"' in only and 'data-change-action="policy.change"' not in only
        tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
        assert "没有变更记录" in browser.get(f"/county/changes?since={tomorrow}").text
        assert browser.get("/county/changes?since=yesterday").status_code == 422
        csv = browser.get("/county/changes.csv?action=policy")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        table = pd.read_csv(io.BytesIO(csv.content))
        assert list(table["action"]) == ["policy.change"]
        xlsx = browser.get("/county/changes.xlsx")
        assert xlsx.status_code == 200
        assert set(pd.read_excel(io.BytesIO(xlsx.content))["action"]) == {"policy.change", "matter.edit"}


def test_the_auditor_reads_the_log_but_changes_nothing(browser: TestClient, engine: Engine, world: World) -> None:
    sign_in_staff(browser, "auditor")
    assert 'href="/county/changes"' in browser.get("/office").text
    for path, _ in PAGES:
        if path != "/county/changes":
            answer = browser.get(path)
            assert answer.status_code == 403 and ZH.gettext(ERRORS["forbidden"]) in answer.text, path
    page = browser.get("/county/changes")
    refused = browser.post("/county/policy", data={"csrf": csrf_of(page.text), **POLICY})
    assert refused.status_code == 403
    assert _county(engine, world).notice_days != 5
    assert _changes(engine, world, "policy") == []


@pytest.mark.parametrize("who", ["official-a", "villager", "mart-staff"])
def test_officials_villagers_and_partners_are_refused(browser: TestClient, world: World, who: str) -> None:
    if who == "villager":
        sign_in_villager(browser, world.villager_phone)
    else:
        sign_in_staff(browser, who)
    for path, _ in PAGES:
        answer = browser.get(path)
        assert answer.status_code == 403, (who, path)
    home = browser.get("/").headers.get("location") or "/"
    page = browser.get(home)
    sent = browser.post(
        "/county/partners", data={"csrf": csrf_of(page.text), "kind": "bank", "partner_code": "x-bank", "name": "x"}
    )
    assert sent.status_code == 403
    token_less = browser.post("/county/partners/1/clients", data={"csrf": csrf_of(page.text)})
    assert token_less.status_code == 403


def test_not_signed_in_is_sent_to_sign_in(browser: TestClient, world: World) -> None:
    answer = browser.get("/county/policy")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin?next=")


def test_a_long_change_log_shows_the_newest_first_and_the_files_hold_all(
    browser: TestClient, engine: Engine, world: World
) -> None:
    with unit_of_work(engine) as session:
        for n in range(205):
            audit.record(
                session,
                county_id=world.village_a.county_id,
                actor="cli:root",
                action="policy.change",
                target_type="policy",
                before={"notice_days": n},
                after={"notice_days": n + 1},
            )
    sign_in_staff(browser, "auditor")
    log = browser.get("/county/changes").text
    assert "共 205 条变更" in log and "这里显示最新的 200 条" in log
    assert log.count("data-change-id=") == 200
    assert "<del>204</del> → <ins>205</ins>" in log.split("data-change-id=")[1]  # the newest first
    assert "命令行" in log and 'data-actor="cli:root"' in log
    assert len(pd.read_csv(io.BytesIO(browser.get("/county/changes.csv").content))) == 205


def test_the_pages_read_in_english_too(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "admin")
    page = browser.get("/county/policy")
    done = browser.post("/prefs/language", data={"csrf": csrf_of(page.text), "locale": "en", "next": "/county/policy"})
    assert done.status_code == 303
    english = browser.get("/county/policy").text
    assert '<html lang="en">' in english and "Notice period" in english and "公示期" not in english


def test_odd_input_on_the_admins_pages_is_never_a_server_error(
    browser: TestClient, engine: Engine, world: World
) -> None:
    from api.pages import county
    from tests.pages.test_bad_input import ODD_IDS, ODD_VALUES, with_ids

    sign_in_staff(browser, "admin")
    csrf = csrf_of(browser.get("/county").text)
    routes = [
        (method, route.path, [p.alias for p in route.dependant.body_params])
        for router in (county.router, county.secret_router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    ]
    with unit_of_work(engine) as session:
        before = len(audit.changes(session, world.village_a.county_id))
    for method, path, fields in routes:
        for odd in ODD_IDS:
            target = with_ids(path, odd)
            answer = browser.request(method, target, data={"csrf": csrf} if method == "POST" else None)
            assert answer.status_code < 500, (method, target, answer.status_code)
        if method == "POST":
            for value in ODD_VALUES:
                target = with_ids(path, "1")
                answer = browser.post(target, data={"csrf": csrf, **dict.fromkeys(fields, value)})
                assert answer.status_code < 500, (target, value[:20], answer.status_code)
    query = browser.get("/county/changes?since=x&until=2026-13-01&action=<script>")
    assert query.status_code == 422
    with unit_of_work(engine) as session:
        after = audit.changes(session, world.village_a.county_id)
    # every odd value is refused, and nothing is changed
    assert [row.action for row in after[before:]] == [], [row.action for row in after[before:]]


def test_the_log_names_roles_and_the_command_line_in_words(browser: TestClient, engine: Engine, world: World) -> None:
    with unit_of_work(engine) as session:
        audit.record(
            session,
            county_id=world.village_a.county_id,
            actor="cli:root",
            action="staff.create",
            target_type="staff",
            target_id=1,
            after={"username": "official-new", "role": "official"},
        )
    sign_in_staff(browser, "admin")
    log = browser.get("/county/changes").text
    row = log.split('data-change-action="staff.create"')[1].split("</tr>")[0]
    assert "新增工作人员账号" in row and "<ins>村干部</ins>" in row and "命令行" in row
