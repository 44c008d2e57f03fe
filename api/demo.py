"""The demo county: two townships, three villages, sixty households with a year of history, staff of every
role and one bank, supermarket and clinic as partner clients. Deterministic, so the printed sign-ins work."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from ledger import tenancy
from ledger.activities import codes
from ledger.activities import service as activities
from ledger.activities.models import Activity
from ledger.base import utcnow
from ledger.catalogue import service as catalogue
from ledger.claims import deductions, review
from ledger.claims import service as claims
from ledger.identity import principal
from ledger.identity.models import OfficialScope, Partner, PartnerClient, PartnerKind, Role, User
from ledger.identity.passwords import hash_secret
from ledger.identity.service import set_password
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.journal.models import AccountKind
from ledger.settings import DEMO_PASSWORD
from ledger.tenancy import County, Household, Person
from scoring import ratings

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
    DemoClient("demo-bank", "demo-bank-secret", PartnerKind.BANK, "credit:read loans:report ledger:head"),
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


def seed(session: Session, keys: codes.Keys) -> None:
    rng = random.Random(20261123)
    county = tenancy.create_county(session, code="demo", name="善治县 (demo)")
    catalogue.load_default(session, county_id=county.id)  # type: ignore[arg-type]
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
    for village in villages.values():
        _claims(session, rng, keys, village)
    ratings.rescore_county(session, county.id)  # every household rated as of today, with the shipped card


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
        head_name=surname + rng.choice(GIVEN), head_phone=phone_of(n), house_number=str(n),
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


# Each village's activities: (matter, title, place, period, rotating, days open before and after now)
ACTIVITIES = [
    ("courtyard_hygiene", "庭院整洁月度评比", "各户庭院", "once", False, 1, 20),
    ("volunteering", "周末河道清洁志愿活动", "村委会门口集合", "once", False, 1, 6),
    ("garbage_sorting", "垃圾分类投放点", "村口垃圾亭", "day", False, 30, 335),
    ("village_meeting", "村民代表大会", "村委会会议室", "once", True, 1, 1),
]


def _claims(session: Session, rng: random.Random, keys: codes.Keys, village: tenancy.Village) -> None:
    """Open activities, and claims of this week in every state: awaiting review, in notice, rejected."""
    now = utcnow()
    made = {}
    for matter, title, place, period, rotating, before, after in ACTIVITIES:
        made[matter] = activities.create(
            session, village=village, matter_code=matter, title=title, place=place, period=period,
            rotating=rotating, starts_at=now - timedelta(days=before), ends_at=now + timedelta(days=after),
            actor="system:demo",
        )
    official = session.scalars(select(User).where(User.username == f"official-{village.code.split('-')[0]}")).first()
    reviewer = principal.load(session, subject=f"user:{official.id}", role=Role.OFFICIAL, scopes=()) \
        if official else None
    villagers = session.scalars(
        select(User).join(Person, Person.id == User.person_id).join(Household, Household.id == Person.household_id)
        .where(Household.village_id == village.id, Person.is_head.is_(True)).order_by(Household.id)  # type: ignore[attr-defined]
    ).all()
    for n, user in enumerate(villagers[1:12]):  # household 1 of each village keeps a clean slate to try things
        who = principal.load(session, subject=f"user:{user.id}", role=Role.VILLAGER, scopes=())
        activity = made["volunteering" if n % 2 else "garbage_sorting"]
        token = activities.printed_code(keys, activity)
        claim = claims.submit_by_code(session, who, keys, token=token, details=claims.Details(),
                                      idempotency_key=None, now=now - timedelta(hours=rng.randint(1, 20))).claim
        if reviewer is None or n % 4 == 0:
            continue  # left for an official to review
        if n % 4 == 3:
            review.reject(session, reviewer, claim_id=claim.id, reason="活动签到表上没有您家的名字",  # type: ignore[arg-type]
                          idempotency_key=None)
        else:
            review.approve(session, reviewer, claim_id=claim.id, idempotency_key=None)  # type: ignore[arg-type]
    for n, user in enumerate(villagers[::5]):  # some households broke a village rule in the spring
        if reviewer is None:
            break
        household = session.get(Person, user.person_id).household_id  # type: ignore[union-attr]
        deductions.record(session, reviewer, household_id=household, matter_code="breaking_village_rules",
                          reason="在公共通道堆放杂物，经劝说后已清理", evidence_ids=(), idempotency_key=None,
                          now=now - timedelta(days=150 + 20 * n))


def first_activity(session: Session, keys: codes.Keys, base_url: str) -> tuple[str, str]:
    """The demo's courtyard activity in the first village: its title and the URL its QR code carries."""
    activity = session.scalars(select(Activity).where(Activity.title == ACTIVITIES[0][1]).order_by(Activity.id)).first()
    assert activity is not None
    return activity.title, f"{base_url}/c/{activities.printed_code(keys, activity)}"


