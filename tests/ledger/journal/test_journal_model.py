"""Random sequences of awards, spends, pending holds, resolutions, expiries, reversals and replays, run against
the real journal and against a plain in-memory model of it. After every step: all postings sum to zero, every
balance equals the sum of its postings and matches the model, no household is below zero, no pending transfer
is resolved twice, and every village chain verifies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlmodel import col

from ledger.core.base import utcnow
from ledger.core.db import make_engine, unit_of_work
from ledger.core.errors import DomainError
from ledger.journal import queries
from ledger.journal import service as journal
from ledger.journal.models import JournalTransaction, Posting
from ledger.journal.verify import verify
from tests import factories
from tests.conftest import ON_POSTGRES

HOUSEHOLDS = 3


@dataclass
class Account:
    posted: int = 0
    pending_debit: int = 0
    pending_credit: int = 0
    earned: int = 0

    @property
    def available(self) -> int:
        return self.posted - self.pending_debit


@dataclass
class Model:
    """The journal as plainly as it can be said: accounts, open holds, what was reversed, what each key did."""

    issuance: int
    penalty: int
    households: list[int]
    accounts: dict[int, Account] = field(default_factory=dict)
    legs: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # transaction id -> postings
    open_pending: dict[int, bool] = field(default_factory=dict)  # pending id -> has a timeout
    resolved: set[int] = field(default_factory=set)
    reversed: set[int] = field(default_factory=set)
    keys: dict[str, tuple[dict[str, Any], int]] = field(default_factory=dict)  # key -> (request, transaction)

    def can_debit(self, legs: list[tuple[int, int]]) -> bool:
        return all(
            account == self.issuance or amount > 0 or self.accounts[account].available >= -amount
            for account, amount in legs
        )

    def post(self, legs: list[tuple[int, int]]) -> None:
        from_issuance = any(account == self.issuance for account, _ in legs)
        for account, amount in legs:
            self.accounts[account].posted += amount
            if from_issuance and account != self.issuance:
                self.accounts[account].earned += amount

    def hold(self, legs: list[tuple[int, int]], sign: int) -> None:
        for account, amount in legs:
            if amount < 0:
                self.accounts[account].pending_debit += sign * -amount
            else:
                self.accounts[account].pending_credit += sign * amount


def code_of(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except DomainError as error:
        return error.code


class JournalMachine(RuleBasedStateMachine):
    fresh_database: Callable[[], str]  # set by the test below

    transactions = Bundle("transactions")  # posted transfers and settled pendings: reversible
    pendings = Bundle("pendings")
    keys = Bundle("keys")

    def __init__(self) -> None:
        super().__init__()
        self.engine = make_engine(type(self).fresh_database())
        with unit_of_work(self.engine) as session:
            village = factories.create_village(session)
            households = [factories.create_household(session, village.village_id)[1] for _ in range(HOUSEHOLDS)]
        self.model = Model(issuance=village.issuance, penalty=village.penalty, households=households)
        for account in (village.issuance, village.penalty, *households):
            self.model.accounts[account] = Account()

    def teardown(self) -> None:
        self.engine.dispose()

    def _transfer(self, **request: Any) -> Any:
        with unit_of_work(self.engine) as session:
            return journal.transfer(session, actor="user:1", **request)

    # --- rules ------------------------------------------------------------------------------------------

    @rule(target=transactions, n=st.integers(0, HOUSEHOLDS - 1), amount=st.integers(1, 50), key=st.booleans())
    def award(self, n: int, amount: int, key: bool) -> Any:
        request: dict[str, Any] = {
            "debit": self.model.issuance,
            "credit": self.model.households[n],
            "amount": amount,
            "reason": "volunteering",
        }
        if key:
            request["idempotency_key"] = f"award-{len(self.model.keys)}"
        tx = self._transfer(**request)
        assert not tx.replayed
        legs = [(leg.account_id, leg.amount) for leg in tx.postings]
        self.model.post(legs)
        self.model.legs[tx.id] = legs
        if key:
            self.model.keys[request["idempotency_key"]] = (request, tx.id)
        return tx.id

    @rule(target=transactions, n=st.integers(0, HOUSEHOLDS - 1), amount=st.integers(1, 60))
    def spend(self, n: int, amount: int) -> Any:
        household = self.model.households[n]
        legs = [(household, -amount), (self.model.penalty, amount)]
        result = code_of(
            lambda: self._transfer(debit=household, credit=self.model.penalty, amount=amount, reason="littering")
        )
        if not self.model.can_debit(legs):
            assert result == "insufficient_points"
            return None
        assert not isinstance(result, str), result
        self.model.post(legs)
        self.model.legs[result.id] = legs
        return result.id

    @rule(
        target=pendings,
        n=st.integers(0, HOUSEHOLDS - 1),
        amount=st.integers(1, 60),
        earn=st.booleans(),
        timeout=st.booleans(),
    )
    def hold(self, n: int, amount: int, earn: bool, timeout: bool) -> Any:
        household = self.model.households[n]
        debit, credit = (self.model.issuance, household) if earn else (household, self.model.penalty)
        legs = [(debit, -amount), (credit, amount)]
        result = code_of(
            lambda: self._transfer(
                debit=debit,
                credit=credit,
                amount=amount,
                reason="hold",
                pending=True,
                timeout=timedelta(hours=1) if timeout else None,
            )
        )
        if not self.model.can_debit(legs):
            assert result == "insufficient_points"
            return None
        assert not isinstance(result, str), result
        self.model.hold(legs, +1)
        self.model.legs[result.id] = legs
        self.model.open_pending[result.id] = timeout
        return result.id

    @rule(target=transactions, pending=pendings, post=st.booleans())
    def resolve(self, pending: int | None, post: bool) -> Any:
        if pending is None:
            return None
        resolution = journal.post_pending if post else journal.void_pending

        def call() -> Any:
            with unit_of_work(self.engine) as session:
                return resolution(session, pending_id=pending, actor="user:2")

        result = code_of(call)
        if pending not in self.model.open_pending:
            assert result == "pending_already_resolved"
            return None
        assert not isinstance(result, str), result
        legs = self.model.legs[pending]
        self.model.hold(legs, -1)
        del self.model.open_pending[pending]
        self.model.resolved.add(pending)
        if not post:
            return None
        self.model.post(legs)
        self.model.legs[result.id] = legs
        return result.id

    @rule()
    def expire(self) -> None:
        with unit_of_work(self.engine) as session:
            expired = journal.expire_due(session, now=utcnow() + timedelta(hours=2))
        due = {p for p, has_timeout in self.model.open_pending.items() if has_timeout}
        assert {e.pending_id for e in expired} == due
        for pending in due:
            self.model.hold(self.model.legs[pending], -1)
            del self.model.open_pending[pending]
            self.model.resolved.add(pending)

    @rule(transaction=transactions)
    def reverse(self, transaction: int | None) -> None:
        if transaction is None:
            return
        mirror = [(account, -amount) for account, amount in self.model.legs[transaction]]

        def call() -> Any:
            with unit_of_work(self.engine) as session:
                return journal.reverse(session, transaction_id=transaction, actor="user:2", reason="mistake")

        result = code_of(call)
        if transaction in self.model.reversed:
            assert result == "already_reversed"
        elif not self.model.can_debit(mirror):
            assert result == "insufficient_points"
        else:
            assert not isinstance(result, str), result
            assert result.reverses_id == transaction
            self.model.post(mirror)
            self.model.reversed.add(transaction)

    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        if not self.model.keys:
            return
        key = data.draw(st.sampled_from(sorted(self.model.keys)))
        request, original = self.model.keys[key]
        again = self._transfer(**request)
        assert again.replayed and again.id == original
        changed = {**request, "amount": request["amount"] + 1}
        assert code_of(lambda: self._transfer(**changed)) == "idempotency_key_reused"

    # --- what must always hold ----------------------------------------------------------------------------

    @invariant()
    def ledger_holds(self) -> None:
        with unit_of_work(self.engine) as session:
            assert (session.scalar(select(func.coalesce(func.sum(Posting.amount), 0))) or 0) == 0
            resolutions = session.execute(
                select(col(JournalTransaction.pending_id), func.count())
                .where(col(JournalTransaction.pending_id).is_not(None))
                .group_by(col(JournalTransaction.pending_id))
                .having(func.count() > 1)
            ).all()
            assert resolutions == []
            for account, expected in self.model.accounts.items():
                b = queries.balance(session, account)
                assert (b.posted, b.pending_debit, b.pending_credit, b.earned) == (
                    expected.posted,
                    expected.pending_debit,
                    expected.pending_credit,
                    expected.earned,
                ), f"account {account}"
                if account in self.model.households:
                    assert b.posted >= 0 and b.available >= 0
            report = verify(session)
            assert report.ok, [str(p) for p in report.problems]


@pytest.mark.slow
def test_journal_behaves_like_its_model(fresh_database: Callable[[], str]) -> None:
    JournalMachine.fresh_database = staticmethod(fresh_database)
    run_state_machine_as_test(
        JournalMachine,
        settings=settings(
            max_examples=15 if ON_POSTGRES else 40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            derandomize=False,
        ),
    )
