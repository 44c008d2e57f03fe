"""The pure rules of the journal: no database, no fixtures."""

from typing import Any

import pytest

from ledger.journal import rules
from ledger.journal.errors import InsufficientPoints, InvalidAmount, UnbalancedTransaction
from ledger.journal.models import AccountKind, TxKind
from ledger.journal.rules import Balance, Leg


def test_postings_must_sum_to_zero() -> None:
    with pytest.raises(UnbalancedTransaction) as err:
        rules.check_legs([Leg(1, -5), Leg(2, 4)])
    assert err.value.detail["sum"] == -1


@pytest.mark.parametrize("legs", [[Leg(1, 5)], [], [Leg(1, -5), Leg(1, 5)]])
def test_a_transaction_needs_two_distinct_accounts(legs: list[Leg]) -> None:
    with pytest.raises(UnbalancedTransaction):
        rules.check_legs(legs)


@pytest.mark.parametrize("amount", [0, -3, 1.5, True, "5", 10**13])
def test_transfer_amount_is_a_positive_whole_number(amount: object) -> None:
    with pytest.raises(InvalidAmount):
        rules.check_legs(rules.transfer_legs(debit=1, credit=2, amount=amount))  # type: ignore[arg-type]  # wrong types on purpose


def test_pending_debit_reserves_and_cannot_overdraw() -> None:
    household = Balance(posted=10)
    apply: dict[str, Any] = dict(account_kind=AccountKind.HOUSEHOLD, involves_issuance=False, account_id=7)
    rules.apply(household, tx_kind=TxKind.PENDING, amount=-8, **apply)
    assert (household.posted, household.pending_debit, household.available) == (10, 8, 2)
    with pytest.raises(InsufficientPoints) as err:
        rules.apply(household, tx_kind=TxKind.TRANSFER, amount=-3, **apply)
    assert err.value.detail == {"account_id": 7, "available": 2, "amount": 3}
    rules.apply(household, tx_kind=TxKind.VOID_PENDING, amount=-8, **apply)
    assert (household.posted, household.pending_debit, household.available) == (10, 0, 10)


def test_issuance_may_go_negative_and_earned_counts_only_issued_points() -> None:
    issuance, household = Balance(), Balance()
    rules.apply(
        issuance,
        tx_kind=TxKind.TRANSFER,
        amount=-5,
        account_kind=AccountKind.ISSUANCE,
        involves_issuance=True,
        account_id=1,
    )
    rules.apply(
        household,
        tx_kind=TxKind.TRANSFER,
        amount=5,
        account_kind=AccountKind.HOUSEHOLD,
        involves_issuance=True,
        account_id=2,
    )
    assert (issuance.posted, household.posted, household.earned, issuance.earned) == (-5, 5, 5, 0)
    # spending at a partner does not touch earned
    rules.apply(
        household,
        tx_kind=TxKind.TRANSFER,
        amount=-2,
        account_kind=AccountKind.HOUSEHOLD,
        involves_issuance=False,
        account_id=2,
    )
    assert (household.posted, household.earned) == (3, 5)


def test_pending_credit_is_not_spendable_until_posted() -> None:
    household = Balance()
    kw: dict[str, Any] = dict(account_kind=AccountKind.HOUSEHOLD, involves_issuance=True, account_id=2)
    rules.apply(household, tx_kind=TxKind.PENDING, amount=5, **kw)
    assert (household.available, household.pending_credit, household.earned) == (0, 5, 0)
    rules.apply(household, tx_kind=TxKind.POST_PENDING, amount=5, **kw)
    assert (household.available, household.pending_credit, household.earned) == (5, 0, 5)
