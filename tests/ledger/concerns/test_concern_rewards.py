"""Points for a useful report: a hazard confirmed real earns its reporter the matter's points through an award,
on the notice board and settled by the schedule after the notice period; once, never for a duplicate's reporter,
a false report or an anonymous one; a cap reached leaves the resolution standing and the timeline saying why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlmodel import col

from ledger import jobs
from ledger.claims import review
from ledger.claims import service as claims
from ledger.claims.models import Claim
from ledger.concerns import service, setup
from ledger.concerns.models import Concern
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import DomainError
from ledger.identity.models import User
from ledger.journal import accounts, queries
from ledger.tenancy import Person
from tests import factories
from tests.ledger.concerns.conftest import World, make_world

id_of = factories.id_of


def points(world: World, n: int) -> int:
    account = accounts.of_household(world.session, world.homes[n])
    return queries.balance(world.session, id_of(account)).posted


def claims_of(world: World, n: int) -> list[Claim]:
    return list(world.session.scalars(select(Claim).where(col(Claim.household_id) == world.homes[n])).all())


def test_a_confirmed_hazard_earns_its_reporter_points_after_the_notice_period_once(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        world = make_world(session)
        concern = world.resolved(0)
        concern_id = id_of(concern)
        [claim] = claims_of(world, 0)
        assert (claim.status, claim.points, claim.award_reason) == ("approved", 3, "随手拍：道路隐患")
        assert concern.reward_claim_id == claim.id
        assert world.events(concern)[-1].action == "reward"
        assert points(world, 0) == 0  # in notice, not yet the household's
        # not satisfied: reopened, dispatched and resolved as real again earns nothing more
        service.evaluate(session, world.villagers[0], concern_id, satisfied=False, comment="not yet")
        service.dispatch(session, world.supervisor, concern_id, handler_id=world.handler_id)
        service.resolve(
            session,
            world.handler_member,
            concern_id,
            note="Done again",
            judgement="real",
            evidence_ids=(world.photo(world.handler_member),),
        )
        assert len(claims_of(world, 0)) == 1
        home = world.homes[0]
    later = utcnow() + timedelta(days=8)
    jobs.tick(engine, now=later)
    jobs.tick(engine, now=later + timedelta(hours=1))
    with unit_of_work(engine) as session:
        account = accounts.of_household(session, home)
        assert queries.balance(session, id_of(account)).posted == 3
        claims = session.scalars(select(Claim).where(col(Claim.household_id) == home)).all()
        assert [c.status for c in claims] == ["settled"]
        concern_row = session.get(Concern, concern_id)
        assert concern_row is not None and concern_row.status in ("resolved", "closed")


def test_no_points_for_a_false_report_a_duplicate_an_anonymous_one_or_a_category_without_a_matter(
    world: World,
) -> None:
    place = setup.add_place(world.session, world.officials[0], village_id=world.village.village_id, name="Well")
    first = world.report(0, place_id=id_of(place))
    duplicate = world.report(1, place_id=id_of(place))
    assert duplicate.merged_into_id == first.id
    service.accept(world.session, world.officials[0], id_of(first))
    service.dispatch(world.session, world.officials[0], id_of(first), handler_id=world.handler_id)
    service.resolve(
        world.session,
        world.handler_member,
        id_of(first),
        note="Fixed",
        judgement="real",
        evidence_ids=(world.photo(world.handler_member),),
    )
    assert len(claims_of(world, 0)) == 1 and claims_of(world, 1) == []  # only the first reporter
    false = world.resolved(2, judgement="false", text="Made up")
    assert claims_of(world, 2) == [] and false.reward_claim_id is None
    assert [e.action for e in world.events(false)][-1] == "resolve"
    anonymous = world.resolved(2, anonymous=True, text="Anonymous hole")
    assert claims_of(world, 2) == [] and world.events(anonymous)[-1].note == "No points: the report is anonymous."
    question = world.resolved(2, category_code="public_service", kind="question", text="Opening hours?")
    assert claims_of(world, 2) == [] and world.events(question)[-1].action == "resolve"


def test_a_reached_cap_leaves_the_resolution_standing_and_says_why(world: World) -> None:
    for n in range(3):  # report_hazard: at most 3 a month
        world.resolved(1, text=f"Hazard {n}")
    assert len(claims_of(world, 1)) == 3
    fourth = world.resolved(1, text="Hazard 4")
    assert fourth.status == "resolved" and fourth.reward_claim_id is None
    assert world.events(fourth)[-1].note == "No points: cap_reached."
    assert len(claims_of(world, 1)) == 3


def test_staff_resolving_their_own_households_report_leave_the_award_to_another_official(world: World) -> None:
    person = Person(household_id=world.homes[0], name="Grid member at home")
    world.session.add(person)
    world.session.flush()
    user = world.session.get(User, world.handler_member.user_id)
    assert user is not None
    user.person_id = person.id
    world.session.flush()
    own = factories.principal_of(world.session, id_of(user))
    concern = world.dispatched(0)
    photo = world.photo(own, world.village.village_id)
    with pytest.raises(DomainError) as refused:
        service.resolve(world.session, own, id_of(concern), note="Fixed", judgement="real", evidence_ids=(photo,))
    assert refused.value.code == "conflict_of_interest"
    assert concern.status == "dispatched" and claims_of(world, 0) == []
    # the award itself, entered for their own household, is never approved on their word
    claim = claims.submit_report_award(
        world.session,
        own,
        household_id=world.homes[0],
        matter_code="report_hazard",
        reason="随手拍：道路隐患",
        evidence_ids=(photo,),
    )
    assert claim.status == "pending"
    review.approve(world.session, world.officials[0], claim_id=id_of(claim), idempotency_key=None)
    assert claim.status == "approved"
