"""Deductions (ledger/claims/deductions.py), driven directly: what the available balance covers is taken at once,
the rest is recorded as unpaid and never makes the balance negative; points in notice are not touched; an upheld
appeal revokes the deduction and gives back what was taken."""

from __future__ import annotations

import pytest

from ledger.claims import deductions, disputes, notice
from ledger.claims.models import Deduction, DeductionStatus
from ledger.core.errors import Forbidden
from ledger.journal.models import AccountKind
from tests.ledger.claims.conftest import World, days_later, id_of


def deduct(world: World, n: int = 0, *, key: str | None = None) -> Deduction:
    return deductions.record(
        world.session,
        world.officials[0],
        household_id=world.homes[n],
        matter_code="breaking_village_rules",  # 5 points
        reason="rubbish in the lane",
        evidence_ids=(),
        idempotency_key=key,
    ).value


def settled(world: World, n: int = 0) -> None:
    world.approved(n)
    assert notice.settle_due(world.session, now=days_later(8)) == 1


def test_a_deduction_within_the_balance_is_taken_in_full(world: World) -> None:
    settled(world)
    deduction = deduct(world)
    assert (deduction.points, deduction.posted, deduction.unpaid) == (5, 5, 0)
    assert world.points(0).posted == 0
    assert world.told(0)[-1] == "deduction_recorded"


def test_what_the_balance_cannot_cover_is_recorded_unpaid(world: World) -> None:
    world.approved(0)  # 5 points in notice: not the household's yet, so not taken
    deduction = deduct(world)
    assert (deduction.posted, deduction.unpaid, deduction.transaction_id) == (0, 5, None)
    assert world.points(0).posted == 0  # never negative
    assert world.points(0, AccountKind.NOTICE).posted == 5


def test_a_deduction_is_split_between_taken_and_unpaid(world: World) -> None:
    settled(world)
    first = deduct(world)
    assert (first.posted, first.unpaid) == (5, 0)
    second = deduct(world)
    assert (second.posted, second.unpaid) == (0, 5)


def test_an_upheld_appeal_revokes_the_deduction_and_gives_back_what_was_taken(world: World) -> None:
    settled(world)
    deduction = deduct(world)
    appeal = disputes.appeal(
        world.session, world.villagers[0], deduction_id=id_of(deduction), reason="it was not us", idempotency_key=None
    ).value
    disputes.resolve(
        world.session, world.officials[1], dispute_id=id_of(appeal), upheld=True, note=None, idempotency_key=None
    )
    assert deduction.status == DeductionStatus.REVOKED and deduction.reversal_tx_id is not None
    assert world.points(0).posted == 5
    with pytest.raises(disputes.NotAppealable):  # revoked: nothing left to appeal
        disputes.appeal(
            world.session, world.villagers[0], deduction_id=id_of(deduction), reason="again", idempotency_key=None
        )


def test_a_dismissed_appeal_leaves_the_deduction_in_force(world: World) -> None:
    settled(world)
    deduction = deduct(world)
    appeal = disputes.appeal(
        world.session, world.villagers[0], deduction_id=id_of(deduction), reason="too much", idempotency_key=None
    ).value
    disputes.resolve(
        world.session, world.officials[1], dispute_id=id_of(appeal), upheld=False, note=None, idempotency_key=None
    )
    assert deduction.status == DeductionStatus.IN_FORCE
    assert world.points(0).posted == 0


def test_a_replayed_key_records_the_deduction_once(world: World) -> None:
    settled(world)
    first = deductions.record(
        world.session,
        world.officials[0],
        household_id=world.homes[0],
        matter_code="breaking_village_rules",
        reason="rubbish",
        evidence_ids=(),
        idempotency_key="deduct-1",
    )
    again = deductions.record(
        world.session,
        world.officials[0],
        household_id=world.homes[0],
        matter_code="breaking_village_rules",
        reason="rubbish",
        evidence_ids=(),
        idempotency_key="deduct-1",
    )
    assert (first.replayed, again.replayed) == (False, True)
    assert again.value.id == first.value.id
    assert world.points(0).posted == 0  # taken once


def test_only_officials_record_deductions(world: World) -> None:
    with pytest.raises(Forbidden):
        deductions.record(
            world.session,
            world.villagers[1],
            household_id=world.homes[0],
            matter_code="breaking_village_rules",
            reason="x",
            evidence_ids=(),
            idempotency_key=None,
        )
