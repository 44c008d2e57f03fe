"""The pure rules of claims, codes and the catalogue: no database, no fixtures (the figures: test_figures.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.activities import codes
from ledger.catalogue.service import InvalidMatter, check_fields
from ledger.claims import rules

SHANGHAI = "Asia/Shanghai"
KEYS = codes.Keys(current="k2", ring={"k1": b"old key material.............", "k2": b"new key material............."})


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "period", "key"),
    [
        ("2026-11-24T15:59:00", "day", "2026-11-24"),  # 23:59 in Shanghai
        ("2026-11-24T16:00:00", "day", "2026-11-25"),  # midnight in Shanghai: a new day there
        ("2026-11-24T16:00:00", "week", "2026-W48"),
        ("2026-12-31T16:30:00", "month", "2027-01"),
        ("2026-12-31T16:30:00", "once", "once"),
    ],
)
def test_periods_are_counted_in_county_time(moment: str, period: str, key: str) -> None:
    assert rules.period_key(at(moment), SHANGHAI, period) == key


def test_period_bounds_are_local_midnights() -> None:
    start, end = rules.period_bounds(at("2026-11-25T03:00:00"), SHANGHAI, "week")  # a Wednesday
    assert (start, end) == (at("2026-11-22T16:00:00"), at("2026-11-29T16:00:00"))  # Monday 00:00 +08:00
    start, end = rules.period_bounds(at("2026-02-10T00:00:00"), SHANGHAI, "month")
    assert (start, end) == (at("2026-01-31T16:00:00"), at("2026-02-28T16:00:00"))
    start, end = rules.period_bounds(at("2026-06-01T00:00:00"), SHANGHAI, "year")
    assert (start, end) == (at("2025-12-31T16:00:00"), at("2026-12-31T16:00:00"))


def test_caps_refuse_at_the_limit_naming_the_period() -> None:
    rules.check_caps({"day": 1, "week": 3}, {"day": 0, "week": 2})
    with pytest.raises(rules.CapReached) as error:
        rules.check_caps({"day": 2, "week": 3}, {"day": 1, "week": 3})
    assert error.value.detail == {"unit": "week", "cap": 3}


def test_distance_is_in_metres() -> None:
    assert round(rules.distance_m(30.0, 120.0, 30.0, 120.001)) == 96  # 0.001° of longitude at 30° N
    assert rules.distance_m(30.0, 120.0, 30.0, 120.0) == 0


@pytest.mark.parametrize(
    ("points", "available", "split"), [(5, 10, (5, 0)), (5, 3, (3, 2)), (5, 0, (0, 5)), (5, -2, (0, 5))]
)
def test_a_deduction_never_takes_more_than_is_available(points: int, available: int, split: tuple[int, int]) -> None:
    assert rules.split_deduction(points, available) == split


def test_notice_names_follow_the_privacy_policy() -> None:
    assert rules.notice_name("full_name", head_name="王建国", house_number="12") == "王建国"
    assert rules.notice_name("surname_house", head_name="王建国", house_number="12") == "王家（12号）"
    assert rules.notice_name("surname_house", head_name="王建国", house_number=None) == "王家"
    assert rules.notice_name("anonymous", head_name="王建国", house_number="12") == "一户村民"


def test_codes_are_short_signed_and_rotate_with_the_keys() -> None:
    token = codes.sign_activity(
        KEYS, activity_id=4021, starts_at=at("2026-11-24T00:00:00"), ends_at=at("2026-12-24T00:00:00")
    )
    assert len(token) <= 40 and token.isascii() and "=" not in token
    read = codes.read(KEYS, token)
    assert read == codes.ActivityCode(4021, at("2026-11-24T00:00:00"), at("2026-12-24T00:00:00"))
    old = codes.sign_household(codes.Keys(current="k1", ring=KEYS.ring), household_id=7)
    assert codes.read(KEYS, old) == codes.HouseholdCard(7)  # a previous key still reads
    retired = codes.Keys(current="k2", ring={"k2": KEYS.ring["k2"]})
    with pytest.raises(codes.CodeInvalid):
        codes.read(retired, old)
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:20], "!" * 30, ""):
        with pytest.raises(codes.CodeInvalid):
            codes.read(KEYS, bad)
    assert codes.scanned(f"https://x.example/c/{token}/") == token


def test_a_rotating_code_names_its_step() -> None:
    now = at("2026-11-24T08:00:10")
    token = codes.sign_rotating(KEYS, activity_id=9, step=codes.step_of(now))
    assert codes.read(KEYS, token) == codes.ActivityCode(9, step=codes.step_of(now))
    assert codes.step_of(now + timedelta(seconds=30)) == codes.step_of(now) + 1


VALID = {
    "name_zh": "垃圾分类",
    "name_en": "Sorting",
    "category": "environment",
    "points": 2,
    "evidence": "none",
    "review": "official",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"points": 0}, "points"),
        ({"points": 1001}, "points"),
        ({"points": True}, "points"),
        ({"name_zh": " "}, "name_zh"),
        ({"evidence": "selfie"}, "evidence"),
        ({"review": "maybe"}, "review"),
        ({"points": -3, "review": "auto"}, "review"),
        ({"cap_day": 0}, "cap_day"),
        ({"valid_from": at("2026-02-01T00:00:00"), "valid_to": at("2026-01-01T00:00:00")}, "valid_to"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_by_field(change: dict[str, object], field: str) -> None:
    check_fields(VALID)
    with pytest.raises(InvalidMatter) as error:
        check_fields({**VALID, **change})
    assert error.value.detail["field"] == field
