"""Ratings: the household's own view, its consents and access log, a person's review; the partner banks'
consent-bound lookups and loan outcomes; the county admin's scorecard versions.

A rating supports a bank's decision; it does not make it. Every household may ask for a person to review its
rating (`POST /api/v1/credit/me/review-requests`), and may see every lookup of it. Who may see what is decided
in scoring/access.py; what a bank may see of a rating (the allow-list) in api/presentation/credit.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlmodel import Session, col

from api.deps import Caller, SessionDep, SettingsDep, allow, allow_caller, json_answer, run_after
from api.paging import Cursor, Limit, link_next
from api.presentation.credit import (
    consent_out,
    lookup_out,
    my_rating_out,
    partner_answer,
    partner_out,
    review_out,
)
from api.problems import status_of
from api.schemas.credit import (
    AccessLogOut,
    ActivateIn,
    ConsentIn,
    ConsentOut,
    LookupItem,
    LookupResultOut,
    LookupsIn,
    LookupsOut,
    MyRatingOut,
    OutcomeIn,
    OutcomeOut,
    PartnerOut,
    PartnerRatingOut,
    ReviewAnswerIn,
    ReviewRequestIn,
    ReviewRequestOut,
    ScorecardOut,
)
from ledger.core import paging
from ledger.core.errors import DomainError
from ledger.core.settings import Settings
from ledger.identity.models import PartnerKind, Role
from ledger.identity.principal import Principal
from redemption import access as partners
from scoring import access, lookups, outcomes, ratings, reviews
from scoring import consent as consents
from scoring.models import Scorecard

router = APIRouter(prefix="/api/v1", tags=["credit"])
Villager = Annotated[Principal, allow(Role.VILLAGER)]
Member = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
BankCaller = Annotated[Caller, allow_caller(partner_kinds=(PartnerKind.BANK,), scope="credit:read")]
BankReporter = Annotated[Principal, allow(partner_kinds=(PartnerKind.BANK,), scope="loans:report")]
PRIVATE = {"Cache-Control": "no-store"}
ConsentQuery = Annotated[str, Query(pattern=r"^[0-9a-f]{32}$", description="The consent the household gave you.")]


def limits_of(settings: Settings) -> lookups.Limits:
    return lookups.Limits(
        per_client_per_minute=settings.credit_lookups_per_minute,
        per_subject_per_day=settings.credit_lookups_per_household_day,
    )


# --- partner banks ---------------------------------------------------------------------------------------------


def _budget(caller: Caller, settings: Settings, uses: int) -> Callable[[Session], object]:
    """The client's lookups off its per-minute budget, counted before the lookup and kept even when it is refused
    (`run_after`; 429 past it). Anyone else is refused by the route's rule."""
    kind, _, client = caller.claims.sub.partition(":")
    if kind != "client":
        return _nothing
    return functools.partial(lookups.spend_budget, client_id=client, uses=uses, limits=limits_of(settings))


def _nothing(_: Session) -> None:
    return None


@router.get(
    "/credit/households/{household_id}",
    response_model=PartnerRatingOut,
    response_model_exclude_none=True,
    response_class=JSONResponse,
    responses={
        403: {"description": "No active consent of this household for you (nothing else is said)"},
        429: {"description": "Rate limited; see Retry-After"},
    },
)
async def partner_lookup(
    household_id: int, consent_id: ConsentQuery, request: Request, settings: SettingsDep, caller: BankCaller
) -> Response:
    """A household's rating, with its consent: as the consent's scope allows. The lookup is logged for the
    household to see."""
    shown = await run_after(
        request,
        caller,
        _budget(caller, settings, 1),
        lookups.lookup,
        household_id=household_id,
        consent_id=consent_id,
        limits=limits_of(settings),
    )
    return json_answer(partner_answer(shown), headers=PRIVATE, exclude_none=True)


@router.post(
    "/credit/lookups", response_model=LookupsOut, response_model_exclude_none=True, response_class=JSONResponse
)
async def partner_lookups(body: LookupsIn, request: Request, settings: SettingsDep, caller: BankCaller) -> Response:
    """Many households at once; each answered (or refused) on its own, as the single lookup would."""
    answers = await run_after(
        request, caller, _budget(caller, settings, len(body.items)), _look_many, body.items, limits_of(settings)
    )
    results = [
        LookupResultOut(
            household_id=item.household_id,
            consent_id=item.consent_id,
            status=200,
            rating=partner_answer(answer),
        )
        if isinstance(answer, lookups.Shown)
        else LookupResultOut(
            household_id=item.household_id, consent_id=item.consent_id, status=status_of(answer), code=answer.code
        )
        for item, answer in answers
    ]
    return json_answer(LookupsOut(results=results), headers=PRIVATE, exclude_none=True)


def _look_many(
    session: Session, who: Principal, items: list[LookupItem], limits: lookups.Limits
) -> list[tuple[LookupItem, lookups.Shown | DomainError]]:
    answers: list[tuple[LookupItem, lookups.Shown | DomainError]] = []
    for item in items:
        try:
            with session.begin_nested():
                shown = lookups.lookup(
                    session, who, household_id=item.household_id, consent_id=item.consent_id, limits=limits
                )
            answers.append((item, shown))
        except DomainError as error:
            answers.append((item, error))
    return answers


