"""The rule catalogue: everyone signed in reads their catalogue; the county admin edits it; a village official adds
the village's own items within the county's limits. Every edit is a new version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api.deps import SessionDep, allow
from api.schemas.claims import MatterEdit, MatterIn, MatterOut
from ledger.catalogue import service as catalogue
from ledger.catalogue.models import Matter
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import Village, VillageNotFound

router = APIRouter(prefix="/api/v1/matters", tags=["catalogue"])
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
Editor = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]


def matter_out(matter: Matter) -> MatterOut:
    return MatterOut.model_validate(matter, from_attributes=True)


def _scope(session: SessionDep, who: Principal, village_id: int | None, *, editing: bool) -> catalogue.Scope:
    """The catalogue the caller may read or edit: the county's, or one of their villages'."""
    if village_id is None:
        if editing and who.role != Role.COUNTY_ADMIN:
            raise catalogue.VillageItemLimit("Only the county administrator edits the county's catalogue.")
        return catalogue.Scope(county_id=who.county_id, village_id=None)
    village = session.get(Village, village_id)
    visible = village is not None and (
        who.manages_village(village.id, village.county_id)
        if editing  # type: ignore[arg-type]
        else who.sees_village(village.id, village.county_id) or who.lives_in(village.id)  # type: ignore[arg-type]
    )
    if not visible:
        raise VillageNotFound("No such village among yours.", village_id=village_id)
    return catalogue.Scope(county_id=village.county_id, village_id=village_id)  # type: ignore[union-attr]


@router.get("", response_model=list[MatterOut])
def list_matters(
    session: SessionDep, who: Reader, village_id: Annotated[int | None, Query(gt=0)] = None
) -> list[MatterOut]:
    """The newest version of every matter that applies in a village (a villager: their own village), or the
    county's catalogue."""
    if who.role == Role.VILLAGER:
        village_id = who.home_village_id
    scope = _scope(session, who, village_id, editing=False)
    return [matter_out(m) for m in catalogue.effective(session, county_id=scope.county_id, village_id=scope.village_id)]


@router.post("", response_model=MatterOut, status_code=status.HTTP_201_CREATED)
def create_matter(body: MatterIn, session: SessionDep, who: Editor) -> MatterOut:
    scope = _scope(session, who, body.village_id, editing=True)
    fields: dict[str, Any] = body.model_dump(exclude={"code", "village_id"})
    return matter_out(
        catalogue.create(
            session,
            scope,
            code=body.code,
            actor=who.actor,
            within_village_limits=who.role != Role.COUNTY_ADMIN,
            **fields,
        )
    )


@router.patch("/{code}", response_model=MatterOut, status_code=status.HTTP_201_CREATED)
def edit_matter(
    code: str, body: MatterEdit, session: SessionDep, who: Editor, village_id: Annotated[int | None, Query(gt=0)] = None
) -> MatterOut:
    """A new version of the matter with these changes; claims already made keep the version they had."""
    scope = _scope(session, who, village_id, editing=True)
    changes = body.model_dump(exclude_unset=True)
    return matter_out(
        catalogue.edit(
            session, scope, code=code, actor=who.actor, within_village_limits=who.role != Role.COUNTY_ADMIN, **changes
        )
    )


@router.get("/{code}/versions", response_model=list[MatterOut])
def matter_versions(
    code: str, session: SessionDep, who: Reader, village_id: Annotated[int | None, Query(gt=0)] = None
) -> list[MatterOut]:
    if who.role == Role.VILLAGER and village_id is not None and village_id != who.home_village_id:
        raise VillageNotFound("No such village among yours.", village_id=village_id)
    scope = _scope(session, who, village_id, editing=False)
    return [
        matter_out(m)
        for m in catalogue.versions(session, county_id=scope.county_id, village_id=scope.village_id, code=code)
    ]
