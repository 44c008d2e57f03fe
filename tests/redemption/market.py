"""A small market for redemption domain tests: one county with two villages, households with villager users, the
county admin, and a merchant, a clinic and a bank, each acting through a staff user. Built through the same
services and rows the product uses; the tests then call redemption's services directly with a Session."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from ledger.catalogue import service as catalogue
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.identity import principal
from ledger.identity.models import Partner, PartnerKind, Role, User
from ledger.identity.principal import Principal
from ledger.journal import accounts, queries
from ledger.journal import service as journal
from ledger.journal.models import AccountKind
from ledger.journal.rules import Balance
from ledger.tenancy import Household
from redemption import offers
from redemption.models import OfferKind
from tests import factories

_serial = itertools.count(1)
MATTERS = ["garbage_sorting", "volunteering", "elder_care", "village_meeting"]


@dataclass(frozen=True)
class Market:
    village_a: factories.VillageFixture
    village_b: factories.VillageFixture  # same county as A
    household_a1: int
    household_a2: int
    household_b1: int
    villager_a1: Principal  # a member of household A1
    villager_a2: Principal
    villager_b1: Principal
    admin: Principal  # the county admin
    mart: Principal  # a merchant's staff
    clinic: Principal
    bank: Principal
    mart_id: int  # partner ids
    clinic_id: int
    bank_id: int


def build_market(engine: Engine) -> Market:
    with unit_of_work(engine) as session:
        a = factories.create_village(session)
        b = factories.create_village(session, county_id=a.county_id)
        a1, _ = factories.create_household(session, a.village_id)
        a2, _ = factories.create_household(session, a.village_id)
        b1, _ = factories.create_household(session, b.village_id)
        villagers = [_load(session, factories.create_villager(session, h), Role.VILLAGER) for h in (a1, a2, b1)]
        admin = User(role=Role.COUNTY_ADMIN, county_id=a.county_id, username=f"admin-{next(_serial)}", display_name="A")
        session.add(admin)
        session.flush()
        assert admin.id is not None
        partners = [
            _partner(session, a.county_id, kind)
            for kind in (PartnerKind.MERCHANT, PartnerKind.CLINIC, PartnerKind.BANK)
        ]
        catalogue.load_default(session, county_id=a.county_id)
        return Market(
            village_a=a,
            village_b=b,
            household_a1=a1,
            household_a2=a2,
            household_b1=b1,
            villager_a1=villagers[0],
            villager_a2=villagers[1],
            villager_b1=villagers[2],
            admin=_load(session, admin.id, Role.COUNTY_ADMIN),
            mart=partners[0][1],
            clinic=partners[1][1],
            bank=partners[2][1],
            mart_id=partners[0][0],
            clinic_id=partners[1][0],
            bank_id=partners[2][0],
        )


def _load(session: Session, user_id: int, role: str) -> Principal:
    return principal.load(session, subject=f"user:{user_id}", role=role, scopes=())


def _partner(session: Session, county_id: int, kind: str) -> tuple[int, Principal]:
    n = next(_serial)
    partner = Partner(county_id=county_id, kind=kind, code=f"{kind}-{n}", name=f"{kind} {n}")
    session.add(partner)
    session.flush()
    assert partner.id is not None
    staff = User(
        role=Role.PARTNER_STAFF,
        county_id=county_id,
        username=f"{kind}-staff-{n}",
        display_name=f"{kind} staff",
        partner_id=partner.id,
    )
    session.add(staff)
    session.flush()
    assert staff.id is not None
    return partner.id, _load(session, staff.id, Role.PARTNER_STAFF)


# --- points --------------------------------------------------------------------------------------------------


def give_points(engine: Engine, household_id: int, points: int) -> None:
    """Settled, spendable points, straight from the village's issuance account."""
    with unit_of_work(engine) as session:
        household = session.get(Household, household_id)
        assert household is not None
        issuance = accounts.of_village(session, household.village_id, AccountKind.ISSUANCE)
        own = accounts.of_household(session, household_id)
        assert issuance.id is not None and own.id is not None
        journal.transfer(session, debit=issuance.id, credit=own.id, amount=points, reason="test_award", actor="test")


def give_history(engine: Engine, household_id: int, months: int = 14) -> None:
    """Settled points in each of the last `months` months, in several kinds of activity: fourteen make an AA."""
    now = utcnow()
    with unit_of_work(engine) as session:
        household = session.get(Household, household_id)
        assert household is not None
        issuance = accounts.of_village(session, household.village_id, AccountKind.ISSUANCE).id
        own = accounts.of_household(session, household_id).id
        assert issuance is not None and own is not None
        for month in range(months):
            journal.transfer(
                session,
                debit=issuance,
                credit=own,
                amount=6,
                reason=MATTERS[month % len(MATTERS)],
                actor="test",
                effective_at=now - timedelta(days=30 * month + 1),
            )


def balance(engine: Engine, household_id: int) -> Balance:
    """The household's balance as the household sees it (posted, held, available)."""
    with unit_of_work(engine) as session:
        own = accounts.of_household(session, household_id).id
        assert own is not None
        return queries.balance(session, own)


def available(engine: Engine, household_id: int) -> int:
    return balance(engine, household_id).available


# --- offers --------------------------------------------------------------------------------------------------


def voucher_terms(*, now: datetime | None = None, **changes: Any) -> offers.OfferTerms:
    """A 50-yuan voucher for 100 points, open from yesterday for 90 days, unless `changes` say otherwise."""
    now = now or utcnow()
    base = offers.OfferTerms(
        kind=OfferKind.VOUCHER,
        title="超市代金券 50元",
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=90),
        value_fen=5000,
        cost_points=100,
    )
    return replace(base, **changes)


def approved_offer(engine: Engine, market: Market, who: Principal, offer_terms: offers.OfferTerms) -> int:
    """An offer proposed by the partner `who` and approved by the county admin. Returns its id."""
    with unit_of_work(engine) as session:
        offer = offers.propose(session, who, offer_terms)
        assert offer.id is not None
        offers.decide(session, market.admin, offer.id, approve=True, note=None)
        return offer.id
