"""The county admin's side of partners: who they are (a bank, a merchant, a clinic of the county), their machine
clients (OAuth2 client credentials, with the scopes their kind may hold) and their staff's sign-ins. Which villages
a partner serves, and the offers it proposes, are in redemption/offers.py.

A client's secret and a new sign-in's password are made and hashed by `new_secret` / `new_password` BEFORE the
transaction that stores them (argon2 takes a core for tens of milliseconds, and must not do so while the request
holds the database); the plain text is returned once to the admin, and only its hash is kept. Every change is
written to the change log, never the secret or the password.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.core import audit
from ledger.core.base import row_id
from ledger.core.errors import Conflict, Invalid, NotFound
from ledger.identity.models import Partner, PartnerClient, PartnerKind, Role, User
from ledger.identity.passwords import hash_secret
from ledger.identity.principal import STAFF_SCOPES, Principal
from redemption import access

CODE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}$")
PASSWORD_LETTERS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I to misread
# What a machine client of each kind may hold: what its staff may do, and for a bank reading the ratings a
# household consented to and the ledger's signed head.
CLIENT_SCOPES: dict[str, frozenset[str]] = {
    PartnerKind.BANK: STAFF_SCOPES[PartnerKind.BANK] | {"credit:read", "ledger:head"},
    PartnerKind.MERCHANT: STAFF_SCOPES[PartnerKind.MERCHANT],
    PartnerKind.CLINIC: STAFF_SCOPES[PartnerKind.CLINIC],
}


class InvalidPartner(Invalid):
    code = "invalid_partner"


class PartnerExists(Conflict):
    code = "partner_exists"


class ClientExists(Conflict):
    code = "client_exists"


class ClientNotFound(NotFound):
    code = "client_not_found"


class ScopeNotAllowed(Invalid):
    code = "scope_not_allowed"


class PartnerUsernameTaken(Conflict):
    code = "partner_username_taken"


@dataclass(frozen=True)
class Fresh:
    """A secret or password just made: the plain text (shown once) and its argon2 hash (kept)."""

    plain: str
    hashed: str


def new_secret() -> Fresh:
    """A client secret and its hash. Call it outside any database transaction."""
    plain = secrets.token_urlsafe(32)
    return Fresh(plain, hash_secret(plain))


def new_password() -> Fresh:
    """A first password for a sign-in (14 letters and digits, none easy to misread) and its hash; its holder
    changes it at first sign-in. Call it outside any database transaction."""
    plain = "".join(secrets.choice(PASSWORD_LETTERS) for _ in range(14))
    return Fresh(plain, hash_secret(plain))


def _county_partner(session: Session, who: Principal, partner_id: int, *, lock: bool = False) -> Partner:
    access.require_county_admin(who, "The county admin manages partners.")
    query = select(Partner).where(col(Partner.id) == partner_id)
    return access.county_partner(who, session.scalars(query.with_for_update() if lock else query).first(), partner_id)


def county_partner(session: Session, who: Principal, partner_id: int) -> Partner:
    """A partner of the county admin's county (another's looks missing)."""
    return _county_partner(session, who, partner_id)


def create_partner(session: Session, who: Principal, *, kind: str, code: str, name: str) -> Partner:
    """A bank, merchant or clinic of the county. It serves the whole county until the admin names its villages;
    it proposes offers, which the admin approves."""
    access.require_county_admin(who, "The county admin adds partners.")
    if kind not in {k.value for k in PartnerKind}:
        raise InvalidPartner("kind is bank, merchant or clinic.", field="kind")
    if not isinstance(code, str) or not CODE.match(code):
        raise InvalidPartner(
            "code is 2 to 32 lowercase letters, digits, - or _, starting with a letter.", field="partner_code"
        )
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise InvalidPartner("name is 1 to 100 characters.", field="name")
    if session.scalars(select(Partner).where(col(Partner.code) == code)).first() is not None:
        raise PartnerExists("A partner with this code exists already.", partner_code=code)
    partner = Partner(county_id=who.county_id, kind=kind, code=code, name=name)
    session.add(partner)
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="partner.create",
        target_type="partner",
        target_id=partner.id,
        after={"kind": kind, "code": code, "name": name},
    )
    return partner


def clients_of(session: Session, partner_id: int) -> list[PartnerClient]:
    return list(
        session.scalars(
            select(PartnerClient).where(col(PartnerClient.partner_id) == partner_id).order_by(col(PartnerClient.id))
        )
    )


def staff_of(session: Session, partner_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(col(User.partner_id) == partner_id, col(User.role) == Role.PARTNER_STAFF)
            .order_by(col(User.id))
        )
    )


def create_client(
    session: Session,
    who: Principal,
    partner_id: int,
    *,
    secret: Fresh,
    client_id: str | None = None,
    scopes: list[str] | None = None,
) -> PartnerClient:
    """A machine client of the partner, holding `scopes` (by default every scope its kind may hold). Its secret
    was made by `new_secret`; only the hash is kept."""
    partner = _county_partner(session, who, partner_id, lock=True)
    allowed = CLIENT_SCOPES[partner.kind]
    wanted = sorted(set(scopes)) if scopes else sorted(allowed)
    refused = [s for s in wanted if s not in allowed]
    if refused:
        raise ScopeNotAllowed(
            f"A {partner.kind} client may not hold: {', '.join(refused)}.", field="scopes", allowed=sorted(allowed)
        )
    client_id = client_id or f"{partner.code}-{secrets.token_hex(4)}"
    if not CLIENT_ID.match(client_id):
        raise InvalidPartner("client_id is 3 to 64 lowercase letters, digits, '.', '-' or '_'.", field="client_id")
    if session.scalars(select(PartnerClient).where(col(PartnerClient.client_id) == client_id)).first() is not None:
        raise ClientExists("A client with this id exists already.", client_id=client_id)
    client = PartnerClient(
        partner_id=row_id(partner.id), client_id=client_id, secret_hash=secret.hashed, scopes=" ".join(wanted)
    )
    session.add(client)
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="partner_client.create",
        target_type="partner_client",
        target_id=client_id,
        after={"partner_id": partner.id, "scopes": client.scopes, "secret": "made"},
    )
    return client


def disable_client(session: Session, who: Principal, partner_id: int, client_id: str) -> PartnerClient:
    """The client's tokens are refused from now on (the principal is re-read on every request); it may ask for no
    new ones. Disabling a disabled client changes nothing."""
    partner = _county_partner(session, who, partner_id, lock=True)
    client = session.scalars(
        select(PartnerClient).where(
            col(PartnerClient.client_id) == client_id, col(PartnerClient.partner_id) == partner.id
        )
    ).first()
    if client is None:
        raise ClientNotFound("No such client of this partner.", client_id=client_id)
    before = audit.fields(client, ("active",))
    client.active = False
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="partner_client.disable",
        target_type="partner_client",
        target_id=client_id,
        before=before,
        after=audit.fields(client, ("active",)),
    )
    return client


def create_staff(
    session: Session,
    who: Principal,
    partner_id: int,
    *,
    username: str,
    display_name: str | None,
    password: Fresh,
    must_change: bool = True,
) -> User:
    """A sign-in for someone working at the partner (a cashier, a nurse, a loan officer), with a first password
    made by `new_password` that they change at first sign-in (`must_change`; the command line, where the password
    is typed for the account, may leave it). They act for the partner with what its kind may do."""
    partner = _county_partner(session, who, partner_id, lock=True)
    if not isinstance(username, str) or not USERNAME.match(username):
        raise InvalidPartner(
            "username is 3 to 64 letters, digits, '.', '-', '_' or '@', starting with a letter or digit.",
            field="username",
        )
    shown = (display_name or "").strip() or username
    if len(shown) > 100:
        raise InvalidPartner("display_name is at most 100 characters.", field="display_name")
    if session.scalars(select(User).where(col(User.username) == username)).first() is not None:
        raise PartnerUsernameTaken("This username is taken; choose another.", username=username)
    user = User(
        role=Role.PARTNER_STAFF,
        county_id=partner.county_id,
        username=username,
        display_name=shown,
        partner_id=partner.id,
        password_hash=password.hashed,
        must_change_password=must_change,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="partner_staff.create",
        target_type="staff",
        target_id=user.id,
        after={"partner_id": partner.id, "username": username, "display_name": shown, "password": "made"},
    )
    return user
