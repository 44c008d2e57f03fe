"""Good-conduct loans (redemption/loans.py), called directly: applying with the household's consent and rating,
what a grade may borrow, and the application's status machine — every move allowed or refused from every
status. Household A1 is rated AA from fourteen months of settled points."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import DomainError, Forbidden, Invalid
from ledger.identity.principal import Principal
from redemption import loans, offers
from redemption.models import ApplicationStatus, LoanApplication, OfferKind
from scoring.models import Consent, LoanOutcome
from tests.redemption.market import Market, approved_offer, build_market, give_history, give_points, voucher_terms

pytestmark = pytest.mark.db

TERMS: dict[str, Any] = {
    "grades": {
        "AAA": {"max_amount_yuan": 50_000, "rate_discount_bp": 50, "term_months": 36},
        "AA": {"max_amount_yuan": 30_000, "rate_discount_bp": 30, "term_months": 24},
        "A": {"max_amount_yuan": 10_000, "rate_discount_bp": 20, "term_months": 12},
    },
    "auto_approve": {"min_grade": "A", "max_amount_yuan": 20_000},
}
AUTO = 20_000  # within the product's auto_approve rule for an AA
REVIEWED = 25_000  # above it, within what an AA may borrow


def loan_terms(**changes: Any) -> offers.OfferTerms:
    now = utcnow()
    base = offers.OfferTerms(
        kind=OfferKind.LOAN,
        title="好习惯贷",
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=90),
        per_household_limit=10,
        loan_terms=TERMS,
    )
    return replace(base, **changes)


@pytest.fixture
def market(engine: Engine) -> Market:
    market = build_market(engine)
    give_history(engine, market.household_a1)
    return market


@pytest.fixture
def product(engine: Engine, market: Market) -> int:
    return approved_offer(engine, market, market.bank, loan_terms())


# The loan services are called through these helpers only (their return types may change).


@dataclass(frozen=True)
class Applied:
    id: int
    status: str
    grade: str
    consent_id: str
    replayed: bool


def apply_in(session: Session, who: Principal, offer_id: int, amount: int, **fields: Any) -> Applied:
    fields = {"term_months": 12, "purpose": "买化肥和种子", "idempotency_key": None, **fields}
    outcome = loans.apply(session, who, offer_id=offer_id, amount_yuan=amount, **fields)
    application = outcome.value
    assert application.id is not None
    return Applied(application.id, application.status, application.grade, application.consent_id, outcome.replayed)


def apply(engine: Engine, who: Principal, offer_id: int, amount: int = AUTO, **fields: Any) -> Applied:
    with unit_of_work(engine) as session:
        return apply_in(session, who, offer_id, amount, **fields)


def report_in(session: Session, who: Principal, application_id: int, event: str) -> str:
    """The bank reports an event; returns the application's status after it."""
    application, _ = loans.report_status(session, who, application_id, event=event)
    return application.status


def report(engine: Engine, who: Principal, application_id: int, event: str) -> str:
    with unit_of_work(engine) as session:
        return report_in(session, who, application_id, event)


def decide(engine: Engine, who: Principal, application_id: int, *, approve: bool) -> str:
    with unit_of_work(engine) as session:
        return loans.decide(session, who, application_id, approve=approve, note=None).status


def withdraw(engine: Engine, who: Principal, application_id: int) -> str:
    with unit_of_work(engine) as session:
        return loans.withdraw(session, who, application_id).status


def timeline(engine: Engine, application_id: int) -> list[str]:
    with unit_of_work(engine) as session:
        return [step.status for step in loans.timeline(session, application_id)]


def count(engine: Engine, model: Any) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- applying ------------------------------------------------------------------------------------------------


def test_an_aa_household_within_the_rule_is_pre_approved_at_once_with_its_consent(
    engine: Engine, market: Market, product: int
) -> None:
    applied = apply(engine, market.villager_a1, product)
    assert applied.status == ApplicationStatus.PRE_APPROVED and applied.grade == "AA"
    assert timeline(engine, applied.id) == ["submitted", "pre_approved"]
    with unit_of_work(engine) as session:
        consent = session.get(Consent, applied.consent_id)
        assert consent is not None
        assert (consent.partner_id, consent.household_id) == (market.bank_id, market.household_a1)
        assert (consent.purpose, consent.scope) == ("loan_application", "score")
        application = session.get(LoanApplication, applied.id)
        assert application is not None
        snapshot = loans.snapshot(session, application)
        assert snapshot["grade"] == "AA" and snapshot["consent_id"] == consent.id
        assert application.max_amount_yuan == 30_000 and application.rate_discount_bp == 30


