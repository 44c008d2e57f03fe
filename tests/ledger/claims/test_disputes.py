"""Objections and appeals (ledger/claims/disputes.py), driven directly: what an upheld or dismissed objection or
appeal does to the claim, to the journal and to the notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.claims import disputes, notice, review
from ledger.claims.models import Claim, ClaimStatus, Dispute
from ledger.claims.service import ClaimNotFound
from ledger.journal.models import AccountKind
from tests.ledger.claims.conftest import World, days_later, id_of, when


def objection(world: World, claim: Claim, n: int = 1) -> Dispute:
    return disputes.object_to(
        world.session,
        world.villagers[n],
        claim_id=id_of(claim),
        reason="they were not there",
        idempotency_key=None,
    ).value


def resolve(world: World, dispute: Dispute, *, upheld: bool) -> Dispute:
    return disputes.resolve(
        world.session,
        world.officials[1],
        dispute_id=id_of(dispute),
        upheld=upheld,
        note="looked",
        idempotency_key=None,
    ).value


def rejected(world: World, n: int = 0) -> Claim:
    claim = world.claim(n)
    return review.reject(
        world.session,
        world.officials[0],
        claim_id=id_of(claim),
        reason="not on the list",
        idempotency_key=None,
    ).value


def test_an_upheld_objection_revokes_the_claim_and_reverses_its_approval(world: World) -> None:
    claim = world.approved(0)
    resolved = resolve(world, objection(world, claim), upheld=True)
    assert resolved.status == "upheld"
    assert claim.status == ClaimStatus.REVOKED and claim.reversal_tx_id is not None
    assert world.points(0, AccountKind.NOTICE).posted == 0
    assert "claim_revoked" in world.told(0)
    assert world.told(1)[-1] == "objection_upheld"  # the objector is told
    assert notice.settle_due(world.session, now=days_later(8)) == 0
    assert world.points(0).posted == 0


def test_a_dismissed_objection_lets_the_claim_settle(world: World) -> None:
    claim = world.approved(0)
    resolve(world, objection(world, claim), upheld=False)
    assert claim.status == ClaimStatus.APPROVED
    assert notice.settle_due(world.session, now=days_later(8)) == 1
    assert claim.status == ClaimStatus.SETTLED and world.points(0).posted == 5


def test_an_objection_is_resolved_once(world: World) -> None:
    dispute = objection(world, world.approved(0))
    resolve(world, dispute, upheld=False)
    with pytest.raises(disputes.DisputeAlreadyResolved):
        resolve(world, dispute, upheld=True)


def test_nobody_objects_to_their_own_households_claim(world: World) -> None:
    with pytest.raises(disputes.OwnEntry):
        objection(world, world.approved(0), n=0)


def test_an_upheld_appeal_approves_a_rejected_claim_into_notice(world: World) -> None:
    claim = rejected(world)
    assert world.points(0, AccountKind.NOTICE).pending_credit == 0  # the pending transfer was voided
    appeal = disputes.appeal(
        world.session, world.villagers[0], claim_id=id_of(claim), reason="I was there", idempotency_key=None
    ).value
    resolve(world, appeal, upheld=True)
    assert claim.status == ClaimStatus.APPROVED and claim.approval_tx_id is not None
    assert when(claim.notice_until) > when(claim.decided_at)
    assert world.points(0, AccountKind.NOTICE).posted == 5
    assert world.told(0)[-2:] == ["claim_approved", "appeal_upheld"]
    assert notice.settle_due(world.session, now=days_later(8)) == 1
    assert world.points(0).posted == 5


def test_a_dismissed_appeal_leaves_the_claim_rejected(world: World) -> None:
    claim = rejected(world)
    appeal = disputes.appeal(
        world.session, world.villagers[0], claim_id=id_of(claim), reason="…", idempotency_key=None
    ).value
    resolve(world, appeal, upheld=False)
    assert claim.status == ClaimStatus.REJECTED
    assert world.points(0, AccountKind.NOTICE).posted == 0
    assert world.told(0)[-1] == "appeal_dismissed"


def test_only_a_rejected_claim_is_appealed_by_its_household_within_the_window(world: World) -> None:
    approved = world.approved(0)
    with pytest.raises(disputes.NotAppealable):
        disputes.appeal(world.session, world.villagers[0], claim_id=id_of(approved), reason="why", idempotency_key=None)
    claim = rejected(world, 1)
    with pytest.raises(ClaimNotFound):  # not this household's: no such claim for them
        disputes.appeal(world.session, world.villagers[2], claim_id=id_of(claim), reason="why", idempotency_key=None)
    late = when(claim.decided_at) + timedelta(days=7, seconds=1)
    with pytest.raises(disputes.AppealWindowClosed):
        disputes.appeal(
            world.session, world.villagers[1], claim_id=id_of(claim), reason="why", idempotency_key=None, now=late
        )
