"""Helpers for redemption tests: points for a household, offers proposed and approved, vouchers redeemed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.identity import principal
from ledger.identity.principal import Principal
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.journal.models import AccountKind
from ledger.tenancy import Household
from tests.api.conftest import bearer, client_token, password_token
from tests.factories import id_of


def give_points(engine: Engine, household_id: int, points: int) -> None:
    """Settled, spendable points, straight from the village's issuance account."""
    with unit_of_work(engine) as session:
        household = session.get(Household, household_id)
        assert household is not None
        issuance = accounts.of_village(session, household.village_id, AccountKind.ISSUANCE)
        own = accounts.of_household(session, household_id)
        journal.transfer(
            session,
            debit=id_of(issuance),
            credit=id_of(own),
            amount=points,
            reason="test_award",
            actor="test",
        )


def propose(client: TestClient, partner: str = "mart", **fields: Any) -> dict[str, Any]:
    now = utcnow()
    body: dict[str, Any] = {
        "kind": "voucher",
        "title": "超市代金券 50元",
        "value_yuan": "50.00",
        "cost_points": 100,
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=90)).isoformat(),
        **fields,
    }
    response = client.post("/api/v1/offers", json=body, headers=bearer(client_token(client, partner)))
    assert response.status_code == 201, response.text
    return dict(response.json())


def approve(client: TestClient, offer_id: int) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/offers/{offer_id}/decision", json={"approve": True}, headers=bearer(password_token(client, "admin"))
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def offer(client: TestClient, partner: str = "mart", **fields: Any) -> dict[str, Any]:
    return approve(client, propose(client, partner, **fields)["id"])


def redeem(client: TestClient, token: str, offer_id: int, **fields: Any) -> Any:
    return client.post(
        "/api/v1/redemptions",
        json={"offer_id": offer_id, **fields},
        headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())},
    )


def available(client: TestClient, token: str, household_id: int) -> int:
    response = client.get(f"/api/v1/households/{household_id}/balance", headers=bearer(token))
    assert response.status_code == 200, response.text
    return int(response.json()["available"])


def partner_principal(session: Session, code: str) -> Principal:
    """A partner's machine client as the services see it (for calling them with a moment of our choosing)."""
    return principal.load(
        session, subject=f"client:{code}", role=principal.PARTNER, scopes=("vouchers:consume", "bookings:manage")
    )
