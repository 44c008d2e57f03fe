"""A county's first day: the county, with the default catalogue and the default policy, ready to run."""

from __future__ import annotations

from sqlmodel import Session

from ledger.catalogue.service import load_default
from ledger.core import audit
from ledger.core.base import row_id
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
