"""The FastAPI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine, select
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import pages, problems
from api.observability import RequestContext
from api.routes import (
    activities,
    auth,
    catalogue,
    claims,
    credit,
    disputes,
    evidence,
    health,
    households,
    ledger,
    loans,
    notifications,
    partners,
    redemption,
    villages,
)
from ledger import jobs
from ledger.activities.codes import Keys
from ledger.db import connections_at_once, make_engine, unit_of_work
from ledger.identity import passwords
from ledger.identity.models import User
from ledger.identity.service import OtpSender
from ledger.settings import InsecureSettings, Settings, check_for_production, get_settings
from redemption import schedule

ROUTERS = (health.router, auth.router, households.router, ledger.router, catalogue.router, activities.router,
           evidence.router, claims.router, disputes.router, villages.router, notifications.router, credit.router,
           partners.router, redemption.router, loans.router)


def refuse_default_passwords(engine: Engine) -> None:
    """Outside dev mode, no active account may still sign in with a password that shipped with the code."""
    with unit_of_work(engine) as session:
        users = session.scalars(
            select(User.username).where(User.active.is_(True), User.password_is_default.is_(True))  # type: ignore[attr-defined]
        ).all()
    if users:
        raise InsecureSettings(f"accounts still have a default password: {', '.join(sorted(map(str, users)))}")


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, otp_sender: OtpSender | None = None
) -> FastAPI:
    settings = settings or get_settings()
    check_for_production(settings)  # refuses to build an unsafe service at all
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not settings.dev_mode:
            refuse_default_passwords(engine)
        loop = (jobs.Loop(engine, settings.tick_seconds, more=schedule.STEPS, own=schedule.OWN_STEPS)
                if settings.tick_seconds else None)
        if loop is not None:
            loop.start()
        yield
        if loop is not None:
            loop.stop()

    app = FastAPI(
        title="Shanzhi",
        summary="Village points-and-credit ledger",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    turns = connections_at_once(engine)
    app.state.db_turns = asyncio.Semaphore(turns) if turns else None  # see api/deps.get_session
    app.state.otp_sender = otp_sender or auth.log_otp_sender(settings)
    app.state.code_keys = Keys.from_settings(settings)
    problems.install(app)
    app.add_middleware(RequestContext)
    # Outermost: the real client address behind the county's reverse proxy (api/observability.client_address)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    passwords.set_hashes_at_once(settings.hashes_at_once())
    for router in ROUTERS:
        app.include_router(router)
    pages.install(app, ROUTERS)
    return app
