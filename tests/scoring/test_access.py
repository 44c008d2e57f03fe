"""Who may read a rating (scoring/access.py), asked directly, without HTTP: a bank only under an active consent
the household gave it; a household only its own consents and review requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import Forbidden
from ledger.identity.models import Partner, PartnerKind
from ledger.identity.principal import PARTNER, Principal
from scoring import access, lookups
from scoring import consent as consents
from tests import factories


@dataclass(frozen=True)
class Credit:
    household_id: int
    villager: Principal
    neighbour: Principal  # a member of another household
    bank: Principal  # the bank the household gave consent to
    other_bank: Principal
    consent_id: str


def _bank(session: Session, county_id: int) -> Principal:
    code = f"bank-{uuid.uuid4().hex[:8]}"
    partner = Partner(county_id=county_id, kind=PartnerKind.BANK, code=code, name=code)
    session.add(partner)
    session.flush()
    return Principal(
        subject=f"client:{code}",
        role=PARTNER,
        county_id=county_id,
        partner_id=partner.id,
        partner_kind=PartnerKind.BANK,
        scopes=frozenset({"credit:read"}),
    )


@pytest.fixture
def credit(engine: Engine) -> Credit:
    with unit_of_work(engine) as session:
        place = factories.create_village(session)
        household, _ = factories.create_household(session, place.village_id)
        other_household, _ = factories.create_household(session, place.village_id)
        villager = factories.principal_of(session, factories.create_villager(session, household))
        neighbour = factories.principal_of(session, factories.create_villager(session, other_household))
        bank, other_bank = _bank(session, place.county_id), _bank(session, place.county_id)
        assert bank.partner_id is not None
        consent = consents.grant(
            session, villager, partner_id=bank.partner_id, purpose="loan_preapproval", scope="grade"
        )
        consent_id = consent.id  # read inside the unit of work: it expires when it commits
    return Credit(household, villager, neighbour, bank, other_bank, consent_id)


def test_a_bank_without_consent_cannot_see_a_rating(engine: Engine, credit: Credit) -> None:
    with unit_of_work(engine) as session:
        now = utcnow()
        with pytest.raises(consents.ConsentRequired):
            access.readable_rating(
                session, credit.other_bank, household_id=credit.household_id, consent_id=credit.consent_id, now=now
            )
        with pytest.raises(consents.ConsentRequired):  # the lookup service asks the same rule
            lookups.lookup(
                session,
                credit.other_bank,
                household_id=credit.household_id,
                consent_id=credit.consent_id,
                limits=lookups.Limits(),
            )
        shown = access.readable_rating(
            session, credit.bank, household_id=credit.household_id, consent_id=credit.consent_id, now=now
        )
        assert shown.id == credit.consent_id


def test_a_revoked_consent_lets_the_bank_see_nothing(engine: Engine, credit: Credit) -> None:
    with unit_of_work(engine) as session:
        consents.revoke(session, credit.villager, consent_id=credit.consent_id)
        with pytest.raises(consents.ConsentRequired):
            access.readable_rating(
                session, credit.bank, household_id=credit.household_id, consent_id=credit.consent_id, now=utcnow()
            )


def test_only_a_bank_reads_ratings(engine: Engine, credit: Credit) -> None:
    with unit_of_work(engine) as session, pytest.raises(Forbidden):
        access.readable_rating(
            session, credit.villager, household_id=credit.household_id, consent_id=credit.consent_id, now=utcnow()
        )


def test_a_household_sees_and_revokes_only_its_own_consents(engine: Engine, credit: Credit) -> None:
    with unit_of_work(engine) as session:
        assert [c.id for c in access.household_consents(session, credit.villager)] == [credit.consent_id]
        assert access.household_consents(session, credit.neighbour) == []
        with pytest.raises(consents.ConsentNotFound):
            consents.revoke(session, credit.neighbour, consent_id=credit.consent_id)
        with pytest.raises(Forbidden):
            access.household_consents(session, credit.bank)
