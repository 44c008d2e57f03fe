"""Which catalogue a caller may read or edit: the county's, or that of one of their villages."""

from __future__ import annotations

from sqlmodel import Session

from ledger.catalogue import service as catalogue
from ledger.catalogue.models import Matter
from ledger.identity.models import Role
from ledger.identity.principal import Principal, managed_village, visible_village


def scope_for(session: Session, who: Principal, village_id: int | None, *, editing: bool) -> catalogue.Scope:
    """Reading: the county's catalogue, or a village `who` sees or lives in. Editing: the county's (its admin
    only), or a village `who` manages."""
    if village_id is None:
        if editing and who.role != Role.COUNTY_ADMIN:
            raise catalogue.VillageItemLimit("Only the county administrator edits the county's catalogue.")
        return catalogue.Scope(county_id=who.county_id, village_id=None)
    if editing:
        village = managed_village(session, who, village_id)
    else:
        village = visible_village(session, who, village_id, members=True)
    return catalogue.Scope(county_id=village.county_id, village_id=village_id)


def readable_matters(session: Session, who: Principal, village_id: int | None) -> list[Matter]:
    """The newest version of every matter that applies in a village (a villager: their own), or the county's."""
    if who.role == Role.VILLAGER:
        village_id = who.home_village_id
    scope = scope_for(session, who, village_id, editing=False)
    return catalogue.effective(session, county_id=scope.county_id, village_id=scope.village_id)
