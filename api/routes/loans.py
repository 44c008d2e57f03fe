"""Good-conduct loans: a household applies with its rating, the bank decides (or the product's rules at once),
and reports the loan's disbursement and repayment; the household follows every step.

Who may do what: a villager applies for, reads and withdraws its own household's applications; a bank reads its
own (loans:read), decides them (loans:decide) and reports on them (loans:report); anyone else's application is
missing to it. Merchants, clinics and everyone else are refused. Who may see what is decided in
redemption/access.py, the rules in redemption/loans.py; the presenter is in api/presentation/loans.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from api.deps import REPLAY_RESPONSES, IdempotencyKey, SessionDep, allow, created_or_replayed
from api.paging import Cursor, Limit, link_next
from api.presentation.loans import application_out
from api.schemas.loans import LoanApplicationIn, LoanApplicationOut, LoanDecisionIn, LoanStatusIn, Status
from ledger.core import paging
from ledger.identity.models import PartnerKind, Role
from ledger.identity.principal import Principal
from redemption import access, loans

router = APIRouter(prefix="/api/v1", tags=["loans"])
BANK = (PartnerKind.BANK,)
PRIVATE = {"Cache-Control": "no-store"}

Villager = Annotated[Principal, allow(Role.VILLAGER)]
Reader = Annotated[Principal, allow(Role.VILLAGER, partner_kinds=BANK, scope="loans:read")]
Decider = Annotated[Principal, allow(partner_kinds=BANK, scope="loans:decide")]
Reporter = Annotated[Principal, allow(partner_kinds=BANK, scope="loans:report")]


@router.post(
    "/loan-applications",
    response_model=LoanApplicationOut,
    response_model_exclude_none=True,
    status_code=201,
    responses=REPLAY_RESPONSES,
)
def apply(
    body: LoanApplicationIn, idempotency_key: IdempotencyKey, session: SessionDep, who: Villager, response: Response
) -> LoanApplicationOut:
    """Apply for a bank's loan product. This gives the bank consent to read your rating for this application
    (purpose loan_application, scope score); the rating sent is logged where you see who looked at it. Where
    the product's rules allow, the answer comes at once (pre_approved); otherwise the bank's staff decide."""
    applied = loans.apply(
        session,
        who,
        offer_id=body.offer_id,
        amount_yuan=body.amount_yuan,
        term_months=body.term_months,
        purpose=body.purpose,
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, applied.replayed)
    response.headers.update(PRIVATE)
    return application_out(session, applied.value, who)


@router.get("/loan-applications", response_model=list[LoanApplicationOut], response_model_exclude_none=True)
def list_applications(
    session: SessionDep,
    who: Reader,
    request: Request,
    response: Response,
    status: Status | None = None,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[LoanApplicationOut]:
    """A household: its applications with their timelines. A bank: its inbox (by `status`). Newest first, a page
    at a time: the `Link` header names the next page (README, "Lists")."""
    response.headers.update(PRIVATE)
    page = access.application_page(session, who, status, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return [application_out(session, a, who) for a in page.rows]


@router.get("/loan-applications/{application_id}", response_model=LoanApplicationOut, response_model_exclude_none=True)
def get_application(application_id: int, session: SessionDep, who: Reader, response: Response) -> LoanApplicationOut:
    response.headers.update(PRIVATE)
    return application_out(session, access.find_application(session, who, application_id), who)


@router.post(
    "/loan-applications/{application_id}/decision",
    response_model=LoanApplicationOut,
    response_model_exclude_none=True,
    responses={409: {"description": "Already decided, withdrawn or further on"}},
)
def decide(
    application_id: int, body: LoanDecisionIn, session: SessionDep, who: Decider, response: Response
) -> LoanApplicationOut:
    """Approve or reject an application under review, or confirm or overturn a pre-approval."""
    response.headers.update(PRIVATE)
    return application_out(
        session, loans.decide(session, who, application_id, approve=body.approve, note=body.note), who
    )


@router.post(
    "/loan-applications/{application_id}/status",
    response_model=LoanApplicationOut,
    response_model_exclude_none=True,
    responses={409: {"description": "The event does not follow from the application's status"}},
)
def report_status(
    application_id: int, body: LoanStatusIn, session: SessionDep, who: Reporter, response: Response
) -> LoanApplicationOut:
    """Report the loan: disbursed (once approved or pre-approved), then repaid, dpd30, dpd90 or default. Each is
    also a loan outcome for calibration. The same event again changes nothing (`Idempotency-Replayed: true`)."""
    application, replayed = loans.report_status(
        session, who, application_id, event=body.event, occurred_at=body.occurred_at, amount_yuan=body.amount_yuan
    )
    response.headers.update(PRIVATE)
    if replayed:
        response.headers["Idempotency-Replayed"] = "true"
    return application_out(session, application, who)


@router.post(
    "/loan-applications/{application_id}/withdraw",
    response_model=LoanApplicationOut,
    response_model_exclude_none=True,
    responses={409: {"description": "Already rejected, or the loan was paid out"}},
)
def withdraw(application_id: int, session: SessionDep, who: Villager, response: Response) -> LoanApplicationOut:
    """Take your application back, at any time before the loan is paid out."""
    response.headers.update(PRIVATE)
    return application_out(session, loans.withdraw(session, who, application_id), who)
