"""The demo county's village concerns (随手拍), played through the concern services with the moment each step
happened, as the people in it would: villagers report (one anonymously, one at a place someone reported the day
before, which joins that concern), the village official accepts and dispatches to the village's grid member or the
township office, the handler resolves with a photo (or sends one back: not theirs), the reporter evaluates (one is
not satisfied, and the supervisor sends it out again), a concern told in person is evaluated by the official who
heard the reporter, nobody evaluates another and the schedule closes it; before each step the schedule runs as it
would have then, so late steps are flagged and raised a level. Some are still open now, a few of them late.

Deterministic (its own seeded random generator) and quick: about thirty concerns, a few statements a step."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlalchemy import case, func, select
from sqlmodel import Session, col

from api import demo_history
from ledger.claims import evidence, notice
from ledger.concerns import deadlines, setup
from ledger.concerns import service as concerns
from ledger.concerns.models import Concern
from ledger.core.base import row_id
from ledger.identity import principal
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal
from ledger.tenancy import County, Township

GRID_MEMBER = "grid-qingshan"  # the demo's two handler members (api/demo.py, STAFF)
OFFICE_MEMBER = "office-qingshan"
SUPERVISOR = "supervisor-qingshan"
ADMIN = "admin"
PLACES = {  # a few places of each village, by the demo's village codes
    "qingshan-cun": [("村口石桥", 0.002, 0.001), ("文化礼堂", -0.001, 0.002), ("三组垃圾收集点", 0.003, -0.002)],
    "zhulin": [("竹林村委会", 0.0, 0.0), ("后山水库", 0.004, 0.003)],
    "xikou": [("溪口渡口", 0.001, -0.001), ("老街", -0.002, 0.001)],
}
TEXTS = {  # category code: (kind, what a villager says)
    "road_hazard": ("hazard", "桥头护栏松动，晚上看不清，怕有人掉下去。"),
    "water_power": ("hazard", "三组路灯连续三晚不亮，老人晚上出门不方便。"),
    "environment": ("complaint", "垃圾收集点两天没清运，气味很大。"),
    "public_facility": ("complaint", "文化礼堂门口的健身器材坏了一个，螺丝掉了。"),
    "neighbour_dispute": ("complaint", "有人在公共通道上堆放建材，车子过不去。"),
    "public_service": ("question", "想问一下今年的医保什么时候开始缴费？"),
    "other": ("suggestion", "建议在村口公交站加一个遮雨棚。"),
}
RESOLVED = {
    "real": "已到现场处理完毕，附处理后照片。",
    "not_confirmed": "到现场查看，未发现所说的情况，已和反映人电话说明。",
}
ANSWER = "已电话答复：缴费时间以镇里通知为准，村里会在广播和公告栏通知。"
RETURNED = "不属于本办职责，请派给村网格员。"
PRAISE = ["处理很快，谢谢！", "满意。", "问题解决了。", None]
UNHAPPY = "护栏只是绑了铁丝，还是不牢。"
MINUTE = timedelta(minutes=1)


@dataclass
class Tale:
    """One concern of the story: its id once reported."""

    concern_id: int | None = None


@dataclass(order=True)
class Step:
    at: datetime
    order: int
    act: Callable[[], object] = field(compare=False)


@dataclass
class Cast:
    official: Principal
    supervisor: Principal
    grid: Principal
    office: Principal
    grid_handler: int
    office_handler: int
    homes: list[demo_history.Home]
    places: list[int]
    township_id: int = 0


class Play:
    """The steps of every concern, in the order they happened; `run` plays them, the schedule before each."""

    def __init__(self, session: Session, county: County, upload_dir: Path, rng: random.Random, now: datetime) -> None:
        self.session, self.county, self.upload_dir, self.rng, self.now = session, county, upload_dir, rng, now
        self.zone = ZoneInfo(county.timezone)
        self.steps: list[Step] = []
        self.photos = 0

    def at(self, when: datetime, act: Callable[[], object]) -> None:
        self.steps.append(Step(when, len(self.steps), act))

    def moment(self, days_ago: int, hour: int, minute: int = 0) -> datetime:
        """A working weekday (Saturday and Sunday go back to Friday), `days_ago` days before now, at hour:minute in
        the county's time; in UTC."""
        day = (self.now.astimezone(self.zone) - timedelta(days=days_ago)).date()
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        return datetime.combine(day, time(hour, minute), tzinfo=self.zone).astimezone(self.now.tzinfo)

    def run(self) -> int:
        """Each step in time order, the schedule run just before it at that moment; steps not yet due now are left
        (their concern stays where it is). Then the schedule as of now. Returns the steps played."""
        played = 0
        for step in sorted(self.steps):
            if step.at >= self.now:
                continue
            deadlines.escalate_overdue(self.session, step.at)
            deadlines.close_resolved(self.session, step.at)
            step.act()
            played += 1
        deadlines.escalate_overdue(self.session, self.now)
        deadlines.close_resolved(self.session, self.now)
        notice.settle_due(self.session, now=self.now)  # points of useful reports, past their notice period
        return played

    def photo(self, who: Principal, village_id: int) -> int:
        """A photo the handler takes of the work done (a drawn picture: the demo has no camera)."""
        self.photos += 1
        picture = Image.new("RGB", (480, 360), (90 + 20 * (self.photos % 5), 140, 110 + 13 * (self.photos % 7)))
        ImageDraw.Draw(picture).rectangle((60 + self.photos % 40, 80, 420, 300), outline=(250, 250, 240), width=6)
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=80)
        buffer.seek(0)
        saved = evidence.save(
            self.session,
            buffer,
            root=self.upload_dir,
            county_id=row_id(self.county.id),
            village_id=village_id,
            household_id=None,
            actor=who.actor,
        )
        return row_id(saved.id)

    # --- the steps ---------------------------------------------------------------------------------------------

    def report(self, when: datetime, tale: Tale, who: Principal, report: concerns.Report) -> None:
        def act() -> None:
            tale.concern_id = row_id(
                concerns.report(self.session, who, report, idempotency_key=None, now=when).value.id
            )

        self.at(when, act)

    def accept(self, when: datetime, tale: Tale, who: Principal) -> None:
        self.at(when, lambda: concerns.accept(self.session, who, row_id(tale.concern_id), now=when))

    def dispatch(self, when: datetime, tale: Tale, who: Principal, handler_id: int) -> None:
        self.at(
            when, lambda: concerns.dispatch(self.session, who, row_id(tale.concern_id), handler_id=handler_id, now=when)
        )

    def send_back(self, when: datetime, tale: Tale, who: Principal) -> None:
        self.at(when, lambda: concerns.return_(self.session, who, row_id(tale.concern_id), reason=RETURNED, now=when))

    def resolve(self, when: datetime, tale: Tale, who: Principal, village_id: int, judgement: str, note: str) -> None:
        def act() -> None:
            photo = self.photo(who, village_id)
            concerns.resolve(
                self.session,
                who,
                row_id(tale.concern_id),
                note=note,
                judgement=judgement,
                evidence_ids=(photo,),
                now=when,
            )

        self.at(when, act)

    def evaluate(self, when: datetime, tale: Tale, who: Principal, satisfied: bool, comment: str | None) -> None:
        self.at(
            when,
            lambda: concerns.evaluate(
                self.session, who, row_id(tale.concern_id), satisfied=satisfied, comment=comment, now=when
            ),
        )


