"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import public, scraper_or
from api.observability import metrics_text
from api.problems import problem
from ledger.core import migrations
from ledger.identity.models import Role

router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[public()])
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[public()], response_model=None)
def readyz(request: Request) -> dict[str, str] | Response:
    """The database answers and its schema is at the newest migration."""
    engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrations.current_revision(engine)
    except SQLAlchemyError:
        return problem(503, "database_unreachable", "The database does not answer.")
    head = migrations.head_revision()
    if current != head:
        return problem(
            503, "migrations_pending", f"The schema is at {current}, the code needs {head}.", current=current, head=head
        )
    return {"status": "ready", "revision": head or ""}


@router.get("/metrics", dependencies=[scraper_or(Role.COUNTY_ADMIN, Role.AUDITOR)], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format: what every API worker process counted, and what waits in the database now (the
    figures docs/alerts.md pages on). Outside dev mode: for a scraper with the metrics token
    (SHANZHI_METRICS_TOKEN, as a bearer token), the county admin and auditors."""
    return Response(metrics_text(request.app.state.engine), media_type="text/plain; version=0.0.4; charset=utf-8")
