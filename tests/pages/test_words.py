"""Nothing English on a Chinese page, and no Chinese on an English one (docs/glossary.md).

Every stable error code the domain can raise has its words in api/pages/messages.py, with their Chinese. A page
path that is not found or fails answers a page in the visitor's language with a way back; the API keeps its
problem+json. And every page each role opens in the demo county, in Chinese, shows no ASCII word outside a short
list (grades, QR, units, data the county typed), while in English it shows no Chinese but the language switch's
own name and the county's data.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, String, Text, inspect, select, text
from sqlmodel import col

from api import i18n, pages
from api.app import create_app
from api.demo import phone_of
from api.pages.messages import ERRORS, FOR_VILLAGERS
from api.pages.web import LANG_COOKIE, STATUS_CODES
from ledger.activities import service as activities
from ledger.activities.codes import Keys
from ledger.activities.models import Activity
from ledger.catalogue.models import Matter
from ledger.concerns.models import Concern
from ledger.core.db import make_engine, unit_of_work
from ledger.core.errors import DomainError
from ledger.core.settings import DEMO_PASSWORD, Settings
from ledger.identity.models import Partner, Role, User
from ledger.tenancy import Household, Person
from redemption.models import LoanApplication, Offer
from scoring.card import Card
from scoring.models import Scorecard
from tests.api.conftest import make_settings
from tests.pages.conftest import sign_in_staff, sign_in_villager

ZH = i18n.translations("zh_CN")

# --- every error code has its words ----------------------------------------------------------------------------


def domain_error_codes() -> dict[str, str]:
    """Every stable code a DomainError can carry, read from the code itself: each package is imported and the
    subclasses walked (no domain error sets its code per instance: each class names its own)."""
    for package in ("ledger", "redemption", "scoring", "api"):
        for module in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
            importlib.import_module(module.name)
    found: dict[str, str] = {DomainError.code: "ledger.core.errors.DomainError"}
    stack = [DomainError]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            found.setdefault(sub.code, f"{sub.__module__}.{sub.__qualname__}")
    return found


def test_every_error_code_the_domain_can_raise_has_its_words() -> None:
    codes = domain_error_codes()
    assert len(codes) > 100
    missing = {code: where for code, where in codes.items() if code not in ERRORS}
    assert missing == {}, "add to ERRORS in api/pages/messages.py (and its Chinese to errors.po):\n" + "\n".join(
        f"{code}  ({where})" for code, where in sorted(missing.items())
    )


def test_every_refusal_and_error_page_text_has_its_chinese() -> None:
    page_codes = set(STATUS_CODES.values())  # the pages' own: not found, failed, busy
    assert page_codes <= set(ERRORS)
    texts = {
        **{f"ERRORS[{c}]": m for c, m in ERRORS.items()},
        **{f"FOR_VILLAGERS[{c}]": m for c, m in FOR_VILLAGERS.items()},
    }
    untranslated = sorted(where for where, message in texts.items() if ZH.gettext(message) == message)
    assert untranslated == []
    technical = re.compile(r"[A-Za-z]{2,}|表单|错误代码|密码错误|MB|申领")  # no codes, formats, sizes or old words
    worded = sorted(
        f"{where}: {ZH.gettext(message)}"
        for where, message in texts.items()
        if technical.search(ZH.gettext(message).replace("https://", "").replace("%(wait)s", ""))
    )
    assert worded == []


def test_a_villager_who_cannot_fix_a_refusal_is_told_whom_to_ask() -> None:
    for code in ("capacity_full", "activity_over", "outside_village", "claim_expired", "grade_not_offered"):
        assert "村干部" in ZH.gettext(ERRORS[code]), code
    assert ZH.gettext(ERRORS["capacity_full"]) == "这个活动的名额已满，不能再申报。如果您参加了，请找村干部。"
    assert "这条记录不属于您家" in ZH.gettext(FOR_VILLAGERS["not_found"])


# --- a page path that is not found or fails is a page -----------------------------------------------------------


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    built = create_app(settings, engine=engine)

    @built.get("/office/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("secret internals")

    @built.get("/api/v1/boom", include_in_schema=False)
    def api_boom() -> None:
        raise RuntimeError("secret internals")

    return built


def test_a_page_path_not_found_is_a_page_in_the_visitors_language_with_a_way_back(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        for path in ("/office/anything", "/me/nothing", "/nowhere"):
            answer = client.get(path)
            assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
            assert "没有这个页面" in answer.text and "请返回，或从首页重新进入" in answer.text
            assert 'href="/"' in answer.text and "page_not_found" not in visible(answer.text)
        client.cookies.set(LANG_COOKIE, "en")
        english = client.get("/office/anything")
        assert english.status_code == 404 and "There is no such page." in english.text
        assert '<html lang="en">' in english.text
        wrong_method = client.delete("/me")
        assert wrong_method.status_code == 405 and "There is no such page." in wrong_method.text


def test_a_signed_in_person_meets_the_page_in_their_language_with_their_home(app: FastAPI, world: object) -> None:
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        sign_in_staff(client, "official-a")
        answer = client.get("/office/anything")
        assert answer.status_code == 404 and "没有这个页面" in answer.text
        assert 'href="/office"' in answer.text  # the way back is the official's own home


def test_a_page_that_fails_is_a_page_that_says_nothing_of_the_inside(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        answer = client.get("/office/boom")
        assert answer.status_code == 500 and answer.headers["content-type"].startswith("text/html")
        assert "系统出了问题，这次什么也没有改动" in answer.text
        assert "secret internals" not in answer.text and "Traceback" not in answer.text


def test_the_api_keeps_its_problems(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        missing = client.get("/api/v1/nothing-here")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["code"] == "not_found"
        failed = client.get("/api/v1/boom")
        assert failed.status_code == 500 and failed.json()["code"] == "internal_error"
        assert client.delete("/healthz").json()["code"] == "method_not_allowed"


# --- no English on a Chinese page, no Chinese on an English one -------------------------------------------------

TEXT_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label")
DIGIT = re.compile(r"\d")
ASCII_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.:/-]*")
CHINESE = re.compile(r"[\u3400-\u9fff]+")
GRADES = {"AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"}
ALLOWED = GRADES | {"QR", "SMS", "English"}  # words Chinese pages use as they are; the switch names English in English
STAFF_ALLOWED = {"CSV", "XLSX", "Excel"}  # the dashboard's and settlement's files, for staff and partners only
STAFF_ALLOWED |= {"AUC", "KS", "Gini", "PSI"}  # a scorecard's check, named as credit staff name it
# Found by this test and left to other work: the language and page, and the words it may still show until then.
LEFT: dict[str, set[str]] = {
    # the household card's download names its file format; the card and its file are reworded with the posters
    "zh /office/households/{household_id}/card": {"SVG"},
    # the notice board names a household "马家 (12号)" in every language (ledger/claims/rules.py notice_name): how
    # the board names households is being reworded as a whole (the county's privacy setting)
    "en /me": {"号"},
    # the roster file's headers and the head's relation are Chinese in every language: the page names them as the
    # file must have them (docs/roster.md)
    "en /county/roster": {"乡镇", "村", "户号", "门牌号", "地址", "姓名", "与户主关系", "与", "关系", "户主", "手机号"},
}


class Visible(HTMLParser):
    """The words a reader sees: text nodes (not scripts or styles) and the attributes read out or shown."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "title"):
            self._hidden += 1
        values = dict(attrs)
        self.parts += [values[a] or "" for a in TEXT_ATTRIBUTES if values.get(a)]
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.parts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = Visible()
    parser.feed(html)
    return "\n".join(p.strip() for p in parser.parts if p.strip())


