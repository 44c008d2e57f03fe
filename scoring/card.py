"""The scorecard, as pure functions over plain values and DataFrames.

A card gives each characteristic bins with a contribution to the log-odds of good:bad, plus an intercept, exactly
as a logistic regression on the binned characteristics would. PDO scaling turns log-odds into points:

    factor = PDO / ln 2,   offset = anchor_score − factor · ln(anchor_odds),
    score  = offset + factor · (intercept + Σ contributions)

Each bin's points are factor · contribution, rounded; the base points are offset + factor · intercept, rounded; a
score is the base plus the points of its bins, clipped (300–900 here). So a card fitted on loan outcomes later
speaks the same units, and 600 keeps meaning odds of 50:1.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CARDS = Path(__file__).with_name("cards")
SHIPPED = CARDS / "expert-2026.json"
NOT_RATED = "NR"
REASONS_SHOWN = 4


def content_id(content: dict[str, Any]) -> str:
    """A card's version id: the first 16 hex digits of the SHA-256 of its canonical JSON."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Characteristic:
    name: str
    label: dict[str, str]
    uptos: tuple[float, ...]  # upper bound of each bin, inclusive, ascending; the last is +inf
    points: tuple[int, ...]
    missing_points: int
    reason: dict[str, str]
    action: dict[str, str]

    @property
    def best(self) -> int:
        return max(*self.points, self.missing_points)

    def bin_of(self, value: float | None) -> int | None:
        """Which bin a value falls in (None for a missing value)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return int(np.searchsorted(np.array(self.uptos), value, side="left"))

    def points_of(self, value: float | None) -> int:
        index = self.bin_of(value)
        return self.missing_points if index is None else self.points[index]

    def lower_bound(self, index: int) -> float:
        """The smallest whole value in bin `index` (for counts and months)."""
        return 0.0 if index == 0 else math.floor(self.uptos[index - 1]) + 1


@dataclass(frozen=True)
class Card:
    id: str
    name: str
    content: dict[str, Any]
    factor: float
    offset: float
    base_points: int
    clip: tuple[int, int]
    grades: tuple[tuple[str, int], ...]  # best first
    not_rated_below_months: int
    category_month_cap: int
    characteristics: tuple[Characteristic, ...] = field(default_factory=tuple)

    @classmethod
    def from_content(cls, content: dict[str, Any]) -> Card:
        scaling = content["scaling"]
        factor = scaling["pdo"] / math.log(2)
        offset = scaling["anchor_score"] - factor * math.log(scaling["anchor_odds"])
        characteristics = tuple(
            Characteristic(
                name=c["name"],
                label=c["label"],
                uptos=tuple(math.inf if b["upto"] is None else float(b["upto"]) for b in c["bins"]),
                points=tuple(round(factor * b["log_odds"]) for b in c["bins"]),
                missing_points=round(factor * c["missing"]),
                reason=c["reason"],
                action=c["action"],
            )
            for c in content["characteristics"]
        )
        grades = tuple(sorted(((g["grade"], int(g["min_score"])) for g in content["grades"]), key=lambda g: -g[1]))
        return cls(
            id=content_id(content),
            name=content["name"],
            content=content,
            factor=factor,
            offset=offset,
            base_points=round(offset + factor * content["intercept"]),
            clip=tuple(content["clip"]),
            grades=grades,
            not_rated_below_months=int(content["not_rated_below_months"]),
            category_month_cap=int(content["category_month_cap"]),
            characteristics=characteristics,
        )

    @classmethod
    def shipped(cls) -> Card:
        return _shipped()

    @property
    def score_range(self) -> tuple[int, int]:
        return self.clip

    def grade_of(self, score: int) -> str:
        for grade, minimum in self.grades:
            if score >= minimum:
                return grade
        return self.grades[-1][0]

    def min_score_of(self, grade: str) -> int:
        return dict(self.grades)[grade]


# --- scoring many households at once -------------------------------------------------------------------------


def score_frame(card: Card, features: pd.DataFrame) -> pd.DataFrame:
    """Score every row of `features` (one household a row, a column per characteristic, NaN for missing).

    Returns, per row: score (NaN when not rated), grade, points_<name> for each characteristic, and
    reason_1..reason_4 (the characteristic codes with the largest gap between their best and their points)."""
    out = pd.DataFrame(index=features.index)
    total = np.full(len(features), card.base_points, dtype="int64")
    gaps = []
    for c in card.characteristics:
        values = features[c.name].to_numpy(dtype="float64")
        index = np.searchsorted(np.array(c.uptos), np.nan_to_num(values, nan=0.0), side="left")
        points = np.where(np.isnan(values), c.missing_points, np.array(c.points)[np.minimum(index, len(c.points) - 1)])
        out[f"points_{c.name}"] = points
        total += points
        gaps.append(c.best - points)
    low, high = card.clip
    score = np.clip(total, low, high)
    rated = features["tenure_months"].fillna(0).to_numpy() >= card.not_rated_below_months
    out["score"] = np.where(rated, score, np.nan)
    minimums = np.array([m for _, m in card.grades])
    names = np.array([g for g, _ in card.grades] + [card.grades[-1][0]])
    grade_index = np.argmax(score[:, None] >= minimums[None, :], axis=1)
    out["grade"] = np.where(rated, names[grade_index], NOT_RATED)
    gap_matrix = np.column_stack(gaps) if gaps else np.zeros((len(features), 0))
    order = np.argsort(-gap_matrix, axis=1, kind="stable")  # largest gap first; ties keep the card's order
    codes = np.array([c.reason["code"] for c in card.characteristics])
    for rank in range(min(REASONS_SHOWN, len(card.characteristics))):
        column = order[:, rank]
        has_gap = gap_matrix[np.arange(len(features)), column] > 0
        out[f"reason_{rank + 1}"] = np.where(has_gap & rated, codes[column], None)  # type: ignore[call-overload]  # numpy's stubs take no None fill (an object array)
    return out


@dataclass(frozen=True)
class Result:
    score: int | None
    grade: str
    points: dict[str, int]
    reasons: list[dict[str, Any]]


def score_one(card: Card, features: dict[str, Any]) -> Result:
    """One household's score, grade, points and reasons (the same arithmetic as `score_frame`)."""
    frame = pd.DataFrame(
        [
            {c.name: features.get(c.name) for c in card.characteristics}
            | {"tenure_months": features.get("tenure_months")}
        ]
    ).astype("float64")
    row = score_frame(card, frame).iloc[0]
    by_code = {c.reason["code"]: c for c in card.characteristics}
    points = {c.name: int(row[f"points_{c.name}"]) for c in card.characteristics}
    reasons = []
    for rank in range(1, REASONS_SHOWN + 1):
        code = row.get(f"reason_{rank}")
        if code is None or (isinstance(code, float) and math.isnan(code)):
            continue
        c = by_code[code]
        reasons.append(
            {
                "code": code,
                "characteristic": c.name,
                "zh": c.reason["zh"],
                "en": c.reason["en"],
                "points_below_best": c.best - points[c.name],
            }
        )
    score = None if math.isnan(row["score"]) else int(row["score"])
    return Result(score=score, grade=str(row["grade"]), points=points, reasons=reasons)


