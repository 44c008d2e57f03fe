"""Reading and editing the catalogue. Every edit writes a new version; nothing is updated in place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from ledger.catalogue.models import Evidence, Matter, Review
from ledger.core import audit
from ledger.core.base import as_utc
from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.tenancy import County, Village

DEFAULT_CATALOGUE = Path(__file__).with_name("default_catalogue.csv")
MAX_POINTS = 1000
CODE = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
EDITABLE = (
    "name_zh",
    "name_en",
    "category",
    "points",
    "evidence",
    "review",
    "cap_day",
    "cap_week",
    "cap_month",
    "cap_year",
    "valid_from",
    "valid_to",
    "active",
)


class MatterNotFound(NotFound):
    code = "matter_not_found"


class MatterExists(Conflict):
    code = "matter_exists"


class InvalidMatter(Invalid):
    code = "invalid_matter"


class VillageItemLimit(Forbidden):
    code = "village_item_limit"


class MatterInactive(Conflict):
    code = "matter_inactive"


# --- pure rules ---------------------------------------------------------------------------------------------


def check_fields(fields: dict[str, Any]) -> None:
    """Refuse a rule that cannot work, naming the field."""
    points = fields.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or points == 0 or abs(points) > MAX_POINTS:
        raise InvalidMatter(f"points is a whole number from -{MAX_POINTS} to {MAX_POINTS}, not 0.", field="points")
    for name in ("name_zh", "name_en", "category"):
        value = fields.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidMatter(f"{name} is required.", field=name)
    if fields.get("evidence") not in {e.value for e in Evidence}:
        raise InvalidMatter("evidence is none, photo or witness.", field="evidence")
    if fields.get("review") not in {r.value for r in Review}:
        raise InvalidMatter("review is official or auto.", field="review")
    if points < 0 and fields["review"] == Review.AUTO:
        raise InvalidMatter(
            "A deduction is recorded by an official; it cannot be approved automatically.", field="review"
        )
    for cap in ("cap_day", "cap_week", "cap_month", "cap_year"):
        value = fields.get(cap)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidMatter(f"{cap} is a positive whole number, or empty for no cap.", field=cap)
    start, end = fields.get("valid_from"), fields.get("valid_to")
    if start is not None and end is not None and as_utc(end) <= as_utc(start):
        raise InvalidMatter("valid_to comes after valid_from.", field="valid_to")


def in_force(matter: Matter, at: datetime) -> bool:
    """Active, and `at` inside its validity."""
    if not matter.active:
        return False
    if matter.valid_from is not None and at < as_utc(matter.valid_from):
        return False
    return matter.valid_to is None or at < as_utc(matter.valid_to)


# --- reading ------------------------------------------------------------------------------------------------


def effective(session: Session, *, county_id: int, village_id: int | None) -> list[Matter]:
    """The newest version of each matter that applies in a village (or, with village_id None, in the county):
    county matters, hidden by the village's own of the same code. Inactive ones included; see `in_force`."""
    newest = (
        select(
            col(Matter.county_id),
            col(Matter.village_id),
            col(Matter.code),
            func.max(col(Matter.version)).label("version"),
        )
        .where(col(Matter.county_id) == county_id)
        .where((col(Matter.village_id).is_(None)) | (col(Matter.village_id) == village_id))
        .group_by(col(Matter.county_id), col(Matter.village_id), col(Matter.code))
        .subquery()
    )
    rows = session.scalars(
        select(Matter).join(
            newest,
            (col(Matter.county_id) == newest.c.county_id)
            & (col(Matter.code) == newest.c.code)
            & (col(Matter.version) == newest.c.version)
            & (func.coalesce(col(Matter.village_id), 0) == func.coalesce(newest.c.village_id, 0)),
        )
    ).all()
    by_code: dict[str, Matter] = {}
    for matter in sorted(rows, key=lambda m: m.village_id is not None):  # village rows last: they win
        by_code[matter.code] = matter
    return sorted(by_code.values(), key=lambda m: (m.points < 0, m.category, m.code))


def current(session: Session, *, county_id: int, village_id: int | None, code: str) -> Matter:
    """The newest version of one matter as it applies in a village: the village's own, else the county's."""
    matter = session.scalars(
        select(Matter)
        .where(col(Matter.county_id) == county_id, col(Matter.code) == code)
        .where((col(Matter.village_id).is_(None)) | (col(Matter.village_id) == village_id))
        .order_by(col(Matter.village_id).is_(None), col(Matter.version).desc())
        .limit(1)
    ).first()
    if matter is None:
        raise MatterNotFound("No such matter in this village's catalogue.", matter_code=code)
    return matter


def versions(session: Session, *, county_id: int, village_id: int | None, code: str) -> list[Matter]:
    """Every version of one matter in one scope (the county's, or a village's own), oldest first."""
    query = select(Matter).where(col(Matter.county_id) == county_id, col(Matter.code) == code)
    query = query.where(
        col(Matter.village_id).is_(None) if village_id is None else col(Matter.village_id) == village_id
    )
    found = list(session.scalars(query.order_by(col(Matter.version))).all())
    if not found:
        raise MatterNotFound("No such matter.", matter_code=code)
    return found


# --- writing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    county_id: int
    village_id: int | None  # None: the county's own catalogue

    def query(self) -> Select[Matter]:
        base = select(Matter).where(col(Matter.county_id) == self.county_id)
        if self.village_id is None:
            return base.where(col(Matter.village_id).is_(None))
        return base.where(col(Matter.village_id) == self.village_id)


