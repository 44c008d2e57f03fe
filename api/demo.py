"""The demo county, built as a real county starts: a generated roster of two townships, three villages and 270
households goes through the roster import (ledger/roster), then a year of history is played through the services
(api/demo_history.py); staff of every role and one bank, supermarket and clinic as partner clients (and one staff
member each). Deterministic, so the printed sign-ins work.

After the history, the seed plays the redemption story through the domain services, as the people in it would:
each partner proposes an offer and the county admin approves it; a household redeems a supermarket voucher and
the supermarket uses it with the PIN; another household's one-day voucher expires and its points come back; a
household's health-check booking is marked attended; the best-rated household applies for the bank's loan and is
pre-approved by the product's rule; and the villager of the printed phone holds a voucher of its own. `story`
reads it back from the database, with the month's settlement of each partner, for `shanzhi demo` to print."""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session, col

from api import demo_concerns, demo_history
from ledger import roster as county_roster
from ledger import tenancy
from ledger.activities import codes
from ledger.activities import service as activities
from ledger.activities.models import Activity
from ledger.catalogue.county import start_county
from ledger.claims import deductions, review
from ledger.claims import service as claims
from ledger.concerns.models import CalendarDay
from ledger.concerns.setup import default_categories
from ledger.core import exports
from ledger.core.base import row_id, utcnow
from ledger.core.settings import DEMO_PASSWORD
from ledger.figures import month_bounds
from ledger.identity import principal
from ledger.identity.models import OfficialScope, Partner, PartnerClient, PartnerKind, Role, User
from ledger.identity.passwords import check_secret, hash_secret
from ledger.journal import accounts, queries
from ledger.journal import service as journal
from ledger.journal.models import AccountKind
from ledger.tenancy import County, Household, Person
from redemption import loans, offers, settlement, vouchers
from redemption.models import (
    LimitPeriod,
    LoanApplication,
    OfferKind,
    Voucher,
    VoucherEvent,
    VoucherEventKind,
    VoucherStatus,
)
from scoring import ratings

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["建国", "秀英", "桂兰", "志强", "丽华", "国庆", "海燕", "春生", "玉梅", "德明", "金凤", "永福"]
VILLAGES = [
    ("qingshan", "青山镇", [("qingshan-cun", "青山村"), ("zhulin", "竹林村")]),
    ("lvshui", "绿水乡", [("xikou", "溪口村")]),
]
MATTERS = [
    ("garbage_sorting", 2),
    ("volunteering", 5),
    ("elder_care", 3),
    ("courtyard_hygiene", 3),
    ("village_meeting", 2),
    ("dispute_mediation", 5),
    ("neighbourly_help", 2),
]
ACTOR = "system:demo"  # who the change log names for the demo's set-up


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    secret: str
    kind: str
    scopes: str


CLIENTS = [
    DemoClient(
        "demo-bank",
        "demo-bank-secret",
        PartnerKind.BANK,
        "credit:read loans:report loans:read loans:decide offers:manage ledger:head settlement:read",
    ),
    DemoClient("demo-mart", "demo-mart-secret", PartnerKind.MERCHANT, "vouchers:consume offers:manage settlement:read"),
    DemoClient(
        "demo-clinic",
        "demo-clinic-secret",
        PartnerKind.CLINIC,
        "vouchers:consume bookings:manage offers:manage settlement:read",
    ),
]
PARTNER_STAFF = [  # username, partner code, display name: they sign in with the demo password, as other staff
    ("bank-staff", "demo-bank", "农商银行信贷员"),
    ("mart-staff", "demo-mart", "积分超市店员"),
    ("clinic-staff", "demo-clinic", "卫生院护士"),
]
STAFF = [  # username, role, display name, village codes or township code
    ("admin", Role.COUNTY_ADMIN, "县管理员", ()),
    ("auditor", Role.AUDITOR, "审计员", ()),
    ("official-qingshan", Role.OFFICIAL, "青山村干部", ("qingshan-cun",)),
    ("official-zhulin", Role.OFFICIAL, "竹林村干部", ("zhulin",)),
    ("official-xikou", Role.OFFICIAL, "溪口村干部", ("xikou",)),
    ("supervisor-qingshan", Role.OFFICIAL, "青山镇督导", ("township:qingshan",)),
    ("grid-qingshan", Role.OFFICIAL, "青山镇网格员", ()),  # village concerns' handlers (api/demo_concerns.py)
    ("office-qingshan", Role.OFFICIAL, "青山镇综治办", ()),
]


