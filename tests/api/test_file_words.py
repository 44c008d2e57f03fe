"""Posters, household cards and every exported file speak the reader's language: in Chinese no English word is
left (only the data people typed, the URL printed under a QR code), in English no Chinese but the data; the
printables stay valid SVG and the spreadsheets open, with Chinese headers for a Chinese reader."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from api.app import create_app
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity.models import Partner
from ledger.tenancy import Household, Village
from tests.api.claiming import claim, code_of, decide, new_activity
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.api.redeeming import give_points, offer, redeem
from tests.pages.conftest import form_post, sign_in_staff

ASCII_WORD = re.compile(r"[A-Za-z]+")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
ALLOWED = {"QR"}  # the words a Chinese file may print: the QR code's name
VILLAGE, HOUSEHOLD, SHOP, OFFER = "白沙村", "王家", "李记超市", "大米十斤"
TITLE, PLACE = "清理河道", "村委会门口"
DATA = [VILLAGE, HOUSEHOLD, SHOP, OFFER, TITLE, PLACE]  # what people typed: it stays as typed in any language
MONTH_KEY = re.compile(r"^\d{4}-\d{2}$")


@pytest.fixture
def browser(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, engine=engine), base_url="https://testserver", follow_redirects=False
    ) as test_client:
        yield test_client


@pytest.fixture
def chinese_world(engine: Engine, world: World) -> World:
    """The world with the names a Chinese county gives its village, households and shop."""
    with unit_of_work(engine) as session:
        village = session.get(Village, world.village_a.village_id)
        household = session.get(Household, world.household_a1)
        shop = session.exec(select(Partner).where(Partner.code == "mart")).one()
        assert village is not None and household is not None
        village.name, household.name, household.house_number, shop.name = VILLAGE, HOUSEHOLD, "12", SHOP
    return world


def english_words(texts: Iterable[Any], data: Iterable[str] = ()) -> set[str]:
    """The ASCII words in some texts, once the data (codes, URLs) is taken out."""
    found: set[str] = set()
    for text in texts:
        text = str(text)
        for value in data:
            text = text.replace(value, "")
        found |= set(ASCII_WORD.findall(text)) - ALLOWED
    return found


def chinese_in(texts: Iterable[Any]) -> list[str]:
    """The texts that hold Chinese other than the data."""
    found = []
    for text in texts:
        rest = str(text)
        for value in DATA:
            rest = rest.replace(value, "")
        if CHINESE.search(rest):
            found.append(str(text))
    return found


def svg_texts(content: bytes) -> list[str]:
    """The texts a printed SVG shows (it must parse as XML)."""
    root = ET.fromstring(content)
    return [element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}text") if element.text]


def csv_texts(content: bytes) -> list[Any]:
    table = pd.read_csv(io.BytesIO(content), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    return [*table.columns, *table.to_numpy().ravel()]


def xlsx_texts(content: bytes) -> tuple[dict[str, pd.DataFrame], list[Any]]:
    sheets = pd.read_excel(io.BytesIO(content), sheet_name=None, dtype=str, keep_default_na=False)
    texts: list[Any] = list(sheets)
    for table in sheets.values():
        texts += [*table.columns, *table.to_numpy().ravel()]
    return sheets, texts


def test_the_poster_and_the_card_print_one_language(client: TestClient, chinese_world: World) -> None:
    world, official = chinese_world, password_token(client, "official-a")
    village = world.village_a.village_id
    once = new_activity(client, official, village, title=TITLE, place=PLACE)
    daily = new_activity(client, official, village, "volunteering", title=TITLE, place=PLACE, period="day")
    urls = [once["claim_url"], daily["claim_url"]]

    def poster(activity: dict[str, Any], **params: str) -> list[str]:
        got = client.get(f"/api/v1/activities/{activity['id']}/poster.svg", params=params, headers=bearer(official))
        assert got.status_code == 200 and got.headers["content-type"].startswith("image/svg+xml")
        return svg_texts(got.content)

    chinese = poster(once)
    assert english_words(chinese, urls) == set()
    assert "用手机扫码，为您家申报积分" in chinese and any(t.endswith(" 积分") for t in chinese)
    assert any(re.fullmatch(r"\d{1,2}月\d{1,2}日 \d\d:\d\d – .+", t) for t in chinese)  # 11月30日 20:56 – …
    assert not any(re.search(r"\d{4}-\d{2}-\d{2}", t) for t in chinese)
    recurring = poster(daily, lang="zh_CN")
    assert english_words(recurring, urls) == set() and any(t.endswith(" · 每天一次") for t in recurring)

    english = poster(once, lang="en")
    assert chinese_in(english) == []
    assert "Scan with your phone to claim points for your household" in english
    assert any(t.endswith(" points") for t in english)
    assert any(t.endswith(" · once a day") for t in poster(daily, lang="en"))

    def card(**params: str) -> list[str]:
        got = client.get(f"/api/v1/households/{world.household_a1}/card.svg", params=params, headers=bearer(official))
        assert got.status_code == 200
        return svg_texts(got.content)

    chinese = card()
    code = next(t for t in chinese if t.startswith("户号 ")).removeprefix("户号 ")
    assert "门牌号 12" in chinese and HOUSEHOLD in chinese
    assert english_words(chinese, [code]) == set()
    english = card(lang="en")
    assert chinese_in(english) == [] and "House number 12" in english and f"Household number {code}" in english
    assert (
        client.get(
            f"/api/v1/households/{world.household_a1}/card.svg", params={"lang": "fr"}, headers=bearer(official)
        ).status_code
        == 422
    )


def test_the_office_prints_in_the_language_of_its_page(browser: TestClient, chinese_world: World) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, chinese_world.village_a.village_id, title=TITLE, place=PLACE)
    sign_in_staff(browser, "official-a")
    shown = {
        "poster": f"/office/activities/{activity['id']}/poster.svg",
        "card": f"/office/households/{chinese_world.household_a1}/card.svg",
    }
    chinese = {name: svg_texts(browser.get(path).content) for name, path in shown.items()}
    assert "用手机扫码，为您家申报积分" in chinese["poster"] and "门牌号 12" in chinese["card"]
    switched = form_post(browser, "/prefs/language", {"locale": "en", "next": "/office"}, from_page="/office")
    assert switched.status_code == 303
    english = {name: svg_texts(browser.get(path).content) for name, path in shown.items()}
    assert chinese_in(english["poster"] + english["card"]) == []
    assert "House number 12" in english["card"]


def _a_month_of_claims_and_a_used_voucher(client: TestClient, engine: Engine, world: World) -> tuple[str, str]:
    """A claim approved and one rejected this month, and a voucher of the shop used: the month and its code."""
    official = password_token(client, "official-a")
    villager = villager_token(client, world.villager_phone)
    village = world.village_a.village_id
    for matter, action in (("volunteering", "approve"), ("dispute_mediation", "reject")):
        activity = new_activity(client, official, village, matter, title=TITLE, place=PLACE)
        made = claim(client, villager, code_of(activity))
        assert made.status_code == 201, made.text
        body = {"reason": "照片看不清"} if action == "reject" else {}
        assert decide(client, official, made.json()["id"], action, **body).status_code == 201
    give_points(engine, world.household_a1, 500)
    voucher = redeem(client, villager, offer(client, "mart", title=OFFER)["id"]).json()
    used = client.post(
        f"/api/v1/vouchers/{voucher['code']}/consume",
        json={"pin": voucher["pin"]},
        headers=bearer(client_token(client, "mart")),
    )
    assert used.status_code == 200, used.text
    return utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m"), str(voucher["code"])


def test_every_export_has_its_headers_and_words_in_the_readers_language(
    client: TestClient, browser: TestClient, engine: Engine, chinese_world: World
) -> None:
    world = chinese_world
    month, voucher = _a_month_of_claims_and_a_used_voucher(client, engine, world)
    official = bearer(password_token(client, "official-a"))
    shop = bearer(client_token(client, "mart"))
    report = f"/api/v1/villages/{world.village_a.village_id}/report"

    def files(path: str, headers: dict[str, str], **params: str) -> tuple[list[Any], dict[str, pd.DataFrame]]:
        csv = client.get(path, params={"month": month, "format": "csv", **params}, headers=headers)
        xlsx = client.get(path, params={"month": month, "format": "xlsx", **params}, headers=headers)
        assert csv.status_code == 200 and xlsx.status_code == 200, csv.text
        sheets, texts = xlsx_texts(xlsx.content)
        return csv_texts(csv.content) + texts, sheets

    # the month report, in Chinese by default
    texts, sheets = files(report, official)
    assert english_words(texts) == set()
    assert list(sheets) == ["概况", "各事项积分", "各状态申报", "各合作单位兑换"]
    assert list(sheets["概况"].columns)[:3] == ["月份", "农户数", "参与农户数"]
    assert sheets["概况"]["月份"][0] == f"{int(month[:4])}年{int(month[5:])}月"
    assert set(sheets["各状态申报"]["状态"]) == {"已通过", "未通过"}
    assert list(sheets["各合作单位兑换"]["单位类型"]) == ["商户"]
    texts, sheets = files(report, official, lang="en")
    assert chinese_in(texts) == []
    assert list(sheets) == ["Summary", "Points by matter", "Claims by status", "Redemption by partner"]
    assert set(sheets["Claims by status"]["Status"]) == {"Approved", "Rejected"}

    # the partner's settlement: the API, and the till's page
    texts, sheets = files("/api/v1/settlement", shop)
    assert english_words(texts, [voucher]) == set()
    assert list(sheets) == ["核销明细", "概况"]
    assert list(sheets["核销明细"].columns) == [
        "核销时间",
        "券号",
        "兑换类型",
        "兑换项目",
        "村",
        "金额（元）",
        "积分",
        "记账流水号",
    ]
    assert list(sheets["核销明细"]["兑换类型"]) == ["兑换券"] and sheets["概况"]["与账本一致"][0] == "是"
    assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", sheets["核销明细"]["核销时间"][0])
    texts, sheets = files("/api/v1/settlement", shop, lang="en")
    assert chinese_in(texts) == [] and sheets["Summary"]["Matches the ledger"][0] == "Yes"

    sign_in_staff(browser, "mart-staff")
    csv = browser.get("/till/settlement", params={"month": month, "format": "csv"})
    table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(table["核销时间"][-2:]) == ["合计", "账本记录（一致）"]
    assert table["积分"].tolist() == ["100", "100", "100"] and "." not in table["记账流水号"][0]
    assert english_words(csv_texts(csv.content), [voucher]) == set()

    # the dashboard's tables, in the page's language
    browser.cookies.clear()
    sign_in_staff(browser, "official-a")
    village = world.village_a.village_id
    for language in ("zh_CN", "en"):
        if language == "en":
            switched = form_post(browser, "/prefs/language", {"locale": "en", "next": "/office"}, from_page="/office")
            assert switched.status_code == 303
        for name in ("participation", "points_by_matter", "on_time", "redemption"):
            csv = browser.get(f"/office/dashboard/data/{name}.csv?village_id={village}")
            xlsx = browser.get(f"/office/dashboard/data/{name}.xlsx?village_id={village}")
            assert csv.status_code == 200 and xlsx.status_code == 200
            sheets, texts = xlsx_texts(xlsx.content)
            texts += csv_texts(csv.content)
            if language == "zh_CN":
                assert english_words(texts) == set(), name
                assert all(CHINESE.search(str(column)) for column in next(iter(sheets.values())).columns)
            else:
                assert chinese_in(texts) == [], name
            assert not any(MONTH_KEY.match(str(text)) for text in texts)  # months read as people say them