def county_data(engine: Engine) -> tuple[list[str], list[str]]:
    """What the county typed or was given, as pages show it: (codes and names that may be ASCII, text that may be
    Chinese). Longest first, so a name is taken out before a part of it."""
    ascii_columns = {
        ("household", "code"),
        ("village", "code"),
        ("township", "code"),
        ("county", "code"),
        ("county", "name"),
        ("partner", "code"),
        ("voucher", "code"),
        ("app_user", "username"),
    }
    ascii_values: set[str] = set()
    chinese_values: set[str] = set()
    with engine.connect() as connection:
        schema = inspect(connection)
        for table in schema.get_table_names():
            for column in schema.get_columns(table):
                name = column["name"]
                if not isinstance(column["type"], String | Text) or name.endswith("_zh") or name.endswith("_en"):
                    continue
                values = connection.execute(text(f'SELECT DISTINCT "{name}" FROM "{table}"')).scalars()
                for value in values:
                    if not isinstance(value, str) or not value:
                        continue
                    if (table, name) in ascii_columns:
                        ascii_values.add(value)
                    if CHINESE.search(value) and not value.lstrip().startswith(("{", "[")):
                        chinese_values.add(value)
        # the change log keeps what was typed or given (a file's name, a household's address) inside its JSON
        for before, after in connection.execute(text("SELECT before, after FROM admin_change")):
            for leaf in _leaves([json.loads(part) for part in (before, after) if part]):
                ascii_values.add(leaf)  # a file's name mixes both: 花名册.csv
                if CHINESE.search(leaf):
                    chinese_values.add(leaf)
        # the notice board names a household by its head's surname (ledger/claims/rules.py notice_name): a name
        heads = connection.execute(text("SELECT name FROM person WHERE is_head")).scalars()
        chinese_values |= {f"{name[:1]}家" for name in heads if name and CHINESE.search(name)}
    return sorted(ascii_values, key=len, reverse=True), sorted(chinese_values, key=len, reverse=True)