def clients_with_demo_secrets(session: Session) -> list[str]:
    """Active partner clients that still sign in with the secret the demo gave them and prints for anyone to read.
    Each of the demo's client ids is checked against its own secret (one argon2 check each, so start-up stays
    quick however many clients a county has); the command line only ever issues random secrets."""
    known = {client.client_id: client.secret for client in CLIENTS}
    active_demo_ids = (col(PartnerClient.active).is_(True), col(PartnerClient.client_id).in_(known))
    rows = session.scalars(select(PartnerClient).where(*active_demo_ids)).all()
    return sorted(row.client_id for row in rows if check_secret(row.secret_hash, known[row.client_id]))


def is_seeded(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(County)))


def phone_of(n: int) -> str:
    return f"138{n:08d}"


def seed(session: Session, keys: codes.Keys, *, upload_dir: Path | None = None) -> None:
    """The demo county as a county starts: the county with its default catalogue and policy, then its places and
    people from its roster (`roster`), its staff and partners, then a year of its life through the services
    (api/demo_history.py), this week's claims in every state, four months of village concerns with their
    handlers (api/demo_concerns.py: their photos stored under `upload_dir`, a temporary directory when none is
    given), the ratings as of today and the redemption story."""
    rng = random.Random(20261123)
    county = start_county(session, code="demo", name="善治县（演示）", actor=ACTOR)
    default_categories(session, row_id(county.id))
    villages, townships = _from_roster(session, county, roster(random.Random(20261201)))
    _staff(session, county, villages, townships)
    _partners(session, county, villages)
    _calendar(session, county, utcnow().date())
    places = _places(session, county, villages, rng)
    demo_history.play(session, keys, places, now=utcnow(), timezone=county.timezone, rng=rng)
    for place in places:
        _claims(session, rng, keys, place)
    photos = upload_dir if upload_dir is not None else Path(tempfile.mkdtemp(prefix="shanzhi-demo-"))
    demo_concerns.play(session, county, places, townships, upload_dir=photos, now=utcnow())
    ratings.rescore_county(session, row_id(county.id))  # every household rated as of today, with the shipped card
    _redemption(session, county)


def _calendar(session: Session, county: County, today: date) -> None:
    """Two marked days on the demo county's calendar, named as examples (the real holiday arrangement is the
    State Council's, published each year, and each county enters it: docs/concerns.md): a Monday holiday two to
    three weeks ahead, and the Saturday before it worked instead, so concern deadlines can be seen skipping the
    one and counting the other."""
    holiday = today + timedelta(days=14 + (7 - today.weekday()) % 7)  # a Monday
    session.add(CalendarDay(county_id=row_id(county.id), day=holiday, working=False, name="示例假日（演示数据）"))
    session.add(
        CalendarDay(
            county_id=row_id(county.id), day=holiday - timedelta(days=2), working=True, name="示例调休（演示数据）"
        )
    )
    session.flush()


# --- the roster: places and people, as the county keeps them -----------------------------------------------------

ROSTER_COLUMNS = ["乡镇", "村", "户号", "门牌号", "地址", "姓名", "与户主关系", "手机号"]
HOUSEHOLDS = {"qingshan-cun": 100, "zhulin": 90, "xikou": 80}  # households per village, in VILLAGES order
HOUSEHOLD_COUNT = sum(HOUSEHOLDS.values())
GIVEN_MEN = ["建国", "志强", "国庆", "春生", "德明", "永福", "卫东", "立新", "海涛", "文斌", "家豪", "俊杰"]
GIVEN_WOMEN = ["秀英", "桂兰", "丽华", "海燕", "玉梅", "金凤", "美玲", "春花", "红霞", "淑珍", "雪梅", "晓燕"]
WIVES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高叶方"


