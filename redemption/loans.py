"""Good-conduct loans: a household applies for a bank's loan product with its rating, the bank decides (or the
product's rules decide at once), and the bank reports what happened to the loan.

One application, in order (one unit of work): the Idempotency-Key; the household row locked (the per-period limit
is counted under that lock); the offer's checks (approved, in its window, open to the village, minimum grade); the
household's rating as of now, whose grade must be one the product lends to, with the amount and term within that
grade's terms; one of the product's places taken (`stock` is how many live applications it takes); the consent
for the bank granted (purpose loan_application, scope score); the application with the rating snapshot; the
lookup logged in the household's access log, as a bank's lookup under that consent; then the decision by the
product's `auto_approve` rule, the timeline, the bank's webhooks and the household's notification.

Statuses:

- `pre_approved`: decided at once (grade at least the rule's `min_grade`, amount at most its `max_amount_yuan`);
  `under_review`: waiting for the bank's staff.
- The bank decides `under_review` **or** `pre_approved` (confirming or overturning the pre-approval) into
  `approved` or `rejected`; anything already decided is refused.
- The household withdraws `pre_approved`, `under_review` or `approved` (not after disbursement); again is a no-op.
- The bank reports `disbursed` (from `approved` or `pre_approved`), then `repaid`, `dpd30`/`dpd90` (`overdue`) or
  `default` (`defaulted`) from `disbursed` or `overdue`. `repaid` and `defaulted` are final. Each report is also a
  loan outcome (`scoring.outcomes.report`) under the application's `loan_ref`, which calibration learns from; the
  same event reported again changes nothing.

A rejected or withdrawn application gives its place back to the product; a withdrawn one does not count towards
the household's limit (a rejected one does, so a refusal is not answered by applying again the same day).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import literal_column, select
from sqlmodel import Session, col

from ledger.core import idempotency, outbox
from ledger.core.base import as_utc, row_id, utcnow
from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.core.idempotency import Outcome
from ledger.identity.models import Partner, Role
from ledger.identity.principal import Principal
from ledger.tenancy import Household, refuse_closed
from redemption import access, offers, webhooks
from redemption.models import (
    GRADES,
    ApplicationStatus,
    LoanApplication,
    LoanApplicationEvent,
    Offer,
    OfferKind,
)
from scoring import consent as consents
from scoring import lookups, outcomes, ratings
from scoring.models import Consent, LoanEvent, LoanOutcome, Purpose, Rating, Scope

AUTO = "system:auto"
SYSTEM = "system"
MAX_PURPOSE = 200
MAX_NOTE = 500
SUBMITTED = "submitted"  # the first step of every timeline (not a status)

DECIDABLE = (ApplicationStatus.UNDER_REVIEW, ApplicationStatus.PRE_APPROVED)
WITHDRAWABLE = (ApplicationStatus.PRE_APPROVED, ApplicationStatus.UNDER_REVIEW, ApplicationStatus.APPROVED)
RUNNING = (ApplicationStatus.DISBURSED, ApplicationStatus.OVERDUE)
# A reported event: the statuses it may follow, and the status it leads to.
REPORTS: dict[str, tuple[tuple[str, ...], str]] = {
    LoanEvent.DISBURSED: ((ApplicationStatus.APPROVED, ApplicationStatus.PRE_APPROVED), ApplicationStatus.DISBURSED),
    LoanEvent.REPAID: (RUNNING, ApplicationStatus.REPAID),
    LoanEvent.DPD30: (RUNNING, ApplicationStatus.OVERDUE),
    LoanEvent.DPD90: (RUNNING, ApplicationStatus.OVERDUE),
    LoanEvent.DEFAULT: (RUNNING, ApplicationStatus.DEFAULTED),
}


class ApplicationNotFound(NotFound):
    code = "loan_application_not_found"


class NotALoanProduct(Invalid):
    code = "not_a_loan_product"


class GradeNotOffered(Forbidden):
    code = "grade_not_offered"


class AmountAboveLimit(Invalid):
    code = "amount_above_limit"


class TermAboveLimit(Invalid):
    code = "term_above_limit"


class AlreadyDecided(Conflict):
    code = "loan_application_decided"


class NotWithdrawable(Conflict):
    code = "loan_application_not_withdrawable"


class OutOfOrder(Conflict):
    """An event the application's status does not allow (disbursing a rejected one, repaying one not lent)."""

    code = "loan_status_out_of_order"