def test_above_the_rule_the_application_waits_for_the_bank_s_staff(
    engine: Engine, market: Market, product: int
) -> None:
    applied = apply(engine, market.villager_a1, product, REVIEWED)
    assert applied.status == ApplicationStatus.UNDER_REVIEW
    with pytest.raises(Forbidden):  # a merchant decides no loan
        decide(engine, market.mart, applied.id, approve=True)
    assert decide(engine, market.bank, applied.id, approve=True) == ApplicationStatus.APPROVED
    assert timeline(engine, applied.id) == ["submitted", "under_review", "approved"]


def test_the_same_idempotency_key_applies_once(engine: Engine, market: Market, product: int) -> None:
    first = apply(engine, market.villager_a1, product, idempotency_key="loan-1")
    again = apply(engine, market.villager_a1, product, idempotency_key="loan-1")
    assert not first.replayed and again.replayed and again.id == first.id
    assert count(engine, LoanApplication) == 1 and count(engine, Consent) == 1


def test_what_the_grade_does_not_allow_is_refused_with_a_reason(engine: Engine, market: Market, product: int) -> None:
    with pytest.raises(loans.AmountAboveLimit) as amount:
        apply(engine, market.villager_a1, product, 30_001)
    assert amount.value.detail["max_amount_yuan"] == 30_000 and amount.value.detail["grade"] == "AA"
    with pytest.raises(loans.TermAboveLimit) as term:
        apply(engine, market.villager_a1, product, term_months=36)
    assert term.value.detail["max_term_months"] == 24
    with pytest.raises(Invalid) as purpose:
        apply(engine, market.villager_a1, product, purpose="  ")
    assert purpose.value.detail["field"] == "purpose"

    give_points(engine, market.household_a2, 50)  # not rated yet
    with pytest.raises(loans.GradeNotOffered) as unrated:
        apply(engine, market.villager_a2, product)
    assert unrated.value.detail["grades_offered"] == ["AAA", "AA", "A"]
    assert count(engine, LoanApplication) == 0 and count(engine, Consent) == 0


def test_only_an_open_loan_product_is_applied_for(engine: Engine, market: Market) -> None:
    voucher = approved_offer(engine, market, market.mart, voucher_terms())
    with pytest.raises(loans.NotALoanProduct):
        apply(engine, market.villager_a1, voucher)
    with unit_of_work(engine) as session:
        proposed = offers.propose(session, market.bank, loan_terms()).id
        assert proposed is not None
    with pytest.raises(offers.OfferNotFound):
        apply(engine, market.villager_a1, proposed)
    elsewhere = approved_offer(engine, market, market.bank, loan_terms(village_ids=(market.village_b.village_id,)))
    with pytest.raises(offers.NotForYourVillage):
        apply(engine, market.villager_a1, elsewhere)
    with pytest.raises(Forbidden):  # the bank's staff do not apply
        apply(engine, market.bank, proposed)


def test_a_withdrawn_application_does_not_count_towards_the_limit_and_a_rejected_one_does(
    engine: Engine, market: Market
) -> None:
    once = approved_offer(engine, market, market.bank, loan_terms(per_household_limit=1))
    first = apply(engine, market.villager_a1, once, REVIEWED)
    assert withdraw(engine, market.villager_a1, first.id) == ApplicationStatus.WITHDRAWN
    second = apply(engine, market.villager_a1, once, REVIEWED)
    assert decide(engine, market.bank, second.id, approve=False) == ApplicationStatus.REJECTED
    with pytest.raises(offers.HouseholdLimitReached):
        apply(engine, market.villager_a1, once, REVIEWED)


def test_a_product_s_places_are_taken_by_live_applications_and_given_back(engine: Engine, market: Market) -> None:
    give_history(engine, market.household_a2)
    one_place = approved_offer(engine, market, market.bank, loan_terms(stock=1))
    first = apply(engine, market.villager_a1, one_place, REVIEWED)
    with pytest.raises(offers.OutOfStock):
        apply(engine, market.villager_a2, one_place, REVIEWED)
    decide(engine, market.bank, first.id, approve=False)
    assert apply(engine, market.villager_a2, one_place, REVIEWED).status == ApplicationStatus.UNDER_REVIEW


def test_only_the_household_withdraws_and_only_its_bank_sees_it(engine: Engine, market: Market, product: int) -> None:
    applied = apply(engine, market.villager_a1, product)
    with pytest.raises(loans.ApplicationNotFound):
        withdraw(engine, market.villager_a2, applied.id)
    with pytest.raises(loans.ApplicationNotFound), unit_of_work(engine) as session:
        loans.find(session, market.villager_a2, applied.id)
    with unit_of_work(engine) as session:
        assert loans.find(session, market.bank, applied.id).household_id == market.household_a1
        assert [a.id for a in loans.of_partner(session, market.bank_id)] == [applied.id]