def roster(rng: random.Random) -> pd.DataFrame:
    """The demo county's roster, one row per member in the county's roster format (ROSTER_COLUMNS): three
    villages of two townships. Household n's head has phone `phone_of(n)`; some other members have phones too."""
    rows: list[dict[str, str]] = []
    n = 0
    for _, township, village_list in VILLAGES:
        for village_code, village in village_list:
            for house in range(1, HOUSEHOLDS[village_code] + 1):
                n += 1
                surname = SURNAMES[n % len(SURNAMES)]

                place = [township, village, f"{village_code}-{n:03d}", str(house)]
                place.append(f"{township}{village}{(house - 1) // 20 + 1}组{house}号")

                names: set[str] = set()

                def member(
                    family: str,
                    given: list[str],
                    relation: str,
                    phone: str = "",
                    place: list[str] = place,
                    names: set[str] = names,
                ) -> None:
                    """A member named family + one of `given` that nobody of the household has (a member is
                    known by name within the household)."""
                    name = family + rng.choice([g for g in given if family + g not in names])
                    names.add(name)
                    rows.append(dict(zip(ROSTER_COLUMNS, [*place, name, relation, phone], strict=True)))

                member(surname, GIVEN_MEN, "户主", phone_of(n))
                if rng.random() < 0.85:
                    wife_phone = phone_of(1000 + n * 10) if rng.random() < 0.5 else ""
                    member(rng.choice(WIVES), GIVEN_WOMEN, "配偶", wife_phone)
                for m in range(rng.choice([0, 1, 1, 2, 2, 3])):
                    son = rng.random() < 0.5
                    phone = phone_of(1000 + n * 10 + 1 + m) if rng.random() < 0.3 else ""
                    member(surname, GIVEN_MEN if son else GIVEN_WOMEN, "子" if son else "女", phone)
                if rng.random() < 0.3:
                    member(surname, GIVEN_MEN, "父")
                if rng.random() < 0.35:
                    member(rng.choice(WIVES), GIVEN_WOMEN, "母")
    return pd.DataFrame(rows, columns=ROSTER_COLUMNS)


def _from_roster(
    session: Session, county: County, frame: pd.DataFrame
) -> tuple[dict[str, tenancy.Village], dict[str, tenancy.Township]]:
    """The county's places, households, members and villager sign-ins, by importing its roster as a county does
    (the file a clerk would upload, with the places it names created). Returns the villages and townships by the
    demo's own names for them (VILLAGES)."""
    table = county_roster.read_file(exports.csv_bytes(frame), "演示县花名册.csv")
    county_id = row_id(county.id)
    report = county_roster.apply(
        session, county_id=county_id, table=table, dry_run=False, create_places=True, actor=ACTOR, by=None
    )
    if not report.applied:
        raise RuntimeError(f"the demo's roster was refused: {report.problems[:5]}")
    villages = {
        v.name: v for v in session.scalars(select(tenancy.Village).where(col(tenancy.Village.county_id) == county_id))
    }
    townships = {
        t.name: t for t in session.scalars(select(tenancy.Township).where(col(tenancy.Township.county_id) == county_id))
    }
    return (
        {code: villages[name] for _, _, village_list in VILLAGES for code, name in village_list},
        {code: townships[name] for code, name, _ in VILLAGES},
    )


def _places(
    session: Session, county: County, villages: dict[str, tenancy.Village], rng: random.Random
) -> list[demo_history.Place]:
    """Each village with its official and its households, heads signed in, with how keen each is."""
    places = []
    for n, (code, village) in enumerate(villages.items()):
        username = next(u for u, _, _, scope in STAFF if scope == (code,))
        official_id = session.scalars(select(col(User.id)).where(col(User.username) == username)).one()
        official = principal.load(session, subject=f"user:{official_id}", role=Role.OFFICIAL, scopes=())
        heads = session.execute(
            select(col(User.id), col(Household.id))
            .join(Person, col(Person.id) == col(User.person_id))
            .join(Household, col(Household.id) == col(Person.household_id))
            .where(col(Household.village_id) == village.id, col(Person.is_head).is_(True))
            .order_by(col(Household.id))
        ).all()
        homes = []
        for i, (user_id, household_id) in enumerate(heads):
            villager = principal.load(session, subject=f"user:{user_id}", role=Role.VILLAGER, scopes=())
            steady = i in (0, 2)  # households 1 and 3 of each village: the ones the printed help and the tests name
            zeal = 1.0 if steady else rng.betavariate(1.3, 2.0)
            homes.append(demo_history.Home(household_id, villager, zeal, steady))
        lat, lon = 30.27 + 0.05 * n, 120.15 + 0.05 * n
        places.append(demo_history.Place(village, official, homes, lat, lon))
    return places


@lru_cache(maxsize=1)
def _demo_password_hash() -> str:
    return hash_secret(DEMO_PASSWORD)


def _demo_password(user: User) -> None:
    """Every demo staff account has the demo password, flagged as a default one. One hash for all: an argon2 hash
    is made to be slow, and the accounts share the password anyway (it is printed)."""
    user.password_hash, user.password_is_default = _demo_password_hash(), True


def _staff(
    session: Session, county: County, villages: dict[str, tenancy.Village], townships: dict[str, tenancy.Township]
) -> None:
    for username, role, name, scope in STAFF:
        user = User(role=role, county_id=row_id(county.id), username=username, display_name=name)
        _demo_password(user)
        session.add(user)
        session.flush()
        for code in scope:
            if code.startswith("township:"):
                session.add(OfficialScope(user_id=row_id(user.id), township_id=townships[code.split(":", 1)[1]].id))
            else:
                session.add(OfficialScope(user_id=row_id(user.id), village_id=villages[code].id))


