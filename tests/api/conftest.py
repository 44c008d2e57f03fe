"""An app on the per-test database, a small world of places and people, and signed-in clients."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.app import create_app
from ledger.catalogue import service as catalogue
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity.models import OfficialScope, Partner, PartnerClient, PartnerKind, Role, User
from ledger.identity.passwords import hash_secret
from ledger.identity.service import set_password
from ledger.tenancy import Person
from tests import factories

SECRET = "OGbAlgWb1dUR54OBYQeO-Tj5s0EzKQBzY9lQzfrWAoE"  # random, as production needs
PARTNERS = [  # code (also the client id), kind, the client's scopes
    (
        "bank",
        PartnerKind.BANK,
        "credit:read ledger:head loans:report loans:read loans:decide offers:manage settlement:read",
    ),
    ("bank2", PartnerKind.BANK, "credit:read loans:report loans:read loans:decide offers:manage"),
    ("mart", PartnerKind.MERCHANT, "vouchers:consume offers:manage settlement:read"),
    ("mart2", PartnerKind.MERCHANT, "vouchers:consume offers:manage settlement:read"),
    ("clinic", PartnerKind.CLINIC, "vouchers:consume bookings:manage offers:manage settlement:read"),
]
PASSWORD = "correct horse battery"


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "dev",
        "database_url": database_url,
        "jwt_secret": SECRET,
        "head_signing_key_path": tmp_path / "head.pem",
        "dev_secret_path": tmp_path / "dev-secret",
        "upload_dir": tmp_path / "uploads",
        "tick_seconds": 0,  # tests run the scheduled work themselves
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]  # the overrides are Settings' own fields, by name


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


@dataclass(frozen=True)
class World:
    village_a: factories.VillageFixture
    village_b: factories.VillageFixture  # same county and township as A
    village_c: factories.VillageFixture  # another county
    household_a1: int
    household_a2: int
    household_b1: int
    household_c1: int
    villager_phone: str  # head of household A1


def _staff(
    session: Session,
    username: str,
    role: Role,
    county_id: int,
    *,
    villages: Sequence[int] = (),
    township: int | None = None,
    person_id: int | None = None,
) -> None:
    user = User(role=role, county_id=county_id, username=username, display_name=username, person_id=person_id)
    set_password(user, PASSWORD)
    session.add(user)
    session.flush()
    for village_id in villages:
        session.add(OfficialScope(user_id=factories.id_of(user), village_id=village_id))
    if township is not None:
        session.add(OfficialScope(user_id=factories.id_of(user), township_id=township))


@pytest.fixture
def world(engine: Engine) -> World:
    with unit_of_work(engine) as session:
        a = factories.create_village(session)
        b = factories.create_village(session, county_id=a.county_id)
        c = factories.create_village(session)
        # put B in A's township so a township supervisor sees both
        from ledger.tenancy import Village

        village_b = session.get(Village, b.village_id)
        assert village_b is not None
        village_b.township_id = a.township_id
        b = factories.VillageFixture(**{**b.__dict__, "township_id": a.township_id})
        phone = "13900000001"
        a1, _ = factories.create_household(session, a.village_id, phone=phone)
        a2, _ = factories.create_household(session, a.village_id, phone="13900000002")
        b1, _ = factories.create_household(session, b.village_id, phone="13900000003")
        c1, _ = factories.create_household(session, c.village_id, phone="13900000004")
        session.flush()
        for person in session.exec(select(Person).where(col(Person.phone).is_not(None))).all():
            county = a.county_id if person.household_id != c1 else c.county_id
            session.add(User(role=Role.VILLAGER, county_id=county, display_name=person.name, person_id=person.id))
        _staff(session, "official-a", Role.OFFICIAL, a.county_id, villages=[a.village_id])
        _staff(session, "official-a2", Role.OFFICIAL, a.county_id, villages=[a.village_id])
        # an official of village A who lives there, in household A2
        resident = Person(household_id=a2, name="Resident official")
        session.add(resident)
        session.flush()
        _staff(session, "official-home", Role.OFFICIAL, a.county_id, villages=[a.village_id], person_id=resident.id)
        _staff(session, "official-b", Role.OFFICIAL, a.county_id, villages=[b.village_id])
        _staff(session, "supervisor", Role.OFFICIAL, a.county_id, township=a.township_id)
        _staff(session, "admin", Role.COUNTY_ADMIN, a.county_id)
        _staff(session, "auditor", Role.AUDITOR, a.county_id)
        _staff(session, "admin-c", Role.COUNTY_ADMIN, c.county_id)
        # partners of county A: each has a machine client named by its code, and a staff user "<code>-staff"
        for code, kind, scopes in PARTNERS:
            partner = Partner(county_id=a.county_id, kind=kind, code=code, name=code)
            session.add(partner)
            session.flush()
            session.add(
                PartnerClient(
                    partner_id=factories.id_of(partner),
                    client_id=code,
                    secret_hash=hash_secret(f"{code}-secret"),
                    scopes=scopes,
                )
            )
            staff = User(
                role=Role.PARTNER_STAFF,
                county_id=a.county_id,
                username=f"{code}-staff",
                display_name=f"{code} staff",
                partner_id=partner.id,
            )
            set_password(staff, PASSWORD)
            session.add(staff)
        for county in (a.county_id, c.county_id):
            catalogue.load_default(session, county_id=county)
    return World(a, b, c, a1, a2, b1, c1, phone)


def password_token(client: TestClient, username: str, password: str = PASSWORD) -> str:
    response = client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def client_token(client: TestClient, client_id: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": f"{client_id}-secret"}
    if scope:
        data["scope"] = scope
    response = client.post("/api/v1/auth/token", data=data)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def villager_token(client: TestClient, phone: str) -> str:
    code = client.post("/api/v1/auth/otp/request", json={"phone": phone}).json()["dev_code"]
    response = client.post("/api/v1/auth/otp/verify", json={"phone": phone, "code": code})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def app_of(client: TestClient) -> FastAPI:
    """The app a test client serves (its type says only "an ASGI app")."""
    return cast(FastAPI, client.app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