def sign_in_help(base_url: str, activity: tuple[str, str] | None = None) -> str:
    token = f"{base_url}/api/v1/auth/token"
    json = "-H 'content-type: application/json'"
    lines = [
        f"Shanzhi demo county is served at {base_url}  (API docs: {base_url}/docs)",
        "",
        f"Staff sign in with a password (every demo password is {DEMO_PASSWORD!r}):",
    ]
    for username, role, name, _ in STAFF:
        lines.append(f"  {role:<13} {username:<20} {name}")
    lines += [
        f"  curl -s -d grant_type=password -d username=official-qingshan -d password={DEMO_PASSWORD} {token}",
        "",
        "Villagers sign in with their phone and a one-time code (dev mode returns it as dev_code):",
        f"  curl -s {json} -d '{{\"phone\": \"{phone_of(1)}\"}}' {base_url}/api/v1/auth/otp/request",
        f"  curl -s {json} -d '{{\"phone\": \"{phone_of(1)}\", \"code\": \"<dev_code>\"}}' "
        f"{base_url}/api/v1/auth/otp/verify",
        f"  then: curl -s -H 'authorization: Bearer <token>' {base_url}/api/v1/households/1/balance",
        f"  (household heads use phones {phone_of(1)} … {phone_of(3 * HOUSEHOLDS_PER_VILLAGE)}; household 1 of "
        "each village has no claims yet)",
    ]
    if activity is not None:
        title, url = activity
        code = url.rsplit("/", 1)[-1]
        lines += [
            "",
            f"A villager's QR code to scan ({title}, needs a photo):",
            f"  {url}",
            "  as household 1 (phone above): send a photo, then claim with the code:",
            f"  curl -s -H 'authorization: Bearer <villager token>' -F file=@photo.jpg {base_url}/api/v1/evidence",
            f"  curl -s -H 'authorization: Bearer <villager token>' -H 'Idempotency-Key: try-1' {json} "
            f"-d '{{\"token\": \"{code}\", \"evidence_ids\": [<id>]}}' {base_url}/api/v1/claims",
            "  the official of 青山村 approves it:",
            f"  curl -s -H 'authorization: Bearer <official token>' -H 'Idempotency-Key: ok-1' -X POST "
            f"{base_url}/api/v1/claims/<claim id>/approve",
            "  the balance shows it in notice; it settles after the 7-day notice period (`shanzhi tick`; in the",
            "  demo `shanzhi tick --days-ahead 8` runs the schedule as it will be in 8 days).",
        ]
    bearer = "-H 'authorization: Bearer <villager token>'"
    lines += [
        "",
        "Ratings, as the villager of household 1 (every demo household is rated; see docs/credit.md):",
        f"  curl -s {bearer} {base_url}/api/v1/credit/me                  # grade, reasons, how to improve",
        f"  curl -s {bearer} '{base_url}/api/v1/partners?kind=bank'       # the bank to consent to",
        f"  curl -s {bearer} {json} -d '{{\"partner_id\": <id>, \"purpose\": \"loan_preapproval\", "
        f"\"scope\": \"score\"}}' {base_url}/api/v1/consents",
        "  the bank, with its client-credentials token (below):",
        f"  curl -s -H 'authorization: Bearer <bank token>' "
        f"'{base_url}/api/v1/credit/households/1?consent_id=<consent id>'",
        f"  curl -s {bearer} {base_url}/api/v1/credit/me/lookups          # who looked, when, why",
        f"  curl -s {bearer} -X POST {base_url}/api/v1/consents/<consent id>/revoke   # the next lookup is 403",
    ]
    lines += ["", "Partner clients use OAuth2 client credentials:"]
    for client in CLIENTS:
        lines.append(f"  {client.kind:<9} client_id={client.client_id:<12} secret={client.secret:<20} "
                     f"scopes: {client.scopes}")
    lines.append(f"  curl -s -u demo-bank:demo-bank-secret -d grant_type=client_credentials {token}")
    return "\n".join(lines)
