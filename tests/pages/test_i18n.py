"""Every text of the pages comes from the message catalogues: none is hard-coded, and each has its Chinese."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file

from api import i18n
from api.pages.web import TEMPLATES
from tests.factories import not_none

API = Path(i18n.__file__).parent
# the pages, the presenters (posters, cards, file headers) and i18n itself hold the product's texts
TEXTS = [API / "pages", API / "presentation"]
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "text": (2,), "text_in": ((2, "c"), 3)}
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
LETTERS = re.compile(r"[A-Za-z\u4e00-\u9fff]")
TAG = re.compile(r"<[^>]*>", re.S)
TEXT_ATTRIBUTE = re.compile(r'\b(?:alt|title|placeholder|aria-label)="([^"]*)"')
ENTITY = re.compile(r"&[a-z]+;|&#\d+;")
TRANS_BLOCK = re.compile(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", re.S)
JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.S)


def msgids() -> dict[tuple[str | None, str], str]:
    """Every text the product shows, by (context, English msgid), with a file that uses it."""
    found = {}
    for folder in TEXTS:
        for filename, _, message, _, context in extract_from_dir(
            folder,
            METHODS,
            keywords=KEYWORDS,
            options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        ):
            found[context, message if isinstance(message, str) else message[0]] = filename
    for _, message, _, context in extract_from_file("python", i18n.__file__, keywords=KEYWORDS):
        found[context, message if isinstance(message, str) else message[0]] = "i18n.py"
    return found


def test_every_text_of_the_pages_has_its_chinese() -> None:
    chinese = i18n.catalogue("zh_CN")
    missing = {
        (c, m): where for (c, m), where in msgids().items() if not getattr(chinese.get(m, context=c), "string", None)
    }
    assert len(msgids()) > 50
    assert missing == {}, "add to a .po file under api/locale/zh_CN:\n" + "\n".join(
        f"#: {where}\n" + (f'msgctxt "{c}"\n' if c else "") + f'msgid "{m}"\nmsgstr ""\n'
        for (c, m), where in missing.items()
    )


def test_no_text_is_translated_two_ways() -> None:
    """The .po files of a language are merged, and the first file's Chinese for a text wins without a word: the
    same English (in the same context) translated differently in two files shows one page the other's words."""
    from babel.messages.pofile import read_po

    first: dict[tuple[str | None, str], tuple[str, str]] = {}
    twice = []
    for path in sorted((i18n.LOCALE_DIR / "zh_CN").glob("*.po")):
        with path.open("rb") as file:
            for message in read_po(file):
                if not message.id:
                    continue
                key = (message.context, str(message.id if isinstance(message.id, str) else message.id[0]))
                if key in first and first[key][1] != str(message.string):
                    twice.append(f"{key[1]!r}: {first[key][0]} and {path.name}")
                first.setdefault(key, (path.name, str(message.string)))
    assert twice == [], "one translation per text (or give it a context):\n" + "\n".join(twice)


def test_no_chinese_text_is_left_that_no_page_uses() -> None:
    used = set(msgids())
    unused = sorted(f"{m.context}|{m.id}" for m in i18n.catalogue("zh_CN") if m.id and (m.context, m.id) not in used)
    assert unused == [], "remove from api/locale/zh_CN/*.po:\n" + "\n".join(str(m) for m in unused)


def test_no_template_hard_codes_a_text() -> None:
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        source = TRANS_BLOCK.sub("§", path.read_text())  # a trans block is a catalogue text
        source = JINJA.sub("§", source)
        offenders += [
            f"{path.relative_to(TEMPLATES)}: attribute {a!r}"
            for a in TEXT_ATTRIBUTE.findall(source)
            if LETTERS.search(a)
        ]
        text = ENTITY.sub("", TAG.sub(" ", source))
        offenders += [
            f"{path.relative_to(TEMPLATES)}: {line.strip()!r}" for line in text.splitlines() if LETTERS.search(line)
        ]
    assert offenders == []


