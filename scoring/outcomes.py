"""Banks report what happened to the loans they decided with a rating; calibration learns from it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from ledger.core.base import utcnow
from ledger.core.errors import Conflict, Forbidden, Invalid
from ledger.identity.models import PartnerKind
from ledger.identity.principal import PARTNER, Principal
from scoring.models import CreditLookup, LoanEvent, LoanOutcome


class NoLookup(Conflict):
    code = "no_rating_lookup"


class UnknownLoan(Conflict):
    code = "unknown_loan"


class ApplicationLoan(Conflict):
    code = "report_through_the_application"


APPLICATION_REF = "shanzhi-app-"  # the loan_ref of a loan applied for in Shanzhi (redemption/loans.py)


class ReportedTogether(Conflict):
    code = "outcome_reported_together"


def report(
    session: Session,
    who: Principal,
    *,
    loan_ref: str,
    household_id: int,
    consent_id: str,
    event: str,
    occurred_at: datetime,
    amount: int | None = None,
    through_application: bool = False,
) -> tuple[LoanOutcome, bool]:
    """Record one event of a loan. A loan starts with `disbursed`, which must follow a lookup of the household's
    rating by this bank under this consent (that rating is what the bank decided on). Reporting the same event of
    the same loan again changes nothing and returns the first report (True: it was a replay).

    A loan that came through a Shanzhi loan application is reported through the application (its status moves
    with it: redemption/loans.py), never here directly, so the application and its outcomes cannot disagree."""
    if who.role != PARTNER or who.partner_kind != PartnerKind.BANK or who.partner_id is None:
        raise Forbidden("Only partner banks report loan outcomes.")
    if event not in {e.value for e in LoanEvent}:
        raise Invalid("event is disbursed, repaid, dpd30, dpd90 or default.", field="event")
    if not loan_ref or len(loan_ref) > 64:
        raise Invalid("loan_ref is 1 to 64 characters.", field="loan_ref")
    if loan_ref.startswith(APPLICATION_REF) and not through_application:
        raise ApplicationLoan(
            "This loan came through a loan application: report it with POST /api/v1/loan-applications/{id}/status.",
            loan_ref=loan_ref,
        )
    if occurred_at > utcnow():
        raise Invalid("occurred_at is not in the future.", field="occurred_at")
    earlier = session.scalars(
        select(LoanOutcome).where(col(LoanOutcome.partner_id) == who.partner_id, col(LoanOutcome.loan_ref) == loan_ref)
    ).all()
    same = next((o for o in earlier if o.event == event), None)
    if same is not None:
        return same, True
    if event == LoanEvent.DISBURSED:
        seen = session.scalars(
            select(CreditLookup)
            .where(
                col(CreditLookup.partner_id) == who.partner_id,
                col(CreditLookup.household_id) == household_id,
                col(CreditLookup.consent_id) == consent_id,
                col(CreditLookup.looked_at) <= occurred_at,
            )
            .order_by(col(CreditLookup.id).desc())
            .limit(1)
        ).first()
        if seen is None:
            raise NoLookup("Report a loan you decided after looking up the household's rating under this consent.")
        rating_id, county_id = seen.rating_id, seen.county_id
    else:
        start = next((o for o in earlier if o.event == LoanEvent.DISBURSED), None)
        if start is None or start.household_id != household_id:
            raise UnknownLoan("Report the loan's disbursement first.", loan_ref=loan_ref)
        rating_id, county_id = start.rating_id, start.county_id
    outcome = LoanOutcome(
        county_id=county_id,
        partner_id=who.partner_id,
        household_id=household_id,
        loan_ref=loan_ref,
        rating_id=rating_id,
        event=event,
        amount=amount,
        occurred_at=occurred_at,
        reported_by=who.actor,
    )
    try:
        with session.begin_nested():
            session.add(outcome)
            session.flush()
    except IntegrityError:  # the same event reported at the same moment by another request
        raise ReportedTogether(
            "The same event of this loan was being reported at the same moment; send it again to see the recorded one."
        ) from None
    return outcome, False