def _partners(session: Session, county: County, villages: dict[str, tenancy.Village]) -> None:
    names: dict[str, str] = {
        PartnerKind.BANK: "善治农商银行",
        PartnerKind.MERCHANT: "村口积分超市",
        PartnerKind.CLINIC: "镇卫生院",
    }
    for client in CLIENTS:
        partner = Partner(county_id=row_id(county.id), kind=client.kind, code=client.client_id, name=names[client.kind])
        session.add(partner)
        session.flush()
        session.add(
            PartnerClient(
                partner_id=row_id(partner.id),
                client_id=client.client_id,
                secret_hash=hash_secret(client.secret),
                scopes=client.scopes,
            )
        )
        for username, code, name in PARTNER_STAFF:
            if code == client.client_id:
                user = User(
                    role=Role.PARTNER_STAFF,
                    county_id=row_id(county.id),
                    username=username,
                    display_name=name,
                    partner_id=partner.id,
                )
                _demo_password(user)
                session.add(user)
        if client.kind != PartnerKind.BANK:
            for village in villages.values():
                journal.open_account(
                    session,
                    kind=AccountKind.PARTNER_CLEARING,
                    code=f"{village.code}:{partner.code}:clearing",
                    county_id=row_id(county.id),
                    village_id=row_id(village.id),
                    partner_id=partner.id,
                )


# Each village's activities: (matter, title, place, period, rotating, days open before and after now)
ACTIVITIES = [
    ("courtyard_hygiene", "庭院整洁月度评比", "各户庭院", "once", False, 1, 20),
    ("volunteering", "周末河道清洁志愿活动", "村委会门口集合", "once", False, 1, 6),
    ("garbage_sorting", "垃圾分类投放点", "村口垃圾亭", "day", False, 30, 335),
    ("village_meeting", "村民代表大会", "村委会会议室", "once", True, 1, 1),
]


def _claims(session: Session, rng: random.Random, keys: codes.Keys, place: demo_history.Place) -> None:
    """This week in each village: open activities, and claims in every state (awaiting review, in notice,
    rejected); household 1 of each village has a deduction of two days ago it may still appeal."""
    now = utcnow()
    village, reviewer = place.village, place.official
    made = {}
    for matter, title, where, period, rotating, before, after in ACTIVITIES:
        made[matter] = activities.create(
            session,
            village=village,
            matter_code=matter,
            title=title,
            place=where,
            period=period,
            rotating=rotating,
            starts_at=now - timedelta(days=before),
            ends_at=now + timedelta(days=after),
            actor=reviewer.actor,
        )
    for n, home in enumerate(place.homes[1:12]):  # household 1 of each village has nothing waiting: to try things
        activity = made["volunteering" if n % 2 else "garbage_sorting"]
        token = activities.printed_code(keys, activity)
        claim = claims.submit_by_code(
            session,
            home.villager,
            keys,
            token=token,
            details=claims.Details(),
            idempotency_key=None,
            now=now - timedelta(hours=rng.randint(1, 20)),
        ).value
        if n % 4 == 0:
            continue  # left for an official to review
        if n % 4 == 3:
            review.reject(
                session,
                reviewer,
                claim_id=row_id(claim.id),
                reason="活动签到表上没有您家的名字",
                idempotency_key=None,
            )
        else:
            review.approve(session, reviewer, claim_id=row_id(claim.id), idempotency_key=None)
    deductions.record(
        session,
        reviewer,
        household_id=place.homes[0].household_id,
        matter_code="breaking_village_rules",
        reason="在公共通道堆放杂物，经劝说后已清理",
        evidence_ids=(),
        idempotency_key=None,
        now=now - timedelta(days=2),
    )


# --- the redemption story -------------------------------------------------------------------------------------

MART_VOUCHER = "超市代金券 20元"
MART_FLASH = "超市当日代金券 10元"
HEALTH_CHECK = "老年人健康体检"
LOAN = "善治信用贷"
LOAN_TERMS = {
    "grades": {
        "AAA": {"max_amount_yuan": 50_000, "rate_discount_bp": 50, "term_months": 36},
        "AA": {"max_amount_yuan": 30_000, "rate_discount_bp": 30, "term_months": 24},
        "A": {"max_amount_yuan": 20_000, "rate_discount_bp": 20, "term_months": 12},
    },
    "auto_approve": {"min_grade": "A", "max_amount_yuan": 50_000},
}
LOAN_AMOUNT_YUAN = 20_000  # what every lending grade may borrow, and within the rule's 50 000: pre-approved at once
LENDING_GRADES = ("AAA", "AA", "A")