@router.post("/credit/outcomes", response_model=OutcomeOut, status_code=status.HTTP_201_CREATED)
def report_outcome(body: OutcomeIn, session: SessionDep, who: BankReporter, response: Response) -> OutcomeOut:
    """One event of a loan you decided with a rating: disbursed, repaid (on time), dpd30, dpd90, default."""
    outcome, replayed = outcomes.report(
        session,
        who,
        loan_ref=body.loan_ref,
        household_id=body.household_id,
        consent_id=body.consent_id,
        event=body.event,
        occurred_at=body.occurred_at,
        amount=body.amount,
    )
    if replayed:
        response.status_code = status.HTTP_200_OK
    return OutcomeOut(
        id=outcome.id,
        loan_ref=outcome.loan_ref,
        household_id=outcome.household_id,
        event=outcome.event,
        occurred_at=outcome.occurred_at,
        replayed=replayed,
    )


# --- the household ---------------------------------------------------------------------------------------------


@router.get("/credit/me", response_model=MyRatingOut)
def my_rating(session: SessionDep, who: Villager, response: Response) -> MyRatingOut:
    """Your household's rating as of now: the grade, the score, the four biggest reasons, and the fewest things
    to do for the next grade."""
    rating = ratings.current(session, access.own_household(who))
    response.headers.update(PRIVATE)
    return my_rating_out(session, rating)


@router.get("/credit/me/lookups", response_model=list[AccessLogOut])
def my_access_log(
    session: SessionDep,
    who: Villager,
    request: Request,
    response: Response,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[AccessLogOut]:
    """Who looked at your household's rating, when, and why; newest first, a page at a time: the `Link` header
    names the next page (README, "Lists")."""
    response.headers.update(PRIVATE)
    page = lookups.access_log_page(session, access.own_household(who), cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return [lookup_out(entry, name) for entry, name in page.rows]


@router.post("/credit/me/review-requests", response_model=ReviewRequestOut, status_code=status.HTTP_201_CREATED)
def ask_for_review(body: ReviewRequestIn, session: SessionDep, who: Villager) -> ReviewRequestOut:
    """Ask for a person to look at your rating; the officials of your village get the task."""
    return review_out(session, reviews.request(session, who, reason=body.reason), with_rating=False)


@router.get("/credit/me/review-requests", response_model=list[ReviewRequestOut])
def my_review_requests(
    session: SessionDep,
    who: Villager,
    request: Request,
    response: Response,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[ReviewRequestOut]:
    """Your household's requests for a person to look at its rating, newest first, with their answers; a page at
    a time (the `Link` header names the next)."""
    response.headers.update(PRIVATE)
    page = access.household_review_page(session, who, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return [review_out(session, task, with_rating=False) for task in page.rows]


@router.get("/partners", response_model=list[PartnerOut])
def list_partners(
    session: SessionDep, who: Member, kind: Annotated[PartnerKind | None, Query()] = None
) -> list[PartnerOut]:
    """The partners of your county (the banks you may give consent to, with kind=bank)."""
    return [partner_out(p) for p in partners.county_partners(session, who, kind)]


@router.get("/consents", response_model=list[ConsentOut])
def my_consents(session: SessionDep, who: Villager) -> list[ConsentOut]:
    return [consent_out(session, c) for c in access.household_consents(session, who)]


@router.post("/consents", response_model=ConsentOut, status_code=status.HTTP_201_CREATED)
def give_consent(body: ConsentIn, session: SessionDep, who: Villager) -> ConsentOut:
    """Let one bank read your rating for one purpose, in one scope (grade; score and reasons; and a summary of
    your participation), for `days` (90 unless you say otherwise). Revoke it at any time."""
    return consent_out(
        session,
        consents.grant(
            session, who, partner_id=body.partner_id, purpose=body.purpose, scope=body.scope, days=body.days
        ),
    )


@router.post("/consents/{consent_id}/revoke", response_model=ConsentOut)
def revoke_consent(consent_id: str, session: SessionDep, who: Villager) -> ConsentOut:
    """From now on the bank gets 403 for this consent."""
    return consent_out(session, consents.revoke(session, who, consent_id=consent_id))


# --- officials and the county admin ----------------------------------------------------------------------------


@router.get("/credit/review-requests", response_model=list[ReviewRequestOut])
def review_queue(
    session: SessionDep,
    who: Staff,
    request: Request,
    response: Response,
    status_filter: Annotated[str | None, Query(alias="status", pattern="^(open|answered)$")] = None,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[ReviewRequestOut]:
    """Households of your villages asking for a person to look at their rating, oldest first, a page at a time
    (the `Link` header names the next)."""
    page = access.review_queue_page(session, who, status_filter, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return [review_out(session, t) for t in page.rows]


@router.post("/credit/review-requests/{request_id}/answer", response_model=ReviewRequestOut)
def answer_review(request_id: int, body: ReviewAnswerIn, session: SessionDep, who: Staff) -> ReviewRequestOut:
    return review_out(session, reviews.answer(session, who, request_id=request_id, text=body.answer))


@router.get("/scorecards", response_model=list[ScorecardOut])
def list_scorecards(session: SessionDep, who: Admin) -> list[ScorecardOut]:
    """Every scorecard version, and which one your county rates with."""
    active = ratings.active_card(session, who.county_id).id
    return [
        ScorecardOut(
            id=c.id, name=c.name, origin=c.origin, parent_id=c.parent_id, created_at=c.created_at, active=c.id == active
        )
        for c in session.scalars(select(Scorecard).order_by(col(Scorecard.created_at))).all()
    ]


@router.post("/scorecards/{scorecard_id}/activate", response_model=ScorecardOut)
def activate_scorecard(scorecard_id: str, body: ActivateIn, session: SessionDep, who: Admin) -> ScorecardOut:
    """Rate your county with this version from now on (in the change log). Ratings made with the old one keep it."""
    card = ratings.activate(session, who, scorecard_id, note=body.note)
    return ScorecardOut(
        id=card.id,
        name=card.name,
        origin=card.origin,
        parent_id=card.parent_id,
        created_at=card.created_at,
        active=True,
    )
