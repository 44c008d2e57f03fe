"""Mainland mobile numbers: how a number written by people becomes the one the sign-in reads.

A number may be written with `+86`, `0086` (or a bare `86`) in front, and with spaces, dashes or brackets
anywhere (`(+86) 139-0000-0001`); what is kept is its 11 digits, starting 13 to 19. The roster import does the same to a
whole column at once (with pandas), so a number is the same whichever door it came in by.
"""

from __future__ import annotations

import re

from ledger.core.errors import Conflict, Invalid

SEPARATORS = r"[\s\-\u2010-\u2015()（）]"  # spaces (full-width too), dashes of every width, brackets
COUNTRY = r"^(?:\+86|0086|86(?=1[3-9][0-9]{9}$))"  # 86 alone only before a whole mobile number
MOBILE = r"^1[3-9][0-9]{9}$"

_SEPARATORS = re.compile(SEPARATORS)
_COUNTRY = re.compile(COUNTRY)
_MOBILE = re.compile(MOBILE)


class PhoneMalformed(Invalid):
    code = "phone_malformed"


class PhoneTaken(Conflict):
    code = "phone_taken"


def normalise(raw: str | None) -> str | None:
    """The number as kept (11 digits), or None for no number (None or blank). Refuses anything that is not a
    mainland mobile number once `+86`/`0086`, spaces and dashes are taken away."""
    if raw is None or not raw.strip():
        return None
    number = _COUNTRY.sub("", _SEPARATORS.sub("", raw))
    if not _MOBILE.match(number):
        raise PhoneMalformed(
            "This is not a mainland mobile number: 11 digits starting 13 to 19 (+86, spaces and dashes may be "
            "written around them).",
            field="phone",
        )
    return number