@dataclass(frozen=True)
class Story:
    """How one concern goes: reported `days_ago` at `hour`, then as far as `until` (submitted, accepted,
    dispatched, resolved, closed), each step in time or late as said, by the grid member or the township office."""

    days_ago: int
    hour: int
    category: str
    until: str = "closed"
    accept_late: bool = False
    dispatch_late: bool = False
    resolve_late: bool = False
    office: bool = False  # dispatched to the township office (else the village's grid member)
    sent_back: bool = False  # the township office sends it back; then the grid member takes it
    reopened: bool = False  # not satisfied once: the supervisor dispatches it again
    evaluated: bool = True  # False: nobody evaluates, the schedule closes it
    anonymous: bool = False
    in_person: bool = False  # told the official in person, who records it and, later, the evaluation
    place: int | None = None  # the index of the village's place
    judgement: str = "real"
    hours_ago: int | None = None  # reported this many hours before now instead (whatever the hour): this month's
    township: bool = False  # at the township's own code: no village; the supervisor accepts and dispatches it


QINGSHAN = [
    Story(110, 9, "road_hazard", place=0),
    Story(100, 10, "environment", accept_late=True, place=2),
    Story(92, 14, "public_facility", evaluated=False, place=1),
    Story(84, 9, "road_hazard", reopened=True, place=0),
    Story(75, 11, "environment", office=True, sent_back=True),
    Story(66, 15, "neighbour_dispute", dispatch_late=True, anonymous=True, judgement="not_confirmed"),
    Story(55, 10, "public_service", office=True),
    Story(44, 9, "water_power", resolve_late=True),
    Story(33, 16, "other", in_person=True, office=True),
    Story(24, 10, "environment", place=2),
    Story(16, 11, "public_facility", accept_late=True, evaluated=False, place=1),
    Story(5, 9, "road_hazard", until="dispatched", place=0),  # late now: urgent, a day to resolve
    Story(
        4, 10, "road_hazard", until="submitted", place=0
    ),  # the same place and category, the day after: merged into the one before
    Story(2, 9, "public_facility", until="resolved", place=1),
    Story(0, 0, "environment", until="dispatched", place=2, hours_ago=3),  # with the grid member, in time
    Story(0, 0, "public_service", until="dispatched", office=True, hours_ago=1),
    Story(27, 10, "road_hazard", office=True, township=True),  # at the township's own code (青山镇)
]
ZHULIN = [
    Story(105, 10, "water_power"),
    Story(90, 9, "environment", dispatch_late=True, place=0),
    Story(78, 14, "road_hazard", accept_late=True, place=1),
    Story(62, 10, "public_facility", office=True, evaluated=False),
    Story(48, 11, "environment", resolve_late=True, place=0),
    Story(36, 9, "neighbour_dispute", judgement="not_confirmed"),
    Story(21, 15, "road_hazard", place=1),
    Story(9, 10, "public_service", office=True),
    Story(3, 10, "environment", until="accepted", accept_late=True),
    Story(1, 9, "other", until="submitted"),
]
XIKOU = [
    Story(8, 10, "road_hazard", until="accepted", place=0),
    Story(2, 14, "environment", until="submitted", place=1),
]
STEPS = ("submitted", "accepted", "dispatched", "resolved", "closed")


