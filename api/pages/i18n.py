"""Message catalogues for the pages: gettext .po files under api/pages/locale, read when the app starts.

Texts in templates and page code are English msgids wrapped in `_()`; zh-CN is the default language and English
is one tap away. Several .po files per language (common, villager, official, partner) are merged, so each area
keeps its own. tests/pages/test_i18n.py extracts the msgids (Babel) and fails on any that has no Chinese text,
printing the entries to add, and on any Chinese text that no page uses any more.
"""

from __future__ import annotations

import io
from functools import cache
from gettext import NullTranslations
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "zh_CN"
LOCALES = ("zh_CN", "en")  # the language switch offers these; "en" is the msgids themselves
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}  # each in its own language, whatever the page's


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
