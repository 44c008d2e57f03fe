"""The scorecard's arithmetic, grades, reasons and "how to improve": pure, no database."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest

from scoring.card import Card, content_id, improve, score_frame, score_one

CARD = Card.shipped()
GOOD = {
    "tenure_months": 30,
    "active_months_12": 11,
    "months_since_last_positive": 0,
    "points_12m_capped": 150,
    "categories_24m": 5,
    "deductions_24m": 0,
    "months_since_last_deduction": None,
    "rejected_share": 0.0,
    "claims_rejected_24m": 0,
    "claims_decided_24m": 20,
    "objections_upheld_24m": 0,
}


def test_pdo_scaling_puts_600_at_odds_of_50_to_1_and_40_points_double_the_odds() -> None:
    assert math.isclose(CARD.factor, 40 / math.log(2))
    assert math.isclose(CARD.offset + CARD.factor * math.log(50), 600)
    assert math.isclose(CARD.offset + CARD.factor * math.log(100), 640)
    content = copy.deepcopy(CARD.content)
    content["intercept"] = math.log(50)
    for characteristic in content["characteristics"]:
        characteristic["bins"] = [{"upto": None, "log_odds": 0.0}]
        characteristic["missing"] = 0.0
    flat = Card.from_content(content)  # nothing but the intercept: exactly the anchor
    assert score_one(flat, {"tenure_months": 12}).score == 600


def test_points_are_the_scaled_log_odds_of_each_bin() -> None:
    active = next(c for c in CARD.characteristics if c.name == "active_months_12")
    assert active.points == tuple(round(CARD.factor * x) for x in (-0.9, -0.2, 0.3, 0.7))
    assert [active.points_of(v) for v in (0, 2, 3, 5, 6, 8, 9, 12)] == [-52, -52, -12, -12, 17, 17, 40, 40]
    assert active.points_of(None) == active.missing_points


def test_score_grade_and_clipping() -> None:
    good = score_one(CARD, GOOD)
    assert good.score == CARD.base_points + sum(good.points.values()) == 747 and good.grade == "AAA"
    assert good.reasons == []  # every characteristic at its best
    awful = score_one(
        CARD,
        {
            "tenure_months": 4,
            "active_months_12": 0,
            "months_since_last_positive": 9,
            "points_12m_capped": 0,
            "categories_24m": 0,
            "deductions_24m": 5,
            "months_since_last_deduction": 0,
            "rejected_share": 0.9,
            "objections_upheld_24m": 2,
        },
    )
    assert awful.score == 300 and awful.grade == "C"  # clipped at the bottom of the range
    assert [CARD.grade_of(s) for s in (720, 719, 660, 600, 599, 540, 539)] == ["AAA", "AA", "AA", "A", "B", "B", "C"]


def test_too_short_a_history_is_not_rated() -> None:
    result = score_one(CARD, {**GOOD, "tenure_months": 2})
    assert (result.score, result.grade, result.reasons) == (None, "NR", [])
    plan = improve(CARD, {**GOOD, "tenure_months": 2}, result)
    assert plan["actions"][0]["n"] == 1 and "rated" in plan["actions"][0]["en"]


def test_the_four_reasons_are_the_biggest_gaps_below_the_best() -> None:
    features = {
        **GOOD,
        "active_months_12": 4,
        "deductions_24m": 1,
        "months_since_last_deduction": 3,
        "categories_24m": 2,
    }
    result = score_one(CARD, features)
    gaps = {r["characteristic"]: r["points_below_best"] for r in result.reasons}
    assert list(gaps) == ["months_since_last_deduction", "active_months_12", "deductions_24m", "categories_24m"]
    assert gaps == {
        "months_since_last_deduction": 12 + 46,
        "active_months_12": 40 + 12,
        "deductions_24m": 17 + 17,
        "categories_24m": 23 - 6,
    }
    assert all(r["zh"] and r["en"] and r["code"].startswith("R") for r in result.reasons)


def test_score_frame_and_score_one_agree() -> None:
    rows = [GOOD, {**GOOD, "active_months_12": 1, "rejected_share": None}, {**GOOD, "tenure_months": 1}]
    frame = pd.DataFrame(rows).astype("float64")
    scored = score_frame(CARD, frame)
    for i, row in enumerate(rows):
        one = score_one(CARD, row)
        assert (None if math.isnan(scored["score"][i]) else int(scored["score"][i])) == one.score
        assert scored["grade"][i] == one.grade


def test_how_to_improve_finds_the_fewest_realistic_actions() -> None:
    features = {
        **GOOD,
        "active_months_12": 4,
        "points_12m_capped": 45,
        "categories_24m": 2,
        "months_since_last_deduction": 4,
        "deductions_24m": 1,
        "rejected_share": 0.2,
        "claims_rejected_24m": 1,
        "claims_decided_24m": 5,
        "tenure_months": 14,
    }
    result = score_one(CARD, features)
    assert (result.score, result.grade) == (510, "C")  # 550 + 12 − 12 + 23 − 6 + 6 − 17 − 46 − 6 + 6
    plan = improve(CARD, features, result)
    assert plan["target_grade"] == "B" and plan["reachable"]
    # Alone, 2 months without a deduction (+29) or 2 more active months (+29) fall 1 point short; 5 more active
    # months (+52), 8 months without a deduction (+46) or 75 more points (+41) each suffice: the least effort wins.
    assert plan["actions"] == [
        {
            "characteristic": "active_months_12",
            "n": 5,
            "points": 52,
            "zh": "再有5个月参加村里的活动",
            "en": "5 more months taking part in village activities",
        }
    ]
    top = improve(CARD, GOOD, score_one(CARD, GOOD))
    assert top == {"target_grade": None, "actions": []}


def test_a_cards_version_is_the_hash_of_its_content() -> None:
    assert CARD.id == content_id(CARD.content) and len(CARD.id) == 16
    changed = copy.deepcopy(CARD.content)
    changed["characteristics"][0]["bins"][0]["log_odds"] = -0.7
    assert Card.from_content(changed).id != CARD.id
    reordered = dict(reversed(list(CARD.content.items())))
    assert Card.from_content(reordered).id == CARD.id


@pytest.mark.parametrize("name", [c.name for c in CARD.characteristics])
def test_every_characteristic_explains_itself_in_both_languages(name: str) -> None:
    c = next(c for c in CARD.characteristics if c.name == name)
    assert c.label["zh"] and c.label["en"] and c.reason["zh"] and c.reason["en"]
    assert c.action["kind"] == "none" or ("{n}" in c.action["en"] or c.action["kind"] == "decrease")