def _first_household(session: Session) -> Household:
    """Household 1: its head's phone is the one the sign-in help prints."""
    household = session.scalars(
        select(Household)
        .join(Person, col(Person.household_id) == col(Household.id))
        .where(col(Person.phone) == phone_of(1), col(Person.is_head).is_(True))
    ).one()
    return household


def _villagers(session: Session) -> dict[int, principal.Principal]:
    """Each household's head, signed in, by household id."""
    heads = session.execute(
        select(col(User.id), col(Household.id))
        .join(Person, col(Person.id) == col(User.person_id))
        .join(Household, col(Household.id) == col(Person.household_id))
        .where(col(Person.is_head).is_(True))
        .order_by(col(Household.id))
    ).all()
    return {
        household_id: principal.load(session, subject=f"user:{user_id}", role=Role.VILLAGER, scopes=())
        for user_id, household_id in heads
    }


def _available(session: Session, household_id: int) -> int:
    return queries.balance(session, row_id(accounts.of_household(session, household_id).id)).available


def _redemption(session: Session, county: County) -> None:
    now = utcnow()
    admin_id = session.scalars(select(col(User.id)).where(col(User.username) == "admin")).one()
    admin = principal.load(session, subject=f"user:{admin_id}", role=Role.COUNTY_ADMIN, scopes=())
    staff, client = {}, {}
    for username, code, _ in PARTNER_STAFF:
        user_id = session.scalars(select(col(User.id)).where(col(User.username) == username)).one()
        staff[code] = principal.load(session, subject=f"user:{user_id}", role=Role.PARTNER_STAFF, scopes=())
    for demo_client in CLIENTS:
        client[demo_client.client_id] = principal.load(
            session,
            subject=f"client:{demo_client.client_id}",
            role=principal.PARTNER,
            scopes=tuple(demo_client.scopes.split()),
        )

    def approved(code: str, terms: offers.OfferTerms) -> int:
        """Proposed by the partner's staff, approved by the county admin."""
        offer = offers.propose(session, staff[code], terms)
        offers.decide(session, admin, row_id(offer.id), approve=True, note="演示县：已审核")
        assert offer.id is not None
        return offer.id

    year = now + timedelta(days=365)
    mart = approved(
        "demo-mart",
        offers.OfferTerms(
            kind=OfferKind.VOUCHER,
            title=MART_VOUCHER,
            description="在村口积分超市抵20元，30天内有效",
            valid_from=now - timedelta(days=30),
            valid_until=year,
            value_fen=2000,
            cost_points=40,
            stock=200,
            voucher_days=30,
        ),
    )
    flash = approved(
        "demo-mart",
        offers.OfferTerms(
            kind=OfferKind.VOUCHER,
            title=MART_FLASH,
            description="领取后1天内有效，过期积分自动退回",
            valid_from=now - timedelta(days=30),
            valid_until=year,
            value_fen=1000,
            cost_points=20,
            stock=50,
            voucher_days=1,
        ),
    )
    check = approved(
        "demo-clinic",
        offers.OfferTerms(
            kind=OfferKind.HEALTH_CHECK,
            title=HEALTH_CHECK,
            description="血压、血糖、心电图；请空腹前来",
            valid_from=now - timedelta(days=7),
            valid_until=now + timedelta(days=180),
            value_fen=8000,
            cost_points=60,
            limit_period=LimitPeriod.YEAR.value,
            cancel_hours=24,
        ),
    )
    loan = approved(
        "demo-bank",
        offers.OfferTerms(
            kind=OfferKind.LOAN,
            title=LOAN,
            description="按信用等级授信，A级及以上5万元内即时预审批",
            valid_from=now - timedelta(days=30),
            valid_until=year,
            limit_period=LimitPeriod.YEAR.value,
            loan_terms=LOAN_TERMS,
        ),
    )
    clinic = staff["demo-clinic"]
    place = "镇卫生院体检科"
    today = vouchers.add_slot(
        session,
        clinic,
        offer_id=check,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
        place=place,
        capacity=10,
    )
    zone = ZoneInfo(county.timezone)
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    for day in (1, 2, 3):
        starts = (midnight + timedelta(days=day, hours=8, minutes=30)).astimezone(now.tzinfo)
        vouchers.add_slot(
            session,
            clinic,
            offer_id=check,
            starts_at=starts,
            ends_at=starts + timedelta(hours=3),
            place=place,
            capacity=10,
        )

    villagers = _villagers(session)
    first = _first_household(session).id
    assert first is not None
    # (d) the best-rated household applies for the loan: not household 1 (its access log is the reader's to try),
    # nor household 3 (well rated, it is the reader's to apply with).
    third = session.scalars(
        select(col(Person.household_id)).where(col(Person.phone) == phone_of(3), col(Person.is_head).is_(True))
    ).one()
    rated = [
        (ratings.current(session, household_id, now=now), household_id)
        for household_id in villagers
        if household_id not in (first, third)
    ]
    lending = [(rating.score or 0, -household_id) for rating, household_id in rated if rating.grade in LENDING_GRADES]
    borrower = -max(lending)[1] if lending else None
    if borrower is not None:  # with no household rated A or better the story has no loan, and `story` says so
        loans.apply(
            session,
            villagers[borrower],
            offer_id=loan,
            amount_yuan=LOAN_AMOUNT_YUAN,
            term_months=12,
            purpose="购买种苗和化肥，扩大茶园",
            idempotency_key=None,
            now=now,
        )

    # the richest other households (most points to spend first) play the voucher and health-check parts
    others = sorted((h for h in villagers if h not in (first, borrower)), key=lambda h: (-_available(session, h), h))

    def spender(cost: int) -> int:
        household_id = next(h for h in others if _available(session, h) >= cost)
        others.remove(household_id)
        return household_id

    # (a) a voucher redeemed and used at the supermarket with the household's PIN
    used = vouchers.redeem(session, villagers[spender(40)], offer_id=mart).value
    vouchers.consume(session, client["demo-mart"], code=used.code, pin=used.pin)
    # (b) a one-day voucher redeemed two days ago (redeem's `now`), expired by the scheduled step as it runs now:
    # the points come back. Expiring with a `now` ahead of the clock instead would also expire the other vouchers
    # due by then (the journal dates every entry by its own clock, whatever `now` a step is given).
    vouchers.redeem(session, villagers[spender(20)], offer_id=flash, now=now - timedelta(days=2))
    vouchers.expire_due(session, now=utcnow())
    # (c) a health check booked yesterday (redeem's `now`) for a slot that began an hour ago, and
    # marked attended by the clinic now. `attended` checks only that the booking is still usable (up to a day
    # after its slot ends), and `redeem` refuses a slot that has begun; booking an upcoming slot and marking it
    # attended before it starts would record a check-up that has not happened.
    booking = vouchers.redeem(
        session, villagers[spender(60)], offer_id=check, slot_id=today.id, now=now - timedelta(days=1)
    ).value
    vouchers.attended(session, client["demo-clinic"], code=booking.code)
    # household 1 holds a supermarket voucher to look at, with points left (69 in this seed) to book a health check
    vouchers.redeem(session, villagers[first], offer_id=mart)


