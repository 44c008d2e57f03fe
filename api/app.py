"""The FastAPI application."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlmodel import col
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import demo, open311, openapi, pages, problems, sms
from api.limits import BodyLimit
from api.observability import RequestContext, configure_logging
from api.routes import (
    activities,
    audit,
    auth,
    calendar,
    catalogue,
    claims,
    concern_figures,
    concern_setup,
    concerns,
    credit,
    disputes,
    evidence,
    health,
    households,
    ledger,
    loans,
    my_data,
    notifications,
    open311_clients,
    partner_admin,
    partners,
    people,
    redemption,
    roster,
    staff,
    villages,
)
from api.routes import (
    jobs as job_routes,
)
from ledger import jobs
from ledger.activities.codes import Keys
from ledger.core.db import connections_at_once, make_engine, unit_of_work
from ledger.core.settings import InsecureSettings, Settings, check_for_production, get_settings
from ledger.identity import passwords
from ledger.identity.models import User
from ledger.identity.service import OtpSender
from redemption import schedule

ROUTERS = (
    health.router,
    concern_figures.router,  # /api/v1/concerns/figures, matched before /api/v1/concerns/{concern_id}
    auth.router,
    households.router,
    ledger.router,
    catalogue.router,
    activities.router,
    evidence.router,
    claims.router,
    disputes.router,
    villages.router,
    notifications.router,
    credit.router,
    partners.router,
    redemption.router,
    loans.router,
    job_routes.router,
    staff.router,
    audit.router,
    people.router,
    partner_admin.router,
    roster.router,
    my_data.router,
    open311_clients.router,
    calendar.router,
    *concern_setup.ROUTERS,
    concerns.router,  # after every other /api/v1/concerns/… route: its /{concern_id} would take their paths
)


log = logging.getLogger("shanzhi")


def announce_mode(settings: Settings) -> None:
    """The first line logged at start-up: which mode this is, so nobody runs real data on a dev server unaware."""
    if settings.dev_mode:
        log.warning("DEV MODE: not for real data (SHANZHI_ENV=dev: sign-in codes are shown, checks are off)")
    else:
        log.info("production mode (SHANZHI_ENV=prod): start-up checks on")


def refuse_default_passwords(engine: Engine) -> None:
    """Outside dev mode, no active account may still sign in with a password that shipped with the code, and no
    active partner client with a secret the demo prints."""
    with unit_of_work(engine) as session:
        users = session.scalars(
            select(col(User.username)).where(col(User.active).is_(True), col(User.password_is_default).is_(True))
        ).all()
        clients = demo.clients_with_demo_secrets(session)
    problems = []
    if users:
        problems.append(f"accounts still have a default password: {', '.join(sorted(map(str, users)))}")
    if clients:
        problems.append(
            f"partner clients still have the demo's secret: {', '.join(clients)} (retire them, "
            "and register new ones with `shanzhi create-partner-client`)"
        )
    if problems:
        raise InsecureSettings("; ".join(problems))


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, otp_sender: OtpSender | None = None
) -> FastAPI:
    settings = settings or get_settings()
    check_for_production(settings)  # refuses to build an unsafe service at all
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        announce_mode(settings)
        sms.announce(settings)
        if not settings.dev_mode:
            refuse_default_passwords(engine)
        loop = (
            jobs.Loop(
                engine, settings.tick_seconds, sink=app.state.sms_sink, more=schedule.STEPS, own=schedule.OWN_STEPS
            )
            if settings.api_runs_schedule
            else None
        )
        if loop is not None:
            loop.start()
        yield
        if loop is not None:
            loop.stop()

    docs = settings.serves_api_docs  # off in production unless SHANZHI_API_DOCS=true
    app = FastAPI(
        title="Shanzhi",
        summary="Village points-and-credit ledger",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.engine = engine
    turns = connections_at_once(engine)
    app.state.db_turns = asyncio.Semaphore(turns) if turns else None  # see api/deps.get_session
    channel = sms.sender(settings)
    app.state.otp_sender = otp_sender or sms.otp_sender(settings, channel)
    app.state.has_sms = otp_sender is not None or sms.has_sms(settings)  # without, codes are refused (api/signin)
    app.state.sms_sink = sms.sink(settings, channel)  # notifications, sent by the scheduled work
    app.state.code_keys = Keys.from_settings(settings)
    problems.install(app)
    passwords.set_hashes_at_once(settings.hashes_at_once())
    for router in ROUTERS:
        app.include_router(router)
    pages.install(app)
    open311.install(app)  # Open311 GeoReport v2: the standard's own shapes and errors, outside /api/v1's document
    routes = [route for router in (*ROUTERS, *pages.ROUTERS) for route in router.routes]
    openapi.install(app, routes)  # the document says what each route answers, errors included (api/openapi.py)
    app.add_middleware(BodyLimit, settings=settings, routes=routes)  # before routing and sign-in
    app.add_middleware(RequestContext)  # a refused body is logged and counted like any answer
    # Outermost: the real client address behind the county's reverse proxy (api/observability.client_address)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app


def served_app() -> FastAPI:
    """The app as `shanzhi serve` runs it in each worker process: JSON-lines logs first (a worker is a process of
    its own, which does not inherit the logging set up by the command)."""
    configure_logging()
    app = create_app()
    settle_memory()
    return app


def settle_memory() -> None:
    """Everything made so far (modules, the app and its routes, the catalogue of messages: most of what the
    garbage collector tracks) lives as long as the worker: frozen, a full collection no longer walks it each
    time requests have made enough objects, which at village size cost 170-240 ms a collection
    (docs/benchmarks.md, bench/pages.py). Only for a served worker: a process that makes many apps (the tests)
    would keep each one."""
    gc.collect()
    gc.freeze()