def test_the_chinese_catalogue_is_what_zh_cn_pages_show() -> None:
    assert i18n.translations("zh_CN").gettext("Sign in") == "登录"
    assert i18n.translations("en").gettext("Sign in") == "Sign in"


def test_dates_months_quarters_and_money_read_as_people_say_them() -> None:
    evening = datetime(2026, 11, 30, 12, 56, tzinfo=UTC)  # 20:56 in Beijing
    this_year = date(2026, 12, 1)
    assert i18n.when(evening, "zh_CN", timezone="Asia/Shanghai", today=this_year) == "11月30日 20:56"
    assert i18n.when(evening, "zh_CN", timezone="Asia/Shanghai", today=date(2027, 1, 2)) == "2026年11月30日 20:56"
    assert i18n.when(evening, "en", timezone="Asia/Shanghai", today=this_year) == "Nov 30, 20:56"
    late = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # already the new year in the county
    assert i18n.day(late, "zh_CN", timezone="Asia/Shanghai", today=date(2027, 1, 1)) == "1月1日"
    assert (i18n.month(this_year, "zh_CN"), i18n.quarter(this_year, "zh_CN")) == ("2026年12月", "2026年第四季度")
    assert (i18n.month(this_year, "en"), i18n.quarter(this_year, "en")) == ("December 2026", "Q4 2026")
    assert [i18n.period(key, "zh_CN") for key in ("2026", "2026-Q1", "2026-03")] == [
        "2026年",
        "2026年第一季度",
        "2026年3月",
    ]
    assert (i18n.yuan(5000), i18n.yuan(5050), i18n.yuan(5), i18n.yuan(None)) == ("50", "50.50", "0.05", "")
    assert (i18n.zone_name("Asia/Shanghai", "zh_CN"), i18n.zone_name("Asia/Shanghai", "en")) == (
        "北京时间",
        "Beijing time",
    )
    assert (i18n.money("50.00"), i18n.money("50.5"), i18n.money(20000), i18n.money(None)) == (
        "50",
        "50.50",
        "20000",
        "",
    )


# docs/glossary.md, "Do not say": words that must not appear in any Chinese text, and the texts where one is right
NOT_SAID = {
    "申领": "申报",
    "我的家庭": "我家",
    "到账": "入账",
    "驳回": "未通过 / 不成立",
    "冻结": "已换成兑换券（未用可退回）",
    "满分": "信用分 …（300 到 900 之间）",
    "合作机构": "合作单位",
    "合作方": "合作单位",
    "可选": "选填",
    "可不填": "选填",
    "撤下": "撤销",
    "滚动码": "动态码",
    "打印码": "固定码",
    "信用审查": "授信评估",
    "好习惯": "善治贷",
    "表单": "页面",
    "无权查看": "这条记录不属于您家",
    "密码": "核销码 (a voucher's PIN); 密码 only for a staff sign-in password",
    "审批": "审核 (claims); 审批 only for loans",
}
RIGHTLY_SAID = {
    "密码": {"Password", "Wrong username or password."},
    "审批": {  # a bank's decision on a loan
        "Decide",
        "Decided",
        "Waiting for your decision",
        "decided by the product's rules",
        "Waiting for the bank to decide.",
        "This application has already been decided. Open it again to see the decision.",
        "A loan application was decided",
        "Always decide yourselves",
        "Decide loan applications",  # a bank's system connection's permission
    },
}


def test_the_chinese_texts_say_what_the_glossary_says() -> None:
    found = []
    for message in i18n.catalogue("zh_CN"):
        english = message.id if isinstance(message.id, str) else message.id[0]
        chinese = message.string if isinstance(message.string, str) else not_none(message.string)[0]
        for word, instead in NOT_SAID.items():
            if english and word in chinese and english not in RIGHTLY_SAID.get(word, set()):
                if word == "密码" and "password" in english.lower():
                    continue  # a staff member's own password is a 密码
                found.append(f"{english!r}: {chinese} — {word} → {instead}")
    assert found == []
