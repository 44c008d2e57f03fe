"""Pure rules of the journal: plain values in, plain values or an error out. No database here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.journal.errors import InsufficientPoints, InvalidAmount, UnbalancedTransaction
from ledger.journal.models import AccountKind, TxKind

MAX_AMOUNT = 10**12


@dataclass(frozen=True, slots=True)
class Leg:
    account_id: int
    amount: int  # positive credits the account, negative debits it


@dataclass(slots=True)
class Balance:
    posted: int = 0
    pending_debit: int = 0
    pending_credit: int = 0
    earned: int = 0

    @property
    def available(self) -> int:
        """What the holder may spend now: posted points less those reserved by pending debits."""
        return self.posted - self.pending_debit


def check_legs(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise UnbalancedTransaction("A transaction needs at least two postings.", postings=len(legs))
    if len({leg.account_id for leg in legs}) != len(legs):
        raise UnbalancedTransaction("A transaction names each account once.")
    for leg in legs:
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int):
            raise InvalidAmount("Points are whole numbers.", amount=repr(leg.amount))
        if leg.amount == 0 or abs(leg.amount) > MAX_AMOUNT:
            raise InvalidAmount(f"Each posting moves between 1 and {MAX_AMOUNT} points.", amount=leg.amount)
    total = sum(leg.amount for leg in legs)
    if total != 0:
        raise UnbalancedTransaction("Postings of a transaction must sum to zero.", sum=total)


def transfer_legs(*, debit: int, credit: int, amount: int) -> list[Leg]:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidAmount("A transfer moves a positive whole number of points.", amount=repr(amount))
    return [Leg(debit, -amount), Leg(credit, amount)]


def may_go_negative(kind: str) -> bool:
    return kind == AccountKind.ISSUANCE


def apply(
    balance: Balance, *, tx_kind: str, amount: int, account_kind: str, involves_issuance: bool, account_id: int
) -> None:
    """Apply one posting of a transaction of `tx_kind` to `balance`, refusing to overdraw.

    A pending debit reserves points (the available balance drops at once); resolving it releases the
    reservation and, when posted, moves the points for good. Earned points move only when the village's
    issuance account takes part and the posting lands in the posted balance.
    """
    posts = tx_kind in (TxKind.TRANSFER, TxKind.POST_PENDING, TxKind.REVERSAL)
    if tx_kind == TxKind.PENDING:
        if amount < 0:
            _assert_can_debit(balance, -amount, account_kind, account_id)
            balance.pending_debit -= amount
        else:
            balance.pending_credit += amount
    elif tx_kind in (TxKind.POST_PENDING, TxKind.VOID_PENDING, TxKind.EXPIRE_PENDING):
        if amount < 0:
            balance.pending_debit += amount
        else:
            balance.pending_credit -= amount
    elif amount < 0:
        _assert_can_debit(balance, -amount, account_kind, account_id)
    if posts:
        balance.posted += amount
        if involves_issuance and account_kind != AccountKind.ISSUANCE:
            balance.earned += amount


def _assert_can_debit(balance: Balance, amount: int, account_kind: str, account_id: int) -> None:
    if may_go_negative(account_kind):
        return
    if amount > balance.available:
        raise InsufficientPoints(
            f"Not enough points: {balance.available} available, {amount} asked.",
            account_id=account_id,
            available=balance.available,
            amount=amount,
        )