# --- how to improve --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    characteristic: str
    n: int
    gain: int  # points
    zh: str
    en: str


def _options(c: Characteristic, features: dict[str, Any]) -> list[tuple[Action, float]]:
    """The realistic moves of one characteristic into a better bin, each with its effort."""
    kind = c.action.get("kind", "none")
    value = features.get(c.name)
    current = c.points_of(value)
    options = []
    for index, points in enumerate(c.points):
        if points <= current:
            continue
        if kind in ("increase", "wait"):
            n = int(c.lower_bound(index) - (value or 0))
            effort = n / 10 if c.name == "points_12m_capped" else float(n)
        elif kind == "decrease":  # taking part now brings "months since" down to 0
            if index != 0:
                continue
            n, effort = 1, 1.0
        elif kind == "approvals":  # rejected ÷ decided at most the bin's bound
            rejected, decided = features.get("claims_rejected_24m") or 0, features.get("claims_decided_24m") or 0
            bound = c.uptos[index]
            n = math.ceil(rejected / bound - decided) if bound > 0 else -1
            if n < 0:
                continue
            n, effort = max(n, 1), float(max(n, 1))
        else:
            continue
        if n <= 0:
            continue
        english = c.action.get("en_one", c.action["en"]) if n == 1 else c.action["en"]
        options.append((Action(c.name, n, points - current, c.action["zh"].format(n=n), english.format(n=n)), effort))
    return options


def improve(card: Card, features: dict[str, Any], result: Result) -> dict[str, Any]:
    """The smallest set of realistic actions that lifts the household to the next grade (fewest actions, then
    least effort), found by trying every combination of the card's actionable moves."""
    if result.grade == NOT_RATED:
        months = max(card.not_rated_below_months - int(features.get("tenure_months") or 0), 1)
        return {
            "target_grade": None,
            "actions": [
                {
                    "characteristic": "tenure_months",
                    "n": months,
                    "zh": f"再参与{months}个月即可获得评级",
                    "en": f"take part {months} more months to be rated",
                }
            ],
        }
    better = [(grade, minimum) for grade, minimum in card.grades if minimum > (result.score or 0)]
    if not better:
        return {"target_grade": None, "actions": []}
    target_grade, target = better[-1]
    choices = [[None, *_options(c, features)] for c in card.characteristics]
    best: tuple[int, float, list[Action]] | None = None
    for combination in itertools.product(*choices):
        picked = [option for option in combination if option is not None]
        gain = sum(action.gain for action, _ in picked)
        if (result.score or 0) + gain < target:
            continue
        key = (len(picked), sum(effort for _, effort in picked))
        if best is None or key < best[:2]:
            best = (key[0], key[1], [action for action, _ in picked])
    if best is None:
        return {"target_grade": target_grade, "actions": [], "reachable": False}
    return {
        "target_grade": target_grade,
        "target_score": target,
        "reachable": True,
        "actions": [
            {"characteristic": a.characteristic, "n": a.n, "points": a.gain, "zh": a.zh, "en": a.en} for a in best[2]
        ],
    }


@functools.cache
def _shipped() -> Card:
    """The card shipped with the code, read once per process (a version never changes)."""
    return Card.from_content(json.loads(SHIPPED.read_text()))