def create(
    session: Session,
    scope: Scope,
    *,
    code: str,
    actor: str,
    within_village_limits: bool,
    logged: bool = True,
    **fields: Any,
) -> Matter:
    """Version 1 of a new matter. An official adding a village item stays within the county's limits. Written to
    the change log ("matter.create"), but for the default catalogue a new county starts with (`logged` False: the
    county's start is logged once, with how many matters it got)."""
    if not isinstance(code, str) or not CODE.match(code):
        raise InvalidMatter(
            "code is 2 to 48 lowercase letters, digits or underscores, starting with a letter.", field="code"
        )
    fields = {"evidence": Evidence.NONE.value, "review": Review.OFFICIAL.value, "active": True, **fields}
    check_fields(fields)
    if session.scalars(scope.query().where(col(Matter.code) == code).limit(1)).first() is not None:
        raise MatterExists("This matter exists already; edit it to make a new version.", matter_code=code)
    if within_village_limits:
        _check_village_limits(session, scope, code=code, fields=fields)
    matter = Matter(
        county_id=scope.county_id, village_id=scope.village_id, code=code, version=1, created_by=actor, **fields
    )
    session.add(matter)
    session.flush()
    if logged:
        audit.record(
            session,
            county_id=scope.county_id,
            actor=actor,
            action="matter.create",
            target_type="matter",
            target_id=_target(matter),
            after={"version": 1, **audit.fields(matter, EDITABLE)},
        )
    return matter


def _target(matter: Matter) -> str:
    """How the change log names a matter: its code, with the village for a village's own."""
    return matter.code if matter.village_id is None else f"{matter.code}@village:{matter.village_id}"


def edit(
    session: Session, scope: Scope, *, code: str, actor: str, within_village_limits: bool, **changes: Any
) -> Matter:
    """A new version of a matter: the newest one with `changes` applied; in the change log ("matter.edit", the
    fields that changed and the version before and after)."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidMatter(f"These cannot be edited: {', '.join(unknown)}.", field=unknown[0])
    latest = session.scalars(
        scope.query().where(col(Matter.code) == code).order_by(col(Matter.version).desc()).limit(1).with_for_update()
    ).first()
    if latest is None:
        raise MatterNotFound("No such matter in this catalogue.", matter_code=code)
    fields = {name: getattr(latest, name) for name in EDITABLE} | changes
    check_fields(fields)
    if within_village_limits:
        _check_village_limits(session, scope, code=code, fields=fields)
    matter = Matter(
        county_id=scope.county_id,
        village_id=scope.village_id,
        code=code,
        version=latest.version + 1,
        created_by=actor,
        **fields,
    )
    session.add(matter)
    session.flush()
    audit.record(
        session,
        county_id=scope.county_id,
        actor=actor,
        action="matter.edit",
        target_type="matter",
        target_id=_target(matter),
        before={"version": latest.version, **audit.fields(latest, EDITABLE)},
        after={"version": matter.version, **audit.fields(matter, EDITABLE)},
    )
    return matter


def _check_village_limits(session: Session, scope: Scope, *, code: str, fields: dict[str, Any]) -> None:
    county = session.get(County, scope.county_id)
    if scope.village_id is None or county is None:
        raise VillageItemLimit("Only the county administrator edits the county's catalogue.")
    if abs(fields["points"]) > county.village_max_points:
        raise VillageItemLimit(
            f"A village's own item is worth at most {county.village_max_points} points either way.",
            field="points",
            limit=county.village_max_points,
        )
    if not fields.get("active", True):
        return
    reward = fields["points"] > 0
    others = [
        m
        for m in effective(session, county_id=scope.county_id, village_id=scope.village_id)
        if m.village_id == scope.village_id and m.code != code and m.active and (m.points > 0) == reward
    ]
    limit = county.village_max_rewards if reward else county.village_max_deductions
    if len(others) + 1 > limit:
        kind = "reward" if reward else "deduction"
        raise VillageItemLimit(
            f"This village already has {len(others)} {kind} items of its own; the county allows {limit}.", limit=limit
        )


@lru_cache(maxsize=1)
def default_matters() -> tuple[dict[str, Any], ...]:
    """The default catalogue as shipped (ledger/catalogue/default_catalogue.csv), one dict per matter."""
    table = pd.read_csv(DEFAULT_CATALOGUE, dtype={"code": str})
    caps = ["cap_day", "cap_week", "cap_month", "cap_year"]
    return tuple(
        {str(k): (None if pd.isna(v) else (int(v) if k in caps or k == "points" else v)) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    )


def load_default(session: Session, *, county_id: int, actor: str = "system:catalogue") -> int:
    """Give a county the default catalogue (version 1 of each matter it does not have yet). Returns how many."""
    scope = Scope(county_id=county_id, village_id=None)
    existing = set(
        session.scalars(
            select(col(Matter.code)).where(col(Matter.county_id) == county_id, col(Matter.village_id).is_(None))
        ).all()
    )
    added = 0
    for row in default_matters():
        if row["code"] in existing:
            continue
        fields = {k: v for k, v in row.items() if k != "code"}
        create(session, scope, code=row["code"], actor=actor, within_village_limits=False, logged=False, **fields)
        added += 1
    return added


def village_of(session: Session, village_id: int) -> Village:
    village = session.get(Village, village_id)
    if village is None:
        raise NotFound("No such village.", village_id=village_id)
    return village