def next_events(status: str) -> tuple[str, ...]:
    """The events a bank may report next on an application of this status (none once it is closed)."""
    return tuple(event for event, (after, _) in REPORTS.items() if status in after)


def decidable(status: str) -> bool:
    """Whether the bank may still decide an application of this status."""
    return status in DECIDABLE


def loan_ref_of(application_id: int) -> str:
    """The key of an application's loan in loan outcomes: unique per bank, and not one a bank would pick."""
    return f"{outcomes.APPLICATION_REF}{application_id}"


# --- applying --------------------------------------------------------------------------------------------------


def apply(
    session: Session,
    who: Principal,
    *,
    offer_id: int,
    amount_yuan: int,
    term_months: int,
    purpose: str,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Outcome[LoanApplication]:
    """A member of a household applies for a loan product; a replay of the same key gives the first application."""
    if who.role != Role.VILLAGER or who.household_id is None:
        raise Forbidden("A member of the household applies for its loans.")
    purpose = (purpose or "").strip()

    now = now or utcnow()

    def submit() -> LoanApplication:
        if not isinstance(amount_yuan, int) or amount_yuan <= 0:
            raise Invalid("amount_yuan is a whole number of yuan above 0.", field="amount_yuan")
        if not isinstance(term_months, int) or term_months <= 0:
            raise Invalid("term_months is a whole number of months above 0.", field="term_months")
        if not 1 <= len(purpose) <= MAX_PURPOSE:
            raise Invalid(f"Say in 1 to {MAX_PURPOSE} characters what the loan is for.", field="purpose")
        household = session.scalars(
            select(Household).where(col(Household.id) == who.household_id).with_for_update()
        ).one()
        refuse_closed(household)
        offer = session.get(Offer, offer_id)
        if offer is None or offer.county_id != household.county_id:
            raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
        partner, _ = offers.check_open(session, offer, household, now=now)
        if offer.kind != OfferKind.LOAN:
            raise NotALoanProduct(
                "This offer is not a loan product: redeem it at /api/v1/redemptions.",
                field="offer_id",
                offer_id=offer_id,
            )
        rating = ratings.current(session, row_id(household.id), now=now)
        if offer.min_grade is not None:
            offers.check_grade(offer, rating.grade)
        terms = grade_terms(offer, rating.grade)
        if amount_yuan > terms["max_amount_yuan"]:
            raise AmountAboveLimit(
                f"With a rating of {rating.grade} this product lends at most {terms['max_amount_yuan']} yuan.",
                field="amount_yuan",
                grade=rating.grade,
                max_amount_yuan=terms["max_amount_yuan"],
            )
        if term_months > terms["term_months"]:
            raise TermAboveLimit(
                f"With a rating of {rating.grade} this product lends for at most {terms['term_months']} months.",
                field="term_months",
                grade=rating.grade,
                max_term_months=terms["term_months"],
            )
        taken = offers.count_in(
            session,
            LoanApplication,
            household_id=row_id(household.id),
            offer_id=row_id(offer.id),
            period=offers.period_of(session, offer, household.county_id, now),
            quantity=literal_column("1"),
            excluded=(ApplicationStatus.WITHDRAWN,),
        )
        offers.check_limit(offer, taken, 1)
        offers.take_stock(session, offer, 1)
        consent = consents.grant(
            session,
            who,
            partner_id=row_id(partner.id),
            purpose=Purpose.LOAN_APPLICATION.value,
            scope=Scope.SCORE.value,
            now=now,
        )
        automatic = auto_approves(offer, rating.grade, amount_yuan)
        application = LoanApplication(
            county_id=household.county_id,
            village_id=household.village_id,
            household_id=row_id(household.id),
            partner_id=row_id(partner.id),
            offer_id=row_id(offer.id),
            loan_ref=f"new-{consent.id}",
            amount_yuan=amount_yuan,
            term_months=term_months,
            purpose=purpose,
            consent_id=consent.id,
            rating_id=row_id(rating.id),
            grade=rating.grade,
            score=rating.score,
            max_amount_yuan=terms["max_amount_yuan"],
            rate_discount_bp=terms["rate_discount_bp"],
            status=ApplicationStatus.PRE_APPROVED if automatic else ApplicationStatus.UNDER_REVIEW,
            decided_automatically=automatic,
            decided_by=AUTO if automatic else None,
            decided_at=now if automatic else None,
            created_by=who.actor,
            created_at=now,
            updated_at=now,
        )
        session.add(application)
        session.flush()
        application.loan_ref = loan_ref_of(row_id(application.id))
        # the snapshot sent with the application is a lookup by the bank under the consent: the household sees it,
        # and the bank may report the loan's outcome against it
        lookups.log_shown(
            session,
            consent=consent,
            client_id=f"loan-application:{application.id}",
            rating_id=application.rating_id,
            now=now,
        )
        _event(
            session,
            application,
            SUBMITTED,
            who.actor,
            now,
            f"Sent to {partner.name} with your rating {rating.grade}; {partner.name} may read your rating for this "
            "application (consent given).",
        )
        if automatic:
            _event(
                session,
                application,
                ApplicationStatus.PRE_APPROVED,
                AUTO,
                now,
                "Pre-approved at once by the product's rules; the bank will contact you to sign.",
            )
        else:
            _event(
                session,
                application,
                ApplicationStatus.UNDER_REVIEW,
                SYSTEM,
                now,
                "Waiting for the bank's staff to decide.",
            )
        _tell_bank(session, application, "loan_application.created", with_rating=True)
        if automatic:
            _tell_bank(session, application, "loan_application.decided")
        _tell_household(session, application, partner)
        return application

    return idempotency.run(
        session,
        actor=who.actor,
        key=idempotency_key,
        request={"op": "loan_apply", "offer": offer_id, "amount": amount_yuan, "term": term_months, "purpose": purpose},
        stored=_APPLICATION,
        operation=submit,
    )


_APPLICATION = idempotency.row(LoanApplication, "loan_application")


def grade_terms(offer: Offer, grade: str) -> dict[str, int]:
    """What the product offers this grade; refused, naming the grades it lends to, when it offers it nothing."""
    offered = (offer.loan_terms or {}).get("grades") or {}
    terms = offered.get(grade)
    if not isinstance(terms, dict):
        lent = [g for g in GRADES if g in offered]
        rated = "is not rated yet (NR)" if grade not in GRADES else f"is rated {grade}"
        raise GradeNotOffered(
            f"This product lends to households rated {', '.join(lent)}; yours {rated}.",
            offer_id=offer.id,
            grade=grade,
            grades_offered=lent,
        )
    return terms


def auto_approves(offer: Offer, grade: str, amount_yuan: int) -> bool:
    """The product's rule: pre-approved at once when the grade meets its minimum and the amount its maximum."""
    rule = (offer.loan_terms or {}).get("auto_approve")
    return (
        isinstance(rule, dict)
        and offers.grade_meets(grade, rule.get("min_grade"))
        and amount_yuan <= int(rule.get("max_amount_yuan") or 0)
    )


# --- the bank's side -------------------------------------------------------------------------------------------


def decide(
    session: Session,
    who: Principal,
    application_id: int,
    *,
    approve: bool,
    note: str | None,
    now: datetime | None = None,
) -> LoanApplication:
    """The bank's staff approve or reject an application under review, or confirm or overturn a pre-approval."""
    access.require_bank(who, "loans:decide", "decides loan applications")
    if note is not None and len(note) > MAX_NOTE:
        raise Invalid(f"The note is at most {MAX_NOTE} characters.", field="note")
    application = _own(session, who, application_id)
    if application.status not in DECIDABLE:
        raise AlreadyDecided(
            f"This application is already {application.status}.",
            application_id=application_id,
            current_status=application.status,
        )
    now = now or utcnow()
    application.status = ApplicationStatus.APPROVED if approve else ApplicationStatus.REJECTED
    application.decided_automatically = False
    application.decided_by, application.decided_at, application.decision_note = who.actor, now, note
    application.updated_at = now
    if not approve:
        offers.give_back_stock(session, application.offer_id, 1)
    session.flush()
    _event(session, application, application.status, who.actor, now, note)
    _tell_bank(session, application, "loan_application.decided")
    _tell_household(session, application)
    return application


def report_status(
    session: Session,
    who: Principal,
    application_id: int,
    *,
    event: str,
    occurred_at: datetime | None = None,
    amount_yuan: int | None = None,
    now: datetime | None = None,
) -> tuple[LoanApplication, bool]:
    """The bank reports what happened to the loan: disbursed, repaid, dpd30, dpd90 or default. Also a loan outcome
    for calibration. (application, True) when this event was reported before: nothing changes."""
    access.require_bank(who, "loans:report", "reports on loans")
    if event not in REPORTS:
        raise Invalid("event is disbursed, repaid, dpd30, dpd90 or default.", field="event")
    application = _own(session, who, application_id)
    earlier = session.scalars(
        select(LoanOutcome).where(
            col(LoanOutcome.partner_id) == application.partner_id,
            col(LoanOutcome.loan_ref) == application.loan_ref,
            col(LoanOutcome.event) == event,
        )
    ).first()
    if earlier is not None:
        return application, True
    allowed, status = REPORTS[event]
    if application.status not in allowed:
        raise OutOfOrder(
            f"An application that is {application.status} cannot be reported {event}; "
            f"it must be {' or '.join(allowed)}.",
            application_id=application_id,
            current_status=application.status,
            event=event,
        )
    now = now or utcnow()
    occurred_at = as_utc(occurred_at) if occurred_at is not None else now
    if occurred_at > now:
        raise Invalid("occurred_at is not in the future.", field="occurred_at")
    if occurred_at < as_utc(application.created_at):
        raise Invalid("occurred_at is not before the application was made.", field="occurred_at")
    if amount_yuan is not None and amount_yuan <= 0:
        raise Invalid("amount_yuan is a whole number of yuan above 0.", field="amount_yuan")
    if event == LoanEvent.DISBURSED:
        if amount_yuan is not None and amount_yuan > application.amount_yuan:
            raise AmountAboveLimit(
                f"The household applied for {application.amount_yuan} yuan.",
                field="amount_yuan",
                max_amount_yuan=application.amount_yuan,
            )
        amount_yuan = amount_yuan or application.amount_yuan
    _, replayed = outcomes.report(
        session,
        who,
        loan_ref=application.loan_ref,
        household_id=application.household_id,
        consent_id=application.consent_id,
        event=event,
        occurred_at=occurred_at,
        amount=amount_yuan,
        through_application=True,
    )
    if replayed:  # reported by another request a moment ago
        return application, True
    application.status, application.updated_at = status, now
    session.flush()
    _event(session, application, status, who.actor, occurred_at, NOTES[event].format(amount=amount_yuan))
    _tell_bank(
        session,
        application,
        "loan_application.status",
        event=event,
        occurred_at=occurred_at.isoformat(),
        amount_yuan=amount_yuan,
    )
    _tell_household(session, application)
    return application, False


NOTES: dict[str, str] = {
    LoanEvent.DISBURSED: "The bank paid out the loan ({amount} yuan).",
    LoanEvent.REPAID: "Repaid in full. Thank you!",
    LoanEvent.DPD30: "A repayment is 30 days late.",
    LoanEvent.DPD90: "A repayment is 90 days late.",
    LoanEvent.DEFAULT: "The bank reports the loan in default.",
}


def _own(session: Session, who: Principal, application_id: int) -> LoanApplication:
    application = session.scalars(
        select(LoanApplication).where(col(LoanApplication.id) == application_id).with_for_update()
    ).first()
    return access.banks_application(who, application, application_id)


# --- the household's side --------------------------------------------------------------------------------------


def withdraw(session: Session, who: Principal, application_id: int, *, now: datetime | None = None) -> LoanApplication:
    """The household takes its application back, before the loan is paid out. Withdrawing again changes nothing."""
    application = session.scalars(
        select(LoanApplication).where(col(LoanApplication.id) == application_id).with_for_update()
    ).first()
    application = access.households_application(who, application, application_id)
    if application.status == ApplicationStatus.WITHDRAWN:
        return application
    if application.status not in WITHDRAWABLE:
        raise NotWithdrawable(
            f"An application that is {application.status} cannot be withdrawn.",
            application_id=application_id,
            current_status=application.status,
        )
    now = now or utcnow()
    application.status, application.updated_at = ApplicationStatus.WITHDRAWN, now
    offers.give_back_stock(session, application.offer_id, 1)
    session.flush()
    _event(session, application, ApplicationStatus.WITHDRAWN, who.actor, now, "You withdrew the application.")
    _tell_bank(session, application, "loan_application.withdrawn")
    return application


# --- reading ---------------------------------------------------------------------------------------------------


def find(session: Session, who: Principal, application_id: int) -> LoanApplication:
    """An application as its household or its bank sees it (`redemption.access.find_application`)."""
    return access.find_application(session, who, application_id)


def of_household(session: Session, household_id: int, *, status: str | None = None) -> list[LoanApplication]:
    query = select(LoanApplication).where(col(LoanApplication.household_id) == household_id)
    if status:
        query = query.where(col(LoanApplication.status) == status)
    return list(session.scalars(query.order_by(col(LoanApplication.id).desc())))


def of_partner(
    session: Session, partner_id: int, *, status: str | None = None, limit: int = 200
) -> list[LoanApplication]:
    """A bank's inbox, newest first."""
    query = select(LoanApplication).where(col(LoanApplication.partner_id) == partner_id)
    if status:
        query = query.where(col(LoanApplication.status) == status)
    return list(session.scalars(query.order_by(col(LoanApplication.id).desc()).limit(limit)))


def timeline(session: Session, application_id: int) -> list[LoanApplicationEvent]:
    return list(
        session.scalars(
            select(LoanApplicationEvent)
            .where(col(LoanApplicationEvent.application_id) == application_id)
            .order_by(col(LoanApplicationEvent.id))
        )
    )


def snapshot(session: Session, application: LoanApplication) -> dict[str, Any]:
    """The rating sent with the application, as a bank's lookup under a `score` consent shows it."""
    rating = session.get(Rating, application.rating_id)
    consent = session.get(Consent, application.consent_id)
    assert rating is not None
    assert consent is not None
    card = ratings.card_by_id(session, rating.scorecard_id)
    return {
        "household_id": rating.household_id,
        "grade": rating.grade,
        "score": rating.score,
        "score_range": list(card.score_range),
        "reasons": [{"code": r["code"], "zh": r["zh"], "en": r["en"]} for r in rating.reasons],
        "as_of": as_utc(rating.as_of).isoformat(),
        "computed_at": as_utc(rating.computed_at).isoformat(),
        "valid_until": as_utc(ratings.valid_until(as_utc(rating.as_of))).isoformat(),
        "scorecard_version": rating.scorecard_id,
        "data_sufficiency": {
            "sufficient": bool(rating.sufficiency.get("sufficient")),
            "months_of_history": int(rating.sufficiency.get("months_of_history", 0)),
        },
        "consent_id": consent.id,
        "purpose": consent.purpose,
        "scope": consent.scope,
    }


# --- steps -----------------------------------------------------------------------------------------------------


def _event(
    session: Session, application: LoanApplication, status: str, actor: str, at: datetime, note: str | None
) -> None:
    session.add(
        LoanApplicationEvent(application_id=row_id(application.id), status=status, note=note, actor=actor, at=at)
    )
    session.flush()


def _tell_bank(
    session: Session, application: LoanApplication, kind: str, /, *, with_rating: bool = False, **extra: Any
) -> None:
    data: dict[str, Any] = {
        "application_id": application.id,
        "offer_id": application.offer_id,
        "loan_ref": application.loan_ref,
        "household_id": application.household_id,
        "village_id": application.village_id,
        "amount_yuan": application.amount_yuan,
        "term_months": application.term_months,
        "purpose": application.purpose,
        "status": application.status,
        "decided_automatically": application.decided_automatically,
        "consent_id": application.consent_id,
        "max_amount_yuan": application.max_amount_yuan,
        "rate_discount_bp": application.rate_discount_bp,
        **extra,
    }
    if with_rating:
        data["rating"] = snapshot(session, application)
    webhooks.enqueue(session, partner_id=application.partner_id, county_id=application.county_id, event=kind, data=data)


def _tell_household(session: Session, application: LoanApplication, partner: Partner | None = None) -> None:
    partner = partner or session.get(Partner, application.partner_id)
    outbox.tell(
        session,
        county_id=application.county_id,
        household_id=application.household_id,
        kind=f"loan_{application.status}",
        application_id=application.id,
        status=application.status,
        bank=partner.name if partner else None,
        amount_yuan=application.amount_yuan,
    )
