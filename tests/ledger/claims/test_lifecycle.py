"""The claim's transition table (ledger/claims/lifecycle.py): every transition allowed from exactly the states the
table names, refused from every other with the code the API answers, and the table as docs/claims.md states it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ledger.claims import lifecycle
from ledger.claims.lifecycle import NEW, Transition
from ledger.claims.models import Claim, ClaimStatus
from ledger.core.errors import DomainError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "claims.md"

ALLOWED = {
    Transition.SUBMIT: {NEW},
    Transition.SUBMIT_APPROVED: {NEW},
    Transition.APPROVE: {"pending"},
    Transition.REJECT: {"pending"},
    Transition.EXPIRE: {"pending"},
    Transition.SETTLE: {"approved"},
    Transition.REVOKE: {"approved"},
    Transition.REINSTATE: {"rejected"},
}
TARGET = {
    Transition.SUBMIT: "pending",
    Transition.SUBMIT_APPROVED: "approved",
    Transition.APPROVE: "approved",
    Transition.REJECT: "rejected",
    Transition.EXPIRE: "expired",
    Transition.SETTLE: "settled",
    Transition.REVOKE: "revoked",
    Transition.REINSTATE: "approved",
}
REFUSAL = {
    Transition.SUBMIT: "claim_already_decided",
    Transition.SUBMIT_APPROVED: "claim_already_decided",
    Transition.APPROVE: "claim_already_decided",
    Transition.REJECT: "claim_already_decided",
    Transition.EXPIRE: "claim_already_decided",
    Transition.SETTLE: "not_in_notice",
    Transition.REVOKE: "not_in_notice",
    Transition.REINSTATE: "not_appealable",
}
STATES = [NEW, *(status.value for status in ClaimStatus)]


def a_claim(**fields: Any) -> Claim:
    return Claim(
        id=1,
        county_id=1,
        village_id=1,
        household_id=1,
        matter_id=1,
        points=5,
        period_key="once",
        entered_by="user:1",
        **fields,
    )


def claim_in(state: str) -> Claim:
    """A claim row as it stands in `state` (its journal transaction ids as the services leave them)."""
    if state == NEW:
        return a_claim(status=ClaimStatus.PENDING.value)
    claim = a_claim(status=state, pending_tx_id=10)
    if state in ("approved", "settled", "revoked"):
        claim.approval_tx_id = 11
    return claim


def test_the_table_has_every_transition() -> None:
    assert set(lifecycle.TRANSITIONS) == set(Transition) == set(ALLOWED)
    assert {t: step.target.value for t, step in lifecycle.TRANSITIONS.items()} == TARGET


@pytest.mark.parametrize("transition", list(Transition))
@pytest.mark.parametrize("state", STATES)
def test_a_transition_is_allowed_exactly_from_its_states(transition: Transition, state: str) -> None:
    claim = claim_in(state)
    assert lifecycle.state_of(claim) == state
    if state in ALLOWED[transition]:
        assert lifecycle.allows(claim, transition)
        lifecycle.check(claim, transition)
    else:
        assert not lifecycle.allows(claim, transition)
        with pytest.raises(DomainError) as refused:
            lifecycle.check(claim, transition)
        assert refused.value.code == REFUSAL[transition]
        assert claim.status == (ClaimStatus.PENDING if state == NEW else state)  # a refusal changes nothing


def test_a_pending_claim_whose_transfer_is_gone_cannot_be_decided() -> None:
    claim = a_claim(status=ClaimStatus.PENDING.value, pending_tx_id=None, approval_tx_id=11)
    for transition in (Transition.APPROVE, Transition.REJECT, Transition.EXPIRE, Transition.SUBMIT):
        assert not lifecycle.allows(claim, transition)


def test_an_approval_without_its_transfer_is_not_in_notice() -> None:
    claim = a_claim(status=ClaimStatus.APPROVED.value, approval_tx_id=None)
    with pytest.raises(lifecycle.NotInNotice):
        lifecycle.check(claim, Transition.REVOKE)


def test_the_docs_state_the_table() -> None:
    """docs/claims.md lists each transition as `| `name` | from | to | journal | notification |`."""
    rows = {
        match[1]: (
            set(match[2].replace("`", "").split(", ")),
            match[3].strip("` "),
            match[4].strip(),
            match[5].strip("` "),
        )
        for match in re.finditer(
            r"^\| `(\w+)` \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|$", DOCS.read_text(), re.M
        )
    }
    assert set(rows) == {t.value for t in Transition}
    for transition, step in lifecycle.TRANSITIONS.items():
        sources, target, journal, notification = rows[transition.value]
        assert sources == set(step.sources), transition
        assert target == step.target.value, transition
        assert journal == step.journal.value, transition
        assert notification == (step.notification or "—"), transition