def test_a_reported_event_is_a_loan_outcome_once(engine: Engine, market: Market, product: int) -> None:
    applied = apply(engine, market.villager_a1, product)
    assert report(engine, market.bank, applied.id, "disbursed") == ApplicationStatus.DISBURSED
    assert report(engine, market.bank, applied.id, "disbursed") == ApplicationStatus.DISBURSED
    with unit_of_work(engine) as session:
        outcomes = list(session.scalars(select(LoanOutcome)))
        assert [(o.loan_ref, o.event, o.amount) for o in outcomes] == [
            (loans.loan_ref_of(applied.id), "disbursed", AUTO)
        ]
    assert timeline(engine, applied.id) == ["submitted", "pre_approved", "disbursed"]


# --- the status machine --------------------------------------------------------------------------------------

# How each status is reached, from an application of AUTO (pre-approved) or REVIEWED (under review).
PATHS: dict[str, tuple[int, tuple[str, ...]]] = {
    ApplicationStatus.PRE_APPROVED: (AUTO, ()),
    ApplicationStatus.UNDER_REVIEW: (REVIEWED, ()),
    ApplicationStatus.APPROVED: (REVIEWED, ("approve",)),
    ApplicationStatus.REJECTED: (REVIEWED, ("reject",)),
    ApplicationStatus.WITHDRAWN: (REVIEWED, ("withdraw",)),
    ApplicationStatus.DISBURSED: (AUTO, ("disbursed",)),
    ApplicationStatus.OVERDUE: (AUTO, ("disbursed", "dpd30")),
    ApplicationStatus.REPAID: (AUTO, ("disbursed", "repaid")),
    ApplicationStatus.DEFAULTED: (AUTO, ("disbursed", "default")),
}
MOVES = ("approve", "withdraw", "disbursed", "repaid", "dpd30", "default")
DECIDED = loans.AlreadyDecided.__name__
STUCK = loans.NotWithdrawable.__name__
ORDER = loans.OutOfOrder.__name__
# From each status, what each move leads to: the status after it, or the refusal. An event reported before is
# not an error and changes nothing; withdrawing again neither.
EXPECTED: dict[str, tuple[str, ...]] = {
    #                  approve,    withdraw,    disbursed,   repaid,    dpd30,     default
    "pre_approved": ("approved", "withdrawn", "disbursed", ORDER, ORDER, ORDER),
    "under_review": ("approved", "withdrawn", ORDER, ORDER, ORDER, ORDER),
    "approved": (DECIDED, "withdrawn", "disbursed", ORDER, ORDER, ORDER),
    "rejected": (DECIDED, STUCK, ORDER, ORDER, ORDER, ORDER),
    "withdrawn": (DECIDED, "withdrawn", ORDER, ORDER, ORDER, ORDER),
    "disbursed": (DECIDED, STUCK, "disbursed", "repaid", "overdue", "defaulted"),
    "overdue": (DECIDED, STUCK, "overdue", "repaid", "overdue", "defaulted"),
    "repaid": (DECIDED, STUCK, "repaid", "repaid", ORDER, ORDER),
    "defaulted": (DECIDED, STUCK, "defaulted", ORDER, ORDER, "defaulted"),
}


def _move(market: Market, name: str) -> Callable[[Session, int], str]:
    def move(session: Session, application_id: int) -> str:
        if name in ("approve", "reject"):
            return loans.decide(session, market.bank, application_id, approve=name == "approve", note=None).status
        if name == "withdraw":
            return loans.withdraw(session, market.villager_a1, application_id).status
        return report_in(session, market.bank, application_id, name)

    return move


class _Undone(Exception):
    """Raised to roll a tried move back."""


def _try(engine: Engine, move: Callable[[Session, int], str], application_id: int) -> str:
    """What the move leads to (the status, or the refusal's name), without keeping it."""
    try:
        with unit_of_work(engine) as session:
            raise _Undone(move(session, application_id))
    except _Undone as undone:
        return str(undone.args[0])
    except DomainError as refused:
        return type(refused).__name__


@pytest.mark.parametrize("status", list(EXPECTED))
def test_every_move_from_every_status_is_allowed_or_refused_as_the_status_machine_says(
    engine: Engine, market: Market, product: int, status: str
) -> None:
    amount, path = PATHS[status]
    applied = apply(engine, market.villager_a1, product, amount)
    for step in path:
        with unit_of_work(engine) as session:
            _move(market, step)(session, applied.id)
    with unit_of_work(engine) as session:
        assert loans.find(session, market.bank, applied.id).status == status

    found = tuple(_try(engine, _move(market, move), applied.id) for move in MOVES)
    assert dict(zip(MOVES, found, strict=True)) == dict(zip(MOVES, EXPECTED[status], strict=True))
    with unit_of_work(engine) as session:  # every move was tried and undone
        assert loans.find(session, market.bank, applied.id).status == status
