"""Who may see and run a village's activities: its officials and the county admin run them (and see their codes);
its villagers and the county's auditors see what, where and when."""

from __future__ import annotations

from sqlmodel import Session

from ledger.activities.models import Activity
from ledger.activities.service import ActivityNotFound
from ledger.identity.models import Role
from ledger.identity.principal import Principal, visible_village
from ledger.tenancy import Village


def runs(who: Principal, activity: Activity) -> bool:
    """Runs the activity: an official of its village or the county admin (enters proxy claims for it, shows and
    withdraws its codes)."""
    return who.manages_village(activity.village_id, activity.county_id)


def managed_activity(session: Session, who: Principal, activity_id: int) -> Activity:
    """The activity, if `who` runs its village's activities; otherwise `activity_not_found`."""
    activity = session.get(Activity, activity_id)
    if activity is None or not runs(who, activity):
        raise ActivityNotFound("No such activity in your villages.", activity_id=activity_id)
    return activity


def listed_village(session: Session, who: Principal, village_id: int | None) -> Village:
    """The village whose activities `who` asks for: a villager's (or anyone's, naming none) their own."""
    if who.role == Role.VILLAGER or village_id is None:
        village_id = who.home_village_id
    return visible_village(session, who, village_id, members=True)


def sees_codes(who: Principal, village: Village) -> bool:
    """Those who run the village's activities see their codes; anyone else only what, where and when."""
    return village.id is not None and who.manages_village(village.id, village.county_id)