def tell(play: Play, cast: Cast, village_id: int, story: Story, reporter: Principal) -> None:
    """The steps of one story, each a moment after the one before."""
    tale = Tale()
    kind, text = TEXTS[story.category]
    t = play.moment(story.days_ago, story.hour, play.rng.randrange(0, 50))
    if story.hours_ago is not None:
        t = play.now - timedelta(hours=story.hours_ago)
    reach = STEPS.index(story.until)
    place_id = cast.places[story.place] if story.place is not None else None
    staff = cast.supervisor if story.township else cast.official
    where = {"village_id": None, "township_id": cast.township_id} if story.township else {"village_id": village_id}
    if story.in_person:
        play.report(
            t,
            tale,
            cast.official,
            concerns.Report(
                category_code=story.category,
                kind=kind,
                text=text,
                village_id=village_id,
                place_id=place_id,
                reporter_household_id=reporter.household_id,
                channel="in_person",
            ),
        )
    else:
        play.report(
            t,
            tale,
            reporter,
            concerns.Report(
                category_code=story.category,
                kind=kind,
                text=text,
                anonymous=story.anonymous,
                place_id=place_id,
                **where,
            ),
        )
    if reach < 1:
        return
    t += timedelta(hours=2, minutes=play.rng.randrange(60)) if story.accept_late else timedelta(seconds=30)
    play.accept(t, tale, staff)
    if reach < 2:
        return
    handler, member = (cast.office_handler, cast.office) if story.office else (cast.grid_handler, cast.grid)
    t += timedelta(hours=3, minutes=play.rng.randrange(60)) if story.dispatch_late else 3 * MINUTE
    play.dispatch(t, tale, staff, handler)
    if story.sent_back:
        t += timedelta(hours=1)
        play.send_back(t, tale, member)
        t += 4 * MINUTE
        handler, member = cast.grid_handler, cast.grid
        play.dispatch(t, tale, staff, handler)
    if reach < 3:
        return
    t += timedelta(days=8) if story.resolve_late else timedelta(hours=4 + play.rng.randrange(14))
    note = ANSWER if story.category == "public_service" else RESOLVED[story.judgement]
    play.resolve(t, tale, member, village_id, story.judgement, note)
    evaluator = cast.official if story.in_person else reporter
    if story.reopened:
        t += timedelta(days=1)
        play.evaluate(t, tale, evaluator, False, UNHAPPY)
        t += timedelta(hours=2)
        play.dispatch(t, tale, cast.supervisor, cast.grid_handler)
        t += timedelta(hours=20)
        play.resolve(t, tale, cast.grid, village_id, "real", "已换成新的钢护栏，焊接牢固。")
    if reach < 4 or not story.evaluated:
        return
    t += timedelta(days=1, hours=play.rng.randrange(8))
    play.evaluate(t, tale, evaluator, True, play.rng.choice(PRAISE))


