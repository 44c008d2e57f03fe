"""Figures the domain counts for /metrics, observed only when what they count is committed.

A domain module defines its prometheus_client metric with `registry=None` (api/observability.py registers it in
the registry /metrics shows) and, where the figure must not count work that is rolled back, calls
`on_commit(session, observe)`: `observe` runs after the session's transaction commits, and is forgotten when it
rolls back."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING = "metrics_on_commit"  # session.info: what to observe when the transaction commits


def on_commit(session: Session, observe: Callable[[], None]) -> None:
    session.info.setdefault(_PENDING, []).append(observe)


@event.listens_for(Session, "after_commit")
def _observe(session: Session) -> None:
    for observe in session.info.pop(_PENDING, []):
        observe()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