def story(session: Session, *, now: datetime | None = None) -> str:
    """What the seed played, read back from the database, and the month's settlement of each voucher partner."""
    partners = {p.code: p for p in session.scalars(select(Partner).order_by(col(Partner.id)))}
    county = session.get(County, partners["demo-mart"].county_id)
    assert county is not None

    def household_code(household_id: int) -> str:
        household = session.get(Household, household_id)
        return household.code if household else "?"

    def first_voucher(*where: ColumnElement[bool]) -> Voucher | None:
        return session.scalars(select(Voucher).where(*where).order_by(col(Voucher.id))).first()

    lines = ["The redemption story, played during the seed:"]
    used = first_voucher(col(Voucher.partner_id) == partners["demo-mart"].id, col(Voucher.status) == VoucherStatus.USED)
    if used is not None:
        lines.append(
            f"  voucher used: household {household_code(used.household_id)} redeemed {used.points} points "
            f"for {used.value_fen / 100:.2f} yuan; demo-mart used it with code {used.code} PIN {used.pin}"
        )
    expired = first_voucher(col(Voucher.status) == VoucherStatus.EXPIRED)
    if expired is not None:
        returned = session.scalar(
            select(col(VoucherEvent.points)).where(
                col(VoucherEvent.voucher_id) == expired.id, col(VoucherEvent.event) == VoucherEventKind.EXPIRED
            )
        )
        held = queries.balance(
            session, row_id(accounts.of_household(session, row_id(expired.household_id)).id)
        ).pending_debit
        lines.append(
            f"  voucher expired: household {household_code(expired.household_id)}'s voucher "
            f"{expired.code} expired and its {returned} points came back (held now {held})"
        )
    booking = first_voucher(col(Voucher.slot_id).is_not(None), col(Voucher.status) == VoucherStatus.USED)
    if booking is not None:
        lines.append(
            f"  health check attended: household {household_code(booking.household_id)}'s booking "
            f"{booking.code} ({booking.points} points) marked attended by demo-clinic"
        )
    application = session.scalars(
        select(LoanApplication)
        .where(col(LoanApplication.partner_id) == partners["demo-bank"].id)
        .order_by(col(LoanApplication.id))
    ).first()
    if application is None:
        lines.append("  loan: no household is rated A or better, so nobody applied")
    else:
        inbox = loans.of_partner(session, row_id(partners["demo-bank"].id))
        lines.append(
            f"  loan application {application.id}: household {household_code(application.household_id)} "
            f"asked {application.amount_yuan} yuan: {application.status} (grade {application.grade}, "
            f"decided {'automatically' if application.decided_automatically else 'by the bank'}); "
            f"demo-bank's inbox holds {len(inbox)}"
        )
    first = _first_household(session)
    mine = first_voucher(col(Voucher.household_id) == first.id, col(Voucher.status) == VoucherStatus.ACTIVE)
    if mine is not None:
        lines.append(
            f"  household {first.code} (phone {phone_of(1)}) holds active voucher {mine.code} "
            f"PIN {mine.pin} and has {_available(session, row_id(first.id))} points to spend"
        )
    lines.append(demo_concerns.summary(session, row_id(county.id)))
    moment = (now or utcnow()).astimezone(ZoneInfo(county.timezone))
    month = f"{moment:%Y-%m}"
    start, end = month_bounds(month, county.timezone)
    for code, partner in partners.items():
        if partner.kind == PartnerKind.BANK:
            continue
        result = settlement.settle(session, row_id(partner.id), start, end)
        lines.append(
            f"  settlement {month} {code}: uses={len(result.lines)} value={result.value_fen / 100:.2f} "
            f"yuan points={result.points} ledger_points={result.ledger_points} "
            f"reconciled={str(result.reconciled).lower()}"
        )
    return "\n".join(lines)


