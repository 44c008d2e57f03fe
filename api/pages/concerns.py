"""The pages of village concerns (随手拍): the village's concern code and its poster, reporting a problem from a
scanned code or from the villager's own pages, following it step by step (the parcel view) and evaluating it;
and for staff the queue, a concern's page with its actions, recording a report told in person or by phone, and
the handler's own list.

Every page declares who may open it (`page_allow`) and calls what the API's routes call: the concerns' access
module (`ledger/concerns/access.py`, the one place that says who sees and acts on a concern), its services
(`ledger/concerns/service.py`, which check the village, the handler, the step and conflict of interest
themselves) and the presenters of `api/presentation/`. An anonymous reporter is never shown to staff: what a page
shows of the reporter comes from the access module's `shows_reporter`.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlmodel import col, select

from api.pages.web import OfficialPage, Page, VillagerPage
from api.presentation import concern_codes
from ledger.activities import codes
from ledger.concerns.models import ConcernCategory, ConcernKind, ConcernPlace
from ledger.identity.principal import Principal, managed_village, visible_villages
from ledger.tenancy import Township, Village, VillageNotFound

router = APIRouter()
KINDS = (ConcernKind.HAZARD, ConcernKind.COMPLAINT, ConcernKind.QUESTION, ConcernKind.SUGGESTION)


def _keys(page: Page) -> codes.Keys:
    keys: codes.Keys = page.request.app.state.code_keys
    return keys


def _who(page: Page) -> Principal:
    assert page.principal is not None
    return page.principal


# --- the village's concern code and its poster ----------------------------------------------------------------


@router.get("/office/concerns/poster")
def poster_page(page: OfficialPage, village_id: Annotated[int | None, Query(gt=0)] = None) -> Response:
    """The concern code of each of my villages: its poster to print and the QR code alone."""
    villages = [v for v in visible_villages(page.session, _who(page)) if village_id in (None, v.id)]
    shown = [managed_village(page.session, _who(page), v.id) for v in villages if v.id is not None]
    return page.render(
        "concerns/poster.html",
        villages=[(v, concern_codes.village_report_url(_keys(page), page.settings, v)) for v in shown],
    )


@router.get("/office/concerns/poster.svg")
def poster_svg(page: OfficialPage, village_id: Annotated[int, Query(gt=0)]) -> Response:
    """The A4 poster of a village's concern code (随手拍·有事您说), in the reader's language."""
    village = managed_village(page.session, _who(page), village_id)
    svg = concern_codes.poster_svg(_keys(page), page.settings, village, page.locale)
    return page.respond(Response(svg, media_type="image/svg+xml"))


@router.get("/office/concerns/poster.png")
def poster_png(page: OfficialPage, village_id: Annotated[int, Query(gt=0)]) -> Response:
    """The village's concern QR code alone, as a picture."""
    village = managed_village(page.session, _who(page), village_id)
    return page.respond(Response(concern_codes.qr_png(_keys(page), page.settings, village), media_type="image/png"))


# --- reporting ------------------------------------------------------------------------------------------------


def _place_of_code(page: Page, token: str) -> tuple[Village | None, Township]:
    """The village (or township) a scanned concern code names, in the reader's county; any other is not ours."""
    code = codes.read_concern_place(_keys(page), codes.scanned(token))
    who = _who(page)
    village = page.session.get(Village, code.village_id) if code.village_id is not None else None
    township_id = village.township_id if village is not None else code.township_id
    township = page.session.get(Township, township_id) if township_id is not None else None
    if township is None or township.county_id != who.county_id:
        raise VillageNotFound("This code belongs to another county.")
    return village, township


def _report_form(page: Page, village: Village | None, township: Township, *, action: str, **context: Any) -> Response:
    who = _who(page)
    categories = page.session.scalars(
        select(ConcernCategory)
        .where(col(ConcernCategory.county_id) == who.county_id, col(ConcernCategory.active).is_(True))
        .order_by(col(ConcernCategory.id))
    ).all()
    places = (
        page.session.scalars(
            select(ConcernPlace)
            .where(col(ConcernPlace.village_id) == village.id, col(ConcernPlace.active).is_(True))
            .order_by(col(ConcernPlace.name))
        ).all()
        if village is not None
        else []
    )
    context.setdefault("sent", {})
    return page.render(
        "concerns/report.html",
        village=village,
        township=township,
        kinds=KINDS,
        categories=categories,
        places=places,
        action=action,
        key=secrets.token_urlsafe(16),
        **context,
    )


@router.get("/r/{token}")
def scanned_code(page: VillagerPage, token: str) -> Response:
    """What scanning a village's concern code opens: the report form for that village (after signing in: the
    sign-in page comes back here)."""
    village, township = _place_of_code(page, token)
    return _report_form(page, village, township, action=f"/r/{token}")
