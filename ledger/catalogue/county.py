"""A county's first day and its programme settings: the county, with the default catalogue and the default
policy, ready to run; the policy and a village's notice-board privacy, changed by the county admin (and a village's
privacy by its officials) with a row in the change log, whichever door (API, page, command line) is used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from ledger.catalogue.service import load_default
from ledger.core import audit
from ledger.core.base import row_id
from ledger.core.errors import Forbidden, Invalid
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import County, create_county

POLICY = (
    "timezone",
    "notice_days",
    "review_days",
    "appeal_days",
    "overdue_hours",
    "village_max_rewards",
    "village_max_deductions",
    "village_max_points",
    "points_expiry_months",
    "award_second_official_points",
    "notice_deductions",
)
# What the county admin may set, and within which bounds (whole numbers, both ends included). A notice, review or
# appeal period of days, a claim overdue after hours (at most two weeks), settled points lapsing after months
# (0: never), an award above this many points waiting for a second official (0: every award does).
BOUNDS: dict[str, tuple[int, int]] = {
    "notice_days": (1, 60),
    "review_days": (1, 60),
    "appeal_days": (1, 60),
    "overdue_hours": (1, 24 * 14),
    "village_max_rewards": (0, 50),
    "village_max_deductions": (0, 50),
    "village_max_points": (1, 100),
    "points_expiry_months": (0, 120),
    "award_second_official_points": (0, 100_000),
}
CHOICES: dict[str, tuple[str, ...]] = {"notice_deductions": ("unnamed", "hidden")}
SETTABLE = tuple(BOUNDS) + tuple(CHOICES)


class InvalidPolicy(Invalid):
    code = "invalid_policy"


def start_county(session: Session, *, code: str, name: str, actor: str) -> County:
    """A new county with the default policy (the columns' defaults, docs/claims.md) and the default catalogue
    (ledger/catalogue/default_catalogue.csv), so its officials can print posters and review claims on day one;
    the county admin changes either afterwards. Written to the change log."""
    county = create_county(session, code=code, name=name)
    session.refresh(county)  # the policy's server defaults, as stored
    county_id = row_id(county.id)
    matters = load_default(session, county_id=county_id, actor=actor)
    audit.record(
        session,
        county_id=county_id,
        actor=actor,
        action="county.start",
        target_type="county",
        target_id=code,
        after={"name": name, "default_matters": matters, **audit.fields(county, POLICY)},
    )
    return county


def check_policy(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes as they will be stored, or a refusal naming the first field that is wrong."""
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name in BOUNDS:
            low, high = BOUNDS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidPolicy(f"{name} is a whole number from {low} to {high}.", field=name, low=low, high=high)
        elif name in CHOICES:
            if value not in CHOICES[name]:
                raise InvalidPolicy(f"{name} is one of {', '.join(CHOICES[name])}.", field=name)
        else:
            raise InvalidPolicy(f"{name} is not a setting of the county's policy.", field=name)
        checked[name] = value
    return checked


def set_policy(session: Session, who: Principal, changes: Mapping[str, Any]) -> County:
    """The county admin changes the programme's settings of their county; every change is in the change log
    ("policy.change", the changed settings before and after). Nothing is changed when one value is wrong."""
    if who.role != Role.COUNTY_ADMIN:
        raise Forbidden("Only the county admin changes the county's policy.")
    checked = check_policy(changes)
    county = session.get(County, who.county_id, with_for_update=True)
    assert county is not None  # a principal's county exists
    before = audit.fields(county, tuple(checked))
    for name, value in checked.items():
        setattr(county, name, value)
    session.flush()
    audit.record(
        session,
        county_id=row_id(county.id),
        actor=who.actor,
        action="policy.change",
        target_type="policy",
        target_id=county.code,
        before=before,
        after=audit.fields(county, tuple(checked)),
    )
    return county