def first_activity(session: Session, keys: codes.Keys, base_url: str) -> tuple[str, str]:
    """The demo's courtyard activity in the first village: its title and the URL its QR code carries."""
    activity = session.scalars(
        select(Activity).where(col(Activity.title) == ACTIVITIES[0][1]).order_by(col(Activity.id))
    ).first()
    assert activity is not None
    return activity.title, f"{base_url}/c/{activities.printed_code(keys, activity)}"


def _staff_lines() -> list[str]:
    lines = [f"Staff sign in with a password (every demo password is {DEMO_PASSWORD!r}):"]
    for username, role, name, _ in STAFF:
        lines.append(f"  {role:<13} {username:<20} {name}")
    for username, code, name in PARTNER_STAFF:
        lines.append(f"  {Role.PARTNER_STAFF:<13} {username:<20} {name} ({code})")
    return lines


def _client_lines() -> list[str]:
    lines = ["Partner clients use OAuth2 client credentials:"]
    for client in CLIENTS:
        lines.append(
            f"  {client.kind:<9} client_id={client.client_id:<12} secret={client.secret:<20} scopes: {client.scopes}"
        )
    return lines


def not_served_help(activity: tuple[str, str] | None = None) -> str:
    """What `shanzhi demo --no-serve` prints: the sign-ins, and no address, since nothing is served."""
    lines = [
        "Nothing is served now: `SHANZHI_ENV=dev shanzhi demo` serves this database (it does not seed it",
        "again) and prints where to open it, with commands to try.",
        "",
        *_staff_lines(),
        "",
        f"Villagers sign in with their phone and a one-time code: household heads use phones {phone_of(1)} … "
        f"{phone_of(HOUSEHOLD_COUNT)}.",
    ]
    if activity is not None:
        title, url = activity
        lines.append(f"A villager's QR code ({title}, needs a photo), on the served demo: /c/{url.rsplit('/', 1)[-1]}")
    return "\n".join([*lines, "", *_client_lines()])


