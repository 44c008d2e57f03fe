"""The product's words in each language, and how dates, months, quarters and money read in it.

Message catalogues are gettext .po files under api/locale, read when the app starts. Texts in templates, page
code and the presenters (posters, cards, file headers) are English msgids wrapped in `_()` or marked with `N_`;
zh-CN is the default language and English is one tap away. Several .po files per language (common, villager,
office, partner, errors, files) are merged, so each area keeps its own. An English msgid with two meanings carries
a context (`pgettext`). tests/pages/test_i18n.py extracts the msgids (Babel) and fails on any that has no Chinese
text, and on any Chinese text that nothing uses any more. The Chinese follows docs/glossary.md.

Dates are read as people say them, through CLDR (Babel): 11月30日 20:56 (the year only when it is not this
one), 2026年11月, 2026年第四季度; in English 30 Nov 20:56, November 2026, Q4 2026. Money is "50" yuan where there
are no fen, "50.50" where there are.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "zh_CN"
LOCALES = ("zh_CN", "en")  # the language switch offers these; "en" is the msgids themselves
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}  # each in its own language, whatever the page's
QUARTER = {"zh_CN": "y年QQQQ", "en": "QQQ y"}  # 2026年第四季度 / Q4 2026 (CLDR has no skeleton for it)


def N_(message: str) -> str:  # noqa: N802 - the gettext name for "mark for translation, translate later"
    return message


def catalogue(locale: str) -> Catalog:
    """Every .po file of one language merged into one catalogue."""
    merged = Catalog(locale=locale)
    for path in sorted((LOCALE_DIR / locale).glob("*.po")):
        with path.open("rb") as file:
            for message in read_po(file, locale=locale):
                if message.id and message.string:
                    merged.add(message.id, message.string, context=message.context)
    return merged


@cache
def translations(locale: str) -> NullTranslations:
    if locale not in LOCALES or not (LOCALE_DIR / locale).is_dir():
        return NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, catalogue(locale))
    buffer.seek(0)
    return Translations(fp=buffer)


def pick(wanted: str | None) -> str:
    return wanted if wanted in LOCALES else DEFAULT


def text(locale: str, message: str, **values: Any) -> str:
    """One text in a language, with its %(name)s values filled in."""
    translated = translations(locale).gettext(message)
    return translated % values if values else translated


def text_in(locale: str, context: str, message: str, **values: Any) -> str:
    """One text whose English has more than one meaning, picked by its context."""
    translated = translations(locale).pgettext(context, message)
    return translated % values if values else translated


# --- dates, months, quarters and money as people read them --------------------------------------------------


def _babel(locale: str) -> str:
    return pick(locale)


@cache
def _parsed(locale: str) -> Locale:
    """Babel's data for a locale, parsed once (a page formats hundreds of dates)."""
    return Locale.parse(_babel(locale))


def local(moment: datetime, timezone: str) -> datetime:
    """A moment (naive ones are UTC, as the database keeps them) in a county's time."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(ZoneInfo(timezone))


def day(value: date | datetime, locale: str, *, timezone: str = "Asia/Shanghai", today: date | None = None) -> str:
    """11月30日; 2025年11月30日 when it is not this year (Nov 30 / Nov 30, 2025). A moment is read in the county's
    time; `today` is the county's today unless given."""
    if isinstance(value, datetime):
        value = local(value, timezone).date()
    this_year = (today or datetime.now(ZoneInfo(timezone)).date()).year
    skeleton = "MMMd" if value.year == this_year else "yMMMd"
    return format_skeleton(skeleton, value, locale=_parsed(locale))


def when(moment: datetime, locale: str, *, timezone: str = "Asia/Shanghai", today: date | None = None) -> str:
    """11月30日 20:56 in the county's time; the year only when it is not this one."""
    there = local(moment, timezone)
    joiner = " " if _babel(locale) == "zh_CN" else ", "
    return (
        day(there, locale, timezone=timezone, today=today)
        + joiner
        + format_time(there, "HH:mm", locale=_parsed(locale))
    )


def month(value: date | datetime, locale: str) -> str:
    """2026年11月 (November 2026)."""
    return format_skeleton("yMMMM", value, locale=_parsed(locale))


def month_key(key: str, locale: str) -> str:
    """A month written as the figures key it, "2026-11", as people read it."""
    year, _, number = key.partition("-")
    return month(date(int(year), int(number), 1), locale)


def quarter(value: date | datetime, locale: str) -> str:
    """2026年第四季度 (Q4 2026)."""
    return format_date(value, QUARTER[_babel(locale)], locale=_parsed(locale))


def period(key: str, locale: str) -> str:
    """A period as the figures key it ("2026", "2026-11", "2026-Q4") as people read it: 2026年, 2026年11月,
    2026年第四季度."""
    year, _, rest = key.partition("-")
    if not rest:
        return format_skeleton("y", date(int(year), 1, 1), locale=_parsed(locale))
    if rest.startswith("Q"):
        return quarter(date(int(year), 3 * int(rest[1:]) - 2, 1), locale)
    return month_key(key, locale)


def yuan(fen: int | None) -> str:
    """Money from fen: "50" where there are no fen, "50.50" where there are; the page adds 元."""
    if fen is None:
        return ""
    whole, rest = divmod(fen, 100)
    return f"{whole}" if rest == 0 else f"{fen / 100:.2f}"


def money(yuan_amount: str | Decimal | int | None) -> str:
    """An amount in yuan as people read it: "50" where there are no fen, "50.50" where there are."""
    if yuan_amount is None or yuan_amount == "":
        return ""
    amount = Decimal(str(yuan_amount))
    return f"{amount:.0f}" if amount == amount.to_integral_value() else f"{amount:.2f}"


def zone_name(timezone: str, locale: str) -> str:
    """The county's clock as people call it: 北京时间 for China's one time zone."""
    if timezone in ("Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "Asia/Urumqi", "PRC"):
        return text(locale, "Beijing time")
    return timezone