def _leaves(value: object) -> list[str]:
    """The text values inside a JSON value, at any depth."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict):
        return [leaf for part in value.values() for leaf in _leaves(part)]
    if isinstance(value, list):
        return [leaf for part in value for leaf in _leaves(part)]
    return []


def without(words: str, data: list[str]) -> str:
    for value in data:
        words = words.replace(value, " ")
    return words


@pytest.fixture
def demo(demo_db: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    url = f"sqlite:///{demo_db}"
    engine = make_engine(url)
    settings = make_settings(tmp_path, url)
    with TestClient(create_app(settings, engine=engine), base_url="https://testserver", follow_redirects=False) as c:
        yield c, engine
    engine.dispose()


ROLES = {  # who signs in: the demo's villager of household 1, and its staff and partners
    "villager": "villager",
    "official": "official-qingshan",
    "county_admin": "admin",
    "auditor": "auditor",
    "bank": "bank-staff",
    "merchant": "mart-staff",
    "clinic": "clinic-staff",
}
REFUSALS = {  # a refusal each can meet: a record that is not theirs
    "villager": "/me/appeal?deduction_id=999999",
    "official": "/office/households/999999/card",
    "county_admin": "/office/households/999999/card",
    "auditor": "/office/households/999999/card",
    "bank": "/bank/applications/999999",
}
DOWNLOADS = (".svg", ".csv", ".xlsx", ".json")  # files, not pages (another test reads their words)


def page_paths(engine: Engine, keys: Keys) -> dict[str, str]:
    """Every GET page of the pages' router, with its path parameters filled from the demo county: {path: the
    route's path}."""
    with unit_of_work(engine) as session:
        household = session.scalars(select(Household).order_by(col(Household.id))).first()
        activity = session.scalars(
            select(Activity).where(col(Activity.rotating).is_(True)).order_by(col(Activity.id))
        ).first()
        printed = session.scalars(
            select(Activity).where(col(Activity.rotating).is_(False)).order_by(col(Activity.id))
        ).first()
        application = session.scalars(select(LoanApplication).order_by(col(LoanApplication.id))).first()
        offer = session.scalars(select(Offer).order_by(col(Offer.id))).first()
        matter = session.scalars(select(Matter).order_by(col(Matter.id))).first()
        partner = session.scalars(select(Partner).order_by(col(Partner.id))).first()
        scorecard = session.scalars(select(Scorecard).order_by(col(Scorecard.created_at))).first()
        official = session.scalars(select(User).where(col(User.role) == Role.OFFICIAL).order_by(col(User.id))).first()
        person = session.scalars(select(Person).order_by(col(Person.id))).first()
        concern = session.scalars(select(Concern).order_by(col(Concern.id))).first()
        assert person and household and activity and printed and matter and partner and official
        fill = {
            "household_id": str(household.id),
            "person_id": str(person.id),
            "village_id": str(household.village_id),
            "user_id": str(official.id),
            "activity_id": str(activity.id),
            "application_id": str(application.id) if application else "1",
            "offer_id": str(offer.id) if offer else "1",
            "token": activities.printed_code(keys, printed),
            "code": matter.code,
            "partner_id": str(partner.id),
            "scorecard_id": scorecard.id if scorecard else Card.shipped().id,
            "concern_id": str(concern.id) if concern else "1",
        }
    paths = {}
    for router in pages.ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or "GET" not in (route.methods or ()) or route.path.endswith(DOWNLOADS):
                continue
            if route.path.startswith(("/photos/", "/concerns/")):  # a concern's photos and voice note: files
                continue
            paths[re.sub(r"{(\w+)}", lambda m: fill[m.group(1)], route.path)] = route.path
    return paths


