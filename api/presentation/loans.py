"""Loan applications as the API shows them (api/schemas/loans.py): the household's view has the timeline; the
bank's has the household id, the loan ref and the rating snapshot sent with the application (only what the
consent's scope allows: `api.presentation.credit.partner_rating`)."""

from __future__ import annotations

from sqlmodel import Session

from api.presentation.credit import partner_rating
from api.schemas.loans import LoanApplicationOut, LoanStepOut
from ledger.identity.models import Partner, Role
from ledger.identity.principal import Principal
from redemption import loans
from redemption.models import LoanApplication, Offer
from scoring.models import Consent, Rating


def application_out(session: Session, application: LoanApplication, who: Principal) -> LoanApplicationOut:
    """The household's view has the timeline; the bank's the household id, the loan ref and the rating snapshot."""
    assert application.id is not None
    offer = session.get(Offer, application.offer_id)
    partner = session.get(Partner, application.partner_id)
    out = LoanApplicationOut(
        id=application.id,
        offer_id=application.offer_id,
        offer_title=offer.title if offer else "",
        partner_id=application.partner_id,
        partner_name=partner.name if partner else "",
        amount_yuan=application.amount_yuan,
        term_months=application.term_months,
        purpose=application.purpose,
        status=application.status,
        grade=application.grade,
        max_amount_yuan=application.max_amount_yuan,
        rate_discount_bp=application.rate_discount_bp,
        decided_automatically=application.decided_automatically,
        decided_at=application.decided_at,
        decision_note=application.decision_note,
        consent_id=application.consent_id,
        created_at=application.created_at,
        updated_at=application.updated_at,
    )
    if who.role == Role.VILLAGER:
        out.timeline = [
            LoanStepOut(status=e.status, note=e.note, at=e.at) for e in loans.timeline(session, application.id)
        ]
    else:
        rating = session.get(Rating, application.rating_id)
        consent = session.get(Consent, application.consent_id)
        assert rating is not None
        assert consent is not None
        out.household_id, out.loan_ref = application.household_id, application.loan_ref
        out.rating = partner_rating(session, rating, consent)
    return out