def _user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(col(User.username) == username)).one()


def _staff(session: Session, username: str, role: Role = Role.OFFICIAL) -> Principal:
    return principal.load(session, subject=f"user:{_user(session, username).id}", role=role, scopes=())


def play(
    session: Session,
    county: County,
    places: list[demo_history.Place],
    townships: dict[str, Township],
    *,
    upload_dir: Path,
    now: datetime,
) -> int:
    """The demo county's places, handlers and concerns (api/demo.py: `seed`); returns how many steps were played."""
    rng = random.Random(20261201)
    admin = _staff(session, ADMIN, Role.COUNTY_ADMIN)
    supervisor = _staff(session, SUPERVISOR)
    grid, office = _staff(session, GRID_MEMBER), _staff(session, OFFICE_MEMBER)
    by_name = {place.village.name: place for place in places}
    grid_handler = setup.add_handler(
        session,
        admin,
        kind="grid",
        name="青山镇第一网格（青山村、竹林村）",
        township_id=row_id(townships["qingshan"].id),
        supervisor_user_id=supervisor.user_id,
    )
    office_handler = setup.add_handler(
        session,
        admin,
        kind="township_office",
        name="青山镇综治办",
        township_id=row_id(townships["qingshan"].id),
        supervisor_user_id=supervisor.user_id,
    )
    for handler, member in ((grid_handler, grid), (office_handler, office)):
        setup.set_members(session, admin, row_id(handler.id), [row_id(member.user_id)])
    the_play = Play(session, county, upload_dir, rng, now)
    for code, name, stories in (
        ("qingshan-cun", "青山村", QINGSHAN),
        ("zhulin", "竹林村", ZHULIN),
        ("xikou", "溪口村", XIKOU),
    ):
        place = by_name[name]
        village_id = row_id(place.village.id)
        spots = [
            row_id(
                setup.add_place(
                    session,
                    place.official,
                    village_id=village_id,
                    name=name,
                    lat=place.lat + dlat,
                    lon=place.lon + dlon,
                ).id
            )
            for name, dlat, dlon in PLACES[code]
        ]
        cast = Cast(
            place.official,
            supervisor,
            grid,
            office,
            row_id(grid_handler.id),
            row_id(office_handler.id),
            place.homes,
            spots,
            row_id(place.village.township_id),
        )
        reporters = [home.villager for home in place.homes[3:]]  # households 1 and 3 are the printed help's
        for n, story in enumerate(stories):
            tell(the_play, cast, village_id, story, reporters[(7 * n + 2) % len(reporters)])
    return the_play.run()


def summary(session: Session, county_id: int) -> str:
    """One line for the seed's story: how many concerns, by state now, and how many went up a level."""
    rows = session.execute(
        select(col(Concern.status), func.count(), func.sum(case((col(Concern.level) > 0, 1), else_=0)))
        .where(col(Concern.county_id) == county_id)
        .group_by(col(Concern.status))
        .order_by(col(Concern.status))
    ).all()
    states = ", ".join(f"{status} {count}" for status, count, _ in rows)
    raised = sum(int(up or 0) for _, _, up in rows)
    total = sum(int(count) for _, count, _ in rows)
    return f"  village concerns: {total} reported ({states}); {raised} went up a level when late"
