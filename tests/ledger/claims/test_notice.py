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