def sign_in_help(base_url: str | None, activity: tuple[str, str] | None = None) -> str:
    """What `shanzhi demo` prints before it serves at base_url (None: it will not serve)."""
    if base_url is None:
        return not_served_help(activity)
    token = f"{base_url}/api/v1/auth/token"
    json = "-H 'content-type: application/json'"
    lines = [
        f"Shanzhi demo county is served at {base_url}  (API docs: {base_url}/docs)",
        "",
        "In a browser (Chinese first; English is one tap away on every page):",
    ]
    if activity is not None:
        lines += [
            f"  villager: open {activity[1]}",
            f'    (the QR code of "{activity[0]}"): sign in with phone {phone_of(1)}; in the demo the code is',
            "    shown on the page. Claim with a photo, then see My household (/me), My rating and Redeem.",
        ]
    lines += [
        f"  official:  {base_url}/office      as official-qingshan  (review queue, activities, dashboard)",
        f"  concerns:  {base_url}/office/concerns as official-qingshan (village concerns; the 随手拍 poster:",
        "             /office/concerns/poster); handlers grid-qingshan and office-qingshan resolve what they are sent",
        f"  merchant:  {base_url}/till        as mart-staff         (use a voucher with its code and PIN)",
        f"  clinic:    {base_url}/till        as clinic-staff       (vouchers and health-check bookings)",
        f"  bank:      {base_url}/bank        as bank-staff         (loan applications inbox)",
        f"  passwords: {DEMO_PASSWORD!r};  `SHANZHI_ENV=dev shanzhi tick --days-ahead 8` settles points after the",
        "  notice period",
        "",
        *_staff_lines(),
    ]
    lines += [
        f"  curl -s -d grant_type=password -d username=official-qingshan -d password={DEMO_PASSWORD} {token}",
        "",
        "Villagers sign in with their phone and a one-time code (dev mode returns it as dev_code):",
        f'  curl -s {json} -d \'{{"phone": "{phone_of(1)}"}}\' {base_url}/api/v1/auth/otp/request',
        f'  curl -s {json} -d \'{{"phone": "{phone_of(1)}", "code": "<dev_code>"}}\' {base_url}/api/v1/auth/otp/verify',
        f"  then: curl -s -H 'authorization: Bearer <token>' {base_url}/api/v1/households/1/balance",
        f"  (household heads use phones {phone_of(1)} … {phone_of(HOUSEHOLD_COUNT)}; household 1 of "
        "each village has nothing waiting for review)",
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
            f'-d \'{{"token": "{code}", "evidence_ids": [<id>]}}\' {base_url}/api/v1/claims',
            "  the official of 青山村 approves it:",
            f"  curl -s -H 'authorization: Bearer <official token>' -H 'Idempotency-Key: ok-1' -X POST "
            f"{base_url}/api/v1/claims/<claim id>/approve",
            "  the balance shows it in notice; it settles after the 7-day notice period (`shanzhi tick`; in the",
            "  demo `SHANZHI_ENV=dev shanzhi tick --days-ahead 8` runs the schedule as it will be in 8 days).",
        ]
    bearer = "-H 'authorization: Bearer <villager token>'"
    lines += [
        "",
        "Ratings, as the villager of household 1 (every demo household is rated; see docs/credit.md):",
        f"  curl -s {bearer} {base_url}/api/v1/credit/me                  # grade, reasons, how to improve",
        f"  curl -s {bearer} '{base_url}/api/v1/partners?kind=bank'       # the bank to consent to",
        f'  curl -s {bearer} {json} -d \'{{"partner_id": <id>, "purpose": "loan_preapproval", '
        f'"scope": "score"}}\' {base_url}/api/v1/consents',
        "  the bank, with its client-credentials token (below):",
        f"  curl -s -H 'authorization: Bearer <bank token>' "
        f"'{base_url}/api/v1/credit/households/1?consent_id=<consent id>'",
        f"  curl -s {bearer} {base_url}/api/v1/credit/me/lookups          # who looked, when, why",
        f"  curl -s {bearer} -X POST {base_url}/api/v1/consents/<consent id>/revoke   # the next lookup is 403",
        "",
        "Redemption, as the villager of household 1 (it holds a supermarket voucher and has points to spend):",
        f"  curl -s {bearer} {base_url}/api/v1/offers                     # what it may redeem, and afford",
        f"  curl -s {bearer} {base_url}/api/v1/vouchers                   # its vouchers, with code and PIN",
        f"  curl -s {bearer} {base_url}/api/v1/offers/<health check id>/slots",
        f"  curl -s {bearer} -H 'Idempotency-Key: book-1' {json} -d '{{\"offer_id\": <id>, \"slot_id\": <slot>}}' "
        f"{base_url}/api/v1/redemptions",
        "  the supermarket uses a voucher with the PIN the household tells the cashier:",
        f"  curl -s -H 'authorization: Bearer <mart token>' {json} -d '{{\"pin\": \"<pin>\"}}' "
        f"{base_url}/api/v1/vouchers/<code>/consume",
        f"  curl -s -H 'authorization: Bearer <mart token>' '{base_url}/api/v1/settlement?month=YYYY-MM&format=csv'",
    ]
    lines += ["", *_client_lines()]
    lines.append(f"  curl -s -u demo-bank:demo-bank-secret -d grant_type=client_credentials {token}")
    return "\n".join(lines)