def sign_in(client: TestClient, role: str) -> None:
    client.cookies.clear()
    if role == "villager":
        sign_in_villager(client, phone_of(1))
    else:
        sign_in_staff(client, ROLES[role], DEMO_PASSWORD)


def set_language(client: TestClient, locale: str) -> None:
    page = client.get("/signin" if not client.cookies.get("sz_session") else "/")
    home = client.get(page.headers["location"]) if page.status_code == 303 else page
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', home.text)
    assert csrf
    done = client.post("/prefs/language", data={"csrf": csrf.group(1), "locale": locale, "next": "/"})
    assert done.status_code == 303, done.text


def crawl(client: TestClient, role: str, paths: dict[str, str]) -> dict[str, str]:
    """The words of every page this role may open (a page not for the role is skipped), and of refusals the
    role can meet."""
    seen = {}
    for path in paths:
        answer = client.get(path)
        if answer.status_code in (303, 403) or path in ("/", "/signin"):
            continue
        assert answer.status_code in (200, 404, 409, 422), (role, path, answer.status_code)
        seen[path] = visible(answer.text)
    for refusal in ("/nowhere", REFUSALS.get(role, "/nowhere")):
        seen[refusal] = visible(client.get(refusal).text)
    return seen


def test_no_english_on_a_chinese_page_and_no_chinese_on_an_english_one(
    demo: tuple[TestClient, Engine],
) -> None:
    client, engine = demo
    app: FastAPI = client.app  # type: ignore[assignment]
    paths = page_paths(engine, app.state.code_keys)
    templates = {path: path for path in REFUSALS.values()} | {"/nowhere": "/nowhere"} | paths
    ascii_data, chinese_data = county_data(engine)
    found: dict[str, list[str]] = {}
    opened = 0
    for role in ROLES:
        sign_in(client, role)
        for path, words in crawl(client, role, paths).items():
            opened += 1
            allowed = (
                ALLOWED | (STAFF_ALLOWED if role != "villager" else set()) | LEFT.get(f"zh {templates[path]}", set())
            )
            english = sorted(
                {
                    w
                    for w in ASCII_WORD.findall(without(words, ascii_data))
                    if w.rstrip(".:") not in allowed and not DIGIT.search(w)  # with a digit: a code, not a word
                }
            )
            if english:
                found[f"zh {role} {path}"] = english
        set_language(client, "en")
        for path, words in crawl(client, role, paths).items():
            chinese = sorted(
                set(CHINESE.findall(without(words, chinese_data))) - {"中文"} - LEFT.get(f"en {templates[path]}", set())
            )
            if chinese:
                found[f"en {role} {path}"] = chinese
        set_language(client, "zh_CN")
    assert opened > 30
    assert found == {}, "\n".join(f"{where}: {words}" for where, words in found.items())
