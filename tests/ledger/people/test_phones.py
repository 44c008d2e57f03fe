"""What a mainland mobile number is, as people write it (no database)."""

from __future__ import annotations

import re

import pytest

from ledger.people import phones


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("13912345678", "13912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("+86-139-1234-5678", "13912345678"),
        ("0086 13912345678", "13912345678"),
        ("139\u30001234\u20145678", "13912345678"),  # a full-width space and a long dash, as phones type them
        (" 199-0000-0000 ", "19900000000"),
        ("86 139 1234 5678", "13912345678"),
        ("（+86）139 1234 5678", "13912345678"),
        ("(0086) 139-1234-5678", "13912345678"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_a_number_is_kept_as_its_eleven_digits(written: str | None, kept: str | None) -> None:
    assert phones.normalise(written) == kept


@pytest.mark.parametrize(
    "written",
    ["1391234567", "139123456789", "12912345678", "23912345678", "+1 415 555 0100", "86 1391234567", "139l2345678"],
)
def test_anything_else_is_refused_with_its_code(written: str) -> None:
    with pytest.raises(phones.PhoneMalformed) as refused:
        phones.normalise(written)
    assert refused.value.code == "phone_malformed" and refused.value.detail == {"field": "phone"}


def test_the_patterns_for_a_whole_column_agree_with_the_one_by_one_check() -> None:
    """The roster import normalises a column with these patterns (pandas' str.replace takes the same syntax)."""
    for written in ("+86 139-1234-5678", "0086 13912345678", "139 1234 5678"):
        bulk = re.sub(phones.COUNTRY, "", re.sub(phones.SEPARATORS, "", written))
        assert re.match(phones.MOBILE, bulk) and bulk == phones.normalise(written)
