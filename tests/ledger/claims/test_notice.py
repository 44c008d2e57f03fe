"""The notice board and settlement (ledger/claims/notice.py), driven directly: approved points wait in notice, an
open objection holds them there, and after the notice period they settle into the household's account once."""

from __future__ import annotations

import pytest

from ledger.claims import disputes, notice
from ledger.claims.models import ClaimStatus
from ledger.journal.models import AccountKind
from tests.ledger.claims.conftest import World, days_later, id_of, when


def test_an_approved_claim_waits_in_notice_and_settles_after_the_notice_period(world: World) -> None:
    claim = world.approved(0)
    assert claim.status == ClaimStatus.APPROVED
    assert world.points(0, AccountKind.NOTICE).posted == 5
    assert world.points(0).posted == 0  # not spendable while on the board
    assert [e.id for e in notice.board(world.session, world.village.village_id)] == [claim.id]

    assert notice.settle_due(world.session, now=days_later(6)) == 0  # the county's 7 days are not over
    assert claim.status == ClaimStatus.APPROVED

    assert notice.settle_due(world.session, now=days_later(8)) == 1
    assert claim.status == ClaimStatus.SETTLED
    assert claim.settlement_tx_id is not None and claim.settled_at is not None
    assert (world.points(0).posted, world.points(0, AccountKind.NOTICE).posted) == (5, 0)
    assert world.told(0) == ["claim_approved", "claim_settled"]
    assert notice.board(world.session, world.village.village_id) == []

    assert notice.settle_due(world.session, now=days_later(9)) == 0  # settled once
    assert world.points(0).posted == 5


def test_a_pending_claim_does_not_settle(world: World) -> None:
    claim = world.claim(0)
    assert notice.settle_due(world.session, now=days_later(30)) == 0
    assert claim.status == ClaimStatus.PENDING
    assert world.points(0, AccountKind.NOTICE).pending_credit == 5


def test_an_objection_is_taken_only_within_the_notice_window(world: World) -> None:
    claim = world.approved(0)
    closes = when(claim.notice_until)
    with pytest.raises(disputes.NotInNotice):
        disputes.object_to(
            world.session,
            world.villagers[1],
            claim_id=id_of(claim),
            reason="late",
            idempotency_key=None,
            now=closes,
        )
    pending = world.claim(2)
    with pytest.raises(disputes.NotInNotice):  # not on the board yet
        disputes.object_to(
            world.session, world.villagers[1], claim_id=id_of(pending), reason="no", idempotency_key=None
        )
    opened = disputes.object_to(
        world.session,
        world.villagers[1],
        claim_id=id_of(claim),
        reason="I never saw them there",
        idempotency_key=None,
    ).value
    assert opened.kind == "objection" and opened.status == "open"
    assert world.told(0)[-1] == "objection_raised"


def test_an_open_objection_holds_the_claim_in_notice(world: World) -> None:
    claim = world.approved(0)
    disputes.object_to(
        world.session, world.villagers[1], claim_id=id_of(claim), reason="not true", idempotency_key=None
    )
    assert notice.settle_due(world.session, now=days_later(8)) == 0
    assert claim.status == ClaimStatus.APPROVED
    assert world.points(0).posted == 0
    assert [e.disputed for e in notice.board(world.session, world.village.village_id)] == [True]


def test_a_claim_played_at_earlier_moments_takes_effect_then_and_a_schedule_run_ahead_dates_nothing_later(
    world: World,
) -> None:
    """What happened on earlier days (the demo's year of history) is recorded through the same services with
    their `now`: each journal entry takes effect at that moment, written by the journal's clock. A step run ahead
    of the clock (`shanzhi tick --days-ahead`) takes effect as of the clock, never in the future."""
    from datetime import timedelta

    from ledger.activities import service as activities
    from ledger.claims import review
    from ledger.claims import service as claims
    from ledger.core.base import utcnow
    from ledger.journal import service as journal
    from ledger.tenancy import Village
    from tests.ledger.claims.conftest import KEYS

    now = utcnow()
    village = world.session.get(Village, world.village.village_id)
    assert village is not None
    spring = activities.create(
        world.session,
        village=village,
        matter_code="volunteering",
        title="Spring clean-up",
        starts_at=now - timedelta(days=60),
        ends_at=now - timedelta(days=50),
        actor="test",
    )
    submitted, decided = now - timedelta(days=55), now - timedelta(days=54)
    claim = claims.submit_by_code(
        world.session,
        world.villagers[0],
        KEYS,
        token=activities.printed_code(KEYS, spring),
        details=claims.Details(),
        idempotency_key=None,
        now=submitted,
    ).value
    review.approve(world.session, world.officials[0], claim_id=id_of(claim), idempotency_key=None, now=decided)
    assert when(claim.notice_until) == decided + timedelta(days=7)
    assert notice.settle_due(world.session, now=decided + timedelta(days=8)) == 1
    assert when(claim.settled_at) == decided + timedelta(days=8)
    entries = [
        journal.get_transaction(world.session, tx_id)
        for tx_id in (claim.pending_tx_id, claim.approval_tx_id, claim.settlement_tx_id)
        if tx_id is not None
    ]
    assert [when(tx.effective_at) for tx in entries] == [submitted, decided, decided + timedelta(days=8)]
    assert all(when(tx.created_at) >= now for tx in entries)  # written today, by the journal's clock

    today = world.approved(1)
    assert notice.settle_due(world.session, now=days_later(8)) == 1  # run ahead: settled as of the clock
    assert when(today.settled_at) <= utcnow()
