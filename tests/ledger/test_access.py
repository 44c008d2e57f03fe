"""Who may see and act on what, asked of the access modules directly (no HTTP): the same answers the API routes
and the pages get, since both call these."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from ledger.activities import access as activity_access
from ledger.activities import service as activities
from ledger.activities.service import ActivityNotFound
from ledger.catalogue import service as catalogue
from ledger.claims import access, deductions
from ledger.claims import service as claims
from ledger.claims.deductions import DeductionNotFound
from ledger.claims.evidence import EvidenceNotFound
from ledger.claims.models import Claim, EvidenceFile
from ledger.claims.service import ClaimNotFound
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.identity import principal as principals
from ledger.identity import transactions as journal_access
from ledger.identity.principal import Principal
from ledger.journal.errors import TransactionNotFound
from ledger.tenancy import HouseholdNotFound, Village, VillageNotFound
from tests import factories


@dataclass(frozen=True)
class Two:
    """Two villages of one county, a household in each with a villager, an official of each village."""

    village: int
    other_village: int
    home: int
    neighbour: int  # another household of the same village
    away: int  # a household of the other village
    villager: Principal
    neighbour_villager: Principal
    away_villager: Principal
    official: Principal
    other_official: Principal


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with unit_of_work(engine) as session:
        yield session


@pytest.fixture
def two(session: Session) -> Two:
    here = factories.create_village(session)
    there = factories.create_village(session, county_id=here.county_id)
    catalogue.load_default(session, county_id=here.county_id)
    home = factories.create_household(session, here.village_id)[0]
    neighbour = factories.create_household(session, here.village_id)[0]
    away = factories.create_household(session, there.village_id)[0]
    return Two(
        village=here.village_id,
        other_village=there.village_id,
        home=home,
        neighbour=neighbour,
        away=away,
        villager=factories.principal_of(session, factories.create_villager(session, home)),
        neighbour_villager=factories.principal_of(session, factories.create_villager(session, neighbour)),
        away_villager=factories.principal_of(session, factories.create_villager(session, away)),
        official=factories.principal_of(session, factories.create_official(session, here.county_id, [here.village_id])),
        other_official=factories.principal_of(
            session, factories.create_official(session, here.county_id, [there.village_id])
        ),
    )


def _award(session: Session, who: Principal, household_id: int) -> Claim:
    given = claims.submit_award(
        session,
        who,
        household_id=household_id,
        matter_code="volunteering",
        reason="Helped at the harvest",
        person_id=None,
        details=claims.Details(),
        idempotency_key=None,
    )
    return given.value


def test_an_official_of_another_village_can_neither_see_nor_decide_a_claim(session: Session, two: Two) -> None:
    claim = _award(session, two.official, two.home)
    assert claim.id is not None
    assert access.visible_claim(session, two.official, claim.id).id == claim.id
    assert access.may_decide(two.official, claim)

    with pytest.raises(ClaimNotFound):
        access.visible_claim(session, two.other_official, claim.id)
    assert not access.may_decide(two.other_official, claim)
    assert claim.id not in [c.id for c in access.visible_claims(session, two.other_official)]
    assert claim.id in [c.id for c in access.visible_claims(session, two.official)]


def test_a_villager_sees_only_their_households_claims(session: Session, two: Two) -> None:
    mine = _award(session, two.official, two.home)
    theirs = _award(session, two.official, two.neighbour)
    assert mine.id is not None and theirs.id is not None

    assert [c.id for c in access.visible_claims(session, two.villager)] == [mine.id]
    assert access.visible_claim(session, two.villager, mine.id).id == mine.id
    with pytest.raises(ClaimNotFound):  # the neighbour's claim looks like no claim at all
        access.visible_claim(session, two.villager, theirs.id)
    assert not access.may_decide(two.villager, mine)
    # a villager may object to a neighbour's entry on the notice board of the village they live in, only
    assert access.may_object(two.neighbour_villager, mine)
    assert not access.may_object(two.away_villager, mine)


def test_a_villager_sees_only_their_households_balance_and_village(session: Session, two: Two) -> None:
    assert principals.visible_household(session, two.villager, two.home).id == two.home
    with pytest.raises(HouseholdNotFound):
        principals.visible_household(session, two.villager, two.neighbour)
    with pytest.raises(HouseholdNotFound):  # an official of another village: as if it did not exist
        principals.visible_household(session, two.other_official, two.home)
    with pytest.raises(HouseholdNotFound):  # a villager never acts for a household, not even their own
        principals.managed_household(session, two.villager, two.home)

    assert principals.visible_village(session, two.villager, two.village, members=True).id == two.village
    with pytest.raises(VillageNotFound):  # the notice board of a village they do not live in
        principals.visible_village(session, two.villager, two.other_village, members=True)
    with pytest.raises(VillageNotFound):  # the report is for staff, not members
        principals.visible_village(session, two.villager, two.village, members=False)
    assert [v.id for v in principals.visible_villages(session, two.official)] == [two.village]
    assert principals.visible_villages(session, two.villager) == []  # a villager is no village's staff


def test_the_journal_transaction_of_an_award_is_seen_by_its_villages_officials_only(session: Session, two: Two) -> None:
    claim = _award(session, two.official, two.home)  # a small award goes straight on the notice board
    tx = claim.approval_tx_id
    assert tx is not None
    assert journal_access.visible_transaction(session, two.official, tx).id == tx
    assert journal_access.managed_transaction(session, two.official, tx).id == tx
    for outsider in (two.neighbour_villager, two.other_official):
        with pytest.raises(TransactionNotFound):
            journal_access.visible_transaction(session, outsider, tx)


def test_activities_are_run_by_their_villages_officials_and_shown_to_its_villagers(session: Session, two: Two) -> None:
    village = session.get(Village, two.village)
    assert village is not None
    activity = activities.create(
        session,
        village=village,
        matter_code="volunteering",
        title="Harvest help",
        starts_at=utcnow() - timedelta(hours=1),
        ends_at=utcnow() + timedelta(hours=3),
        actor="test",
    )
    assert activity.id is not None
    assert activity_access.managed_activity(session, two.official, activity.id).id == activity.id
    with pytest.raises(ActivityNotFound):
        activity_access.managed_activity(session, two.other_official, activity.id)
    with pytest.raises(ActivityNotFound):
        activity_access.managed_activity(session, two.villager, activity.id)

    listed = activity_access.listed_village(session, two.villager, two.other_village)  # a villager: their own
    assert listed.id == two.village
    assert not activity_access.sees_codes(two.villager, listed)
    assert activity_access.sees_codes(two.official, listed)
    with pytest.raises(VillageNotFound):
        activity_access.listed_village(session, two.other_official, two.village)


def test_a_deduction_is_seen_and_appealed_by_its_household_only(session: Session, two: Two) -> None:
    recorded = deductions.record(
        session,
        two.official,
        household_id=two.neighbour,
        matter_code="breaking_village_rules",
        reason="Blocked the lane",
        evidence_ids=(),
        idempotency_key=None,
    )
    deduction = recorded.value
    assert deduction.id is not None
    assert [d.id for d in access.visible_deductions(session, two.neighbour_villager)] == [deduction.id]
    assert access.visible_deductions(session, two.villager) == []
    assert access.visible_deductions(session, two.other_official) == []
    assert access.may_appeal(two.neighbour_villager, deduction)
    assert not access.may_appeal(two.villager, deduction)
    assert not access.may_appeal(two.official, deduction)  # staff never appeal for a household
    with pytest.raises(DeductionNotFound):
        access.visible_deduction(session, two.villager, deduction.id)
    with pytest.raises(HouseholdNotFound):  # recording one is for the household's own village's officials
        deductions.record(
            session,
            two.other_official,
            household_id=two.neighbour,
            matter_code="breaking_village_rules",
            reason="Blocked the lane",
            evidence_ids=(),
            idempotency_key=None,
        )


def test_a_photo_is_seen_by_its_household_and_its_villages_staff(session: Session, two: Two) -> None:
    photo = EvidenceFile(
        sha256="0" * 64,
        size=1,
        content_type="image/jpeg",
        county_id=two.villager.county_id,
        village_id=two.village,
        household_id=two.home,
        uploaded_by=two.villager.actor,
    )
    session.add(photo)
    session.flush()
    assert photo.id is not None
    assert access.visible_evidence(session, two.villager, photo.id).id == photo.id
    assert access.visible_evidence(session, two.official, photo.id).id == photo.id
    for outsider in (two.neighbour_villager, two.away_villager, two.other_official):
        with pytest.raises(EvidenceNotFound):
            access.visible_evidence(session, outsider, photo.id)
