"""The demo county: two townships, three villages, sixty households with a year of history, staff of every
role and one bank, supermarket and clinic as partner clients. Deterministic, so the printed sign-ins work."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from ledger import tenancy
from ledger.base import utcnow
from ledger.identity.models import OfficialScope, Partner, PartnerClient, PartnerKind, Role, User
from ledger.identity.passwords import hash_secret
from ledger.identity.service import set_password
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.journal.models import AccountKind
from ledger.settings import DEMO_PASSWORD
from ledger.tenancy import County, Person

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["建国", "秀英", "桂兰", "志强", "丽华", "国庆", "海燕", "春生", "玉梅", "德明", "金凤", "永福"]
VILLAGES = [("qingshan", "青山镇", [("qingshan-cun", "青山村"), ("zhulin", "竹林村")]),
            ("lvshui", "绿水乡", [("xikou", "溪口村")])]
MATTERS = [("garbage_sorting", 2), ("volunteering", 5), ("elder_care", 3), ("courtyard_hygiene", 3),
           ("village_meeting", 2), ("dispute_mediation", 5), ("neighbourly_help", 2)]
HOUSEHOLDS_PER_VILLAGE = 20


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    secret: str
    kind: str
    scopes: str


CLIENTS = [
    DemoClient("demo-bank", "demo-bank-secret", PartnerKind.BANK, "credit:read ledger:head"),
    DemoClient("demo-mart", "demo-mart-secret", PartnerKind.MERCHANT, "vouchers:consume"),
    DemoClient("demo-clinic", "demo-clinic-secret", PartnerKind.CLINIC, "vouchers:consume bookings:manage"),
]
STAFF = [  # username, role, display name, village codes or township code
    ("admin", Role.COUNTY_ADMIN, "县管理员", ()),
    ("auditor", Role.AUDITOR, "审计员", ()),
    ("official-qingshan", Role.OFFICIAL, "青山村干部", ("qingshan-cun",)),
    ("official-zhulin", Role.OFFICIAL, "竹林村干部", ("zhulin",)),
    ("official-xikou", Role.OFFICIAL, "溪口村干部", ("xikou",)),
    ("supervisor-qingshan", Role.OFFICIAL, "青山镇督导", ("township:qingshan",)),
]


def is_seeded(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(County)))


def phone_of(n: int) -> str:
    return f"138{n:08d}"


def seed(session: Session) -> None:
    rng = random.Random(20261123)
    county = tenancy.create_county(session, code="demo", name="善治县 (demo)")
    villages: dict[str, tenancy.Village] = {}
    townships: dict[str, tenancy.Township] = {}
    for t_code, t_name, village_list in VILLAGES:
        townships[t_code] = tenancy.create_township(session, county=county, code=t_code, name=t_name)
        for v_code, v_name in village_list:
            villages[v_code] = tenancy.create_village(session, township=townships[t_code], code=v_code, name=v_name)
    _staff(session, county, villages, townships)
    _partners(session, county, villages)
    n = 0
    for village in villages.values():
        for _ in range(HOUSEHOLDS_PER_VILLAGE):
            n += 1
            _household(session, rng, county, village, n)


def _staff(session: Session, county: County, villages: dict, townships: dict) -> None:  # type: ignore[type-arg]
    for username, role, name, scope in STAFF:
        user = User(role=role, county_id=county.id, username=username, display_name=name)  # type: ignore[arg-type]
        set_password(user, DEMO_PASSWORD, is_default=True)
        session.add(user)
        session.flush()
        for code in scope:
            if code.startswith("township:"):
                session.add(OfficialScope(user_id=user.id, township_id=townships[code.split(":", 1)[1]].id))  # type: ignore[arg-type]
            else:
                session.add(OfficialScope(user_id=user.id, village_id=villages[code].id))  # type: ignore[arg-type]


def _partners(session: Session, county: County, villages: dict) -> None:  # type: ignore[type-arg]
    names = {PartnerKind.BANK: "善治农商银行", PartnerKind.MERCHANT: "村口积分超市", PartnerKind.CLINIC: "镇卫生院"}
    for client in CLIENTS:
        partner = Partner(county_id=county.id, kind=client.kind, code=client.client_id, name=names[client.kind])  # type: ignore[arg-type]
        session.add(partner)
        session.flush()
        session.add(PartnerClient(partner_id=partner.id, client_id=client.client_id,  # type: ignore[arg-type]
                                  secret_hash=hash_secret(client.secret), scopes=client.scopes))
        if client.kind != PartnerKind.BANK:
            for village in villages.values():
                journal.open_account(session, kind=AccountKind.PARTNER_CLEARING,
                                     code=f"{village.code}:{partner.code}:clearing", county_id=county.id,  # type: ignore[arg-type]
                                     village_id=village.id, partner_id=partner.id)


def _household(session: Session, rng: random.Random, county: County, village: tenancy.Village, n: int) -> None:
    surname = SURNAMES[n % len(SURNAMES)]
    household = tenancy.create_household(
        session, village=village, code=f"{village.code}-{n:03d}", name=f"{surname}家",
        head_name=surname + rng.choice(GIVEN), head_phone=phone_of(n),
    )
    for m in range(rng.randint(1, 3)):
        session.add(Person(household_id=household.id, name=surname + rng.choice(GIVEN),  # type: ignore[arg-type]
                           phone=phone_of(1000 + n * 10 + m) if m == 0 else None))
    session.flush()
    for person in session.scalars(select(Person).where(Person.household_id == household.id, Person.phone.is_not(None))):  # type: ignore[union-attr]
        session.add(User(role=Role.VILLAGER, county_id=county.id, display_name=person.name, person_id=person.id))  # type: ignore[arg-type]
    issuance = accounts.of_village(session, village.id, AccountKind.ISSUANCE).id  # type: ignore[arg-type]
    own = accounts.of_household(session, household.id).id  # type: ignore[arg-type]
    now = utcnow()
    activity = rng.random()
    for _ in range(int(activity * 24)):
        reason, points = rng.choice(MATTERS)
        journal.transfer(session, debit=issuance, credit=own, amount=points, reason=reason,  # type: ignore[arg-type]
                         actor="system:demo", effective_at=now - timedelta(days=rng.randint(1, 360)))
    if activity > 0.5:  # a recent claim still in notice
        reason, points = rng.choice(MATTERS)
        journal.transfer(session, debit=issuance, credit=own, amount=points, reason=reason, actor="system:demo",  # type: ignore[arg-type]
                         pending=True, timeout=timedelta(days=7))


def sign_in_help(base_url: str) -> str:
    token = f"{base_url}/api/v1/auth/token"
    lines = [
        f"Shanzhi demo county is served at {base_url}  (API docs: {base_url}/docs)",
        "",
        f"Staff sign in with a password (every demo password is {DEMO_PASSWORD!r}):",
    ]
    for username, role, name, _ in STAFF:
        lines.append(f"  {role:<13} {username:<20} {name}")
    lines += [
        f"  curl -s -d grant_type=password -d username=admin -d password={DEMO_PASSWORD} {token}",
        "",
        "Villagers sign in with their phone and a one-time code (dev mode returns it as dev_code):",
        f"  curl -s -H 'content-type: application/json' -d '{{\"phone\": \"{phone_of(1)}\"}}' "
        f"{base_url}/api/v1/auth/otp/request",
        f"  curl -s -H 'content-type: application/json' "
        f"-d '{{\"phone\": \"{phone_of(1)}\", \"code\": \"<dev_code>\"}}' {base_url}/api/v1/auth/otp/verify",
        f"  then: curl -s -H 'authorization: Bearer <token>' {base_url}/api/v1/households/1/balance",
        f"  (household heads use phones {phone_of(1)} … {phone_of(3 * HOUSEHOLDS_PER_VILLAGE)})",
        "",
        "Partner clients use OAuth2 client credentials:",
    ]
    for client in CLIENTS:
        lines.append(f"  {client.kind:<9} client_id={client.client_id:<12} secret={client.secret:<20} "
                     f"scopes: {client.scopes}")
    lines.append(f"  curl -s -u demo-bank:demo-bank-secret -d grant_type=client_credentials {token}")
    return "\n".join(lines)
