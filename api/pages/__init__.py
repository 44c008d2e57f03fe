"""Server-rendered pages for villagers, officials and partners (Jinja2), on the same app as the API.

A page calls the same access modules, services and presenters as the API's routes, so a page and the API share
one set of rules and one access check. See docs/pages.md.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from api.pages import (
    account,
    charts,
    concern_setup,
    concerns,
    county,
    importing,
    office,
    partner,
    partner_setup,
    places,
    staffing,
    villager,
)
from api.pages.web import STATIC, check_csrf, error_page, status_page

ROUTERS = (
    account.router,
    account.signin_router,
    villager.router,
    concern_setup.router,  # before concerns: /office/concerns/places is no concern's id
    concerns.router,
    office.router,
    partner.router,
    partner_setup.router,
    county.router,
    county.secret_router,
    importing.router,
    places.router,
    staffing.router,
    staffing.hashing_router,
)
# check CSRF themselves, before any unit of work: the staff sign-in, and the forms that make a secret or a
# password (argon2 runs before the unit of work, as for signing in)
OPEN_ROUTERS = (account.signin_router, county.secret_router, staffing.hashing_router)


def install(app: FastAPI) -> None:
    app.state.error_page = error_page  # a refusal on a page is a page (api/problems.py asks for it)
    app.state.status_page = status_page  # so is a page path that is not found or fails
    app.state.drawn = charts.Drawn()  # the dashboard's tables and charts, by the version of their data
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        csrf = [] if router in OPEN_ROUTERS else [Depends(check_csrf)]
        app.include_router(router, dependencies=csrf, include_in_schema=False)
