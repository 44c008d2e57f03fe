"""Who is calling, re-read from the database on every request, and what they may see.

A token only names its subject; the role, the villages and the scopes come from the rows as they are now,
so a demoted official or a disabled client loses access at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, label, select
from sqlmodel import Session, col

from ledger.core.base import as_utc
from ledger.core.errors import Forbidden, Unauthenticated
from ledger.identity.models import OfficialScope, Partner, PartnerClient, PartnerKind, Role, User
from ledger.tenancy import Household, HouseholdNotFound, Person, Village, VillageNotFound

PARTNER = "partner"

# What a partner's staff may do, by the partner's kind. A machine client holds the scopes it was given instead.
STAFF_SCOPES: dict[str, frozenset[str]] = {
    PartnerKind.BANK: frozenset({"offers:manage", "loans:read", "loans:decide", "loans:report", "settlement:read"}),
    PartnerKind.MERCHANT: frozenset({"offers:manage", "vouchers:consume", "settlement:read"}),
    PartnerKind.CLINIC: frozenset({"offers:manage", "vouchers:consume", "bookings:manage", "settlement:read"}),
}


class ConflictOfInterest(Forbidden):
    code = "conflict_of_interest"  # staff acting for the household they live in


class PasswordChangeRequired(Forbidden):
    code = "password_change_required"  # a password set by someone else is replaced by its holder first


@dataclass(frozen=True)
class Principal:
    subject: str  # "user:<id>" or "client:<client_id>": also the actor written on journal transactions
    role: str  # a Role, or "partner" (a partner's machine client or one of its staff)
    county_id: int
    user_id: int | None = None
    household_id: int | None = None  # a villager's household; an official's own, when they live in a village
    home_village_id: int | None = None  # the village of that household
    person_id: int | None = None
    village_ids: frozenset[int] = field(default_factory=frozenset)  # officials (a township expands to its villages)
    township_ids: frozenset[int] = field(default_factory=frozenset)  # a township supervisor's townships
    partner_id: int | None = None
    partner_kind: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    # A password set by someone else (a new account, a reset): nothing but setting one's own until it is changed
    must_change_password: bool = False

    @property
    def actor(self) -> str:
        return self.subject

    def sees_village(self, village_id: int, county_id: int) -> bool:
        if self.role in (Role.COUNTY_ADMIN, Role.AUDITOR):
            return county_id == self.county_id
        if self.role == Role.OFFICIAL:
            return village_id in self.village_ids
        return False

    def sees_household(self, household: Household) -> bool:
        if self.role == Role.VILLAGER:
            return household.id == self.household_id
        return self.sees_village(household.village_id, household.county_id)

    def lives_in(self, village_id: int) -> bool:
        """A member of a household of this village (a villager, or an official who lives there)."""
        return self.home_village_id is not None and self.home_village_id == village_id

    def refuse_own(self, *household_ids: int | None, what: str = "This is your own household") -> None:
        """Conflict of interest: staff never decide, award, record or resolve anything for the household they
        live in (User.person_id → that person's household; set with `shanzhi link-staff` or
        PUT /api/v1/staff/{user_id}/person). Another official of the village, the township supervisor or the
        county admin does it."""
        if self.role != Role.VILLAGER and self.household_id is not None and self.household_id in household_ids:
            raise ConflictOfInterest(
                f"{what}: another official of the village, the township supervisor or the county admin does this."
            )

    def manages_village(self, village_id: int, county_id: int) -> bool:
        """May write in this village (auditors read only)."""
        return self.role != Role.AUDITOR and self.role != Role.VILLAGER and self.sees_village(village_id, county_id)


# --- who may see which household or village (routes and pages alike) ----------------------------------------


def visible_household(session: Session, who: Principal, household_id: int) -> Household:
    """The household, if `who` may see it. Someone else's household looks exactly like a missing one."""
    household = session.get(Household, household_id)
    if household is None or not who.sees_household(household):
        raise HouseholdNotFound("No such household, or it is not yours to see.", household_id=household_id)
    return household


def managed_household(session: Session, who: Principal, household_id: int) -> Household:
    """The household, if `who` may act for it (its village's officials, the county admin)."""
    household = session.get(Household, household_id)
    if household is None or not who.manages_village(household.village_id, household.county_id):
        raise HouseholdNotFound("No such household in your villages.", household_id=household_id)
    return household


def managed_household_by_code(session: Session, who: Principal, code: str) -> Household:
    """The household with this 户号 (its code in the roster, as the household list and its card show it), if
    `who` may act for it. Letter case and spaces around it do not matter; a code of a household elsewhere looks
    exactly like a missing one."""
    wanted = code.strip()
    household = session.scalars(select(Household).where(col(Household.code) == wanted)).first()
    if household is None:  # typed in other letter case: only when that names one household
        alike = session.scalars(
            select(Household).where(func.upper(col(Household.code)) == wanted.upper()).limit(2)
        ).all()
        household = alike[0] if len(alike) == 1 else None
    if household is None or not who.manages_village(household.village_id, household.county_id):
        raise HouseholdNotFound("No household with this number in your villages.", household_code=wanted)
    return household


def visible_village(session: Session, who: Principal, village_id: int | None, *, members: bool) -> Village:
    """The village, if `who` may see it: its staff, and (members=True) the people who live there."""
    village = session.get(Village, village_id) if village_id else None
    if (
        village is None
        or village.id is None
        or not (who.sees_village(village.id, village.county_id) or (members and who.lives_in(village.id)))
    ):
        raise VillageNotFound("No such village among yours.", village_id=village_id)
    return village


def visible_villages(session: Session, who: Principal) -> list[Village]:
    """Every village `who` sees as staff (an official: theirs; the county admin and auditors: the county's)."""
    query = select(Village).where(col(Village.county_id) == who.county_id).order_by(col(Village.id))
    return [v for v in session.scalars(query).all() if v.id is not None and who.sees_village(v.id, v.county_id)]


def managed_village(session: Session, who: Principal, village_id: int) -> Village:
    """The village, if `who` may write in it (auditors and villagers never)."""
    village = session.get(Village, village_id)
    if village is None or village.id is None or not who.manages_village(village.id, village.county_id):
        raise VillageNotFound("No such village among yours.", village_id=village_id)
    return village


def load(
    session: Session, *, subject: str, role: str, scopes: tuple[str, ...], issued_at: datetime | None = None
) -> Principal:
    """Who a token or a session names, as the rows are now. `issued_at`: when the token was issued or the session
    began; one from before the account's sign-ins were ended (disabled, password reset, phone changed) is
    refused."""
    kind, _, ident = subject.partition(":")
    if kind == "user" and ident.isdigit():
        return _user(session, int(ident), role, issued_at)
    if kind == "client" and ident:
        return _client(session, ident, role, scopes)
    raise Unauthenticated("The access token names no known subject.")


# Read on every request, so built once. A user, with the household and village they live in (if any).
_USER = (
    select(
        col(User.role),
        col(User.active),
        col(User.county_id),
        col(User.person_id),
        label("household_id", col(Household.id)),
        col(Household.village_id),
        col(User.partner_id),
        label("partner_kind", col(Partner.kind)),
        col(User.sign_ins_valid_from),
        label("closed_at", col(Household.closed_at)),
        col(User.must_change_password),
    )
    .select_from(User)
    .outerjoin(Partner, col(Partner.id) == col(User.partner_id))
    .outerjoin(Person, col(Person.id) == col(User.person_id))
    .outerjoin(Household, col(Household.id) == col(Person.household_id))
    .where(col(User.id) == bindparam("user_id"))
)
_SCOPES = (
    select(col(OfficialScope.village_id), label("township_village", col(Village.id)), col(OfficialScope.township_id))
    .outerjoin(Village, col(Village.township_id) == col(OfficialScope.township_id))
    .where(col(OfficialScope.user_id) == bindparam("user_id"))
)


def _user(session: Session, user_id: int, role: str, issued_at: datetime | None) -> Principal:
    user = session.connection().execute(_USER, {"user_id": user_id}).first()  # Core: read first, no autoflush
    if user is None or not user.active or user.role != role:
        raise Unauthenticated("This sign-in is no longer valid; sign in again.")
    if user.role == Role.VILLAGER and (user.household_id is None or user.closed_at is not None):
        raise Unauthenticated("This sign-in is no longer valid; sign in again.")
    if user.sign_ins_valid_from is not None and (issued_at is None or issued_at < as_utc(user.sign_ins_valid_from)):
        raise Unauthenticated("This sign-in has been ended; sign in again.")
    if user.role == Role.PARTNER_STAFF:  # staff act for their partner, as its clients do
        return Principal(
            subject=f"user:{user_id}",
            role=PARTNER,
            county_id=user.county_id,
            user_id=user_id,
            partner_id=user.partner_id,
            partner_kind=user.partner_kind,
            scopes=STAFF_SCOPES.get(user.partner_kind, frozenset()),
            must_change_password=user.must_change_password,
        )
    villages: set[int] = set()
    townships: set[int] = set()
    if user.role == Role.OFFICIAL:  # a village of their own, or every village of their township
        for village_id, township_village, township_id in session.connection().execute(_SCOPES, {"user_id": user_id}):
            village = village_id if village_id is not None else township_village
            if village is not None:
                villages.add(village)
            if township_id is not None:
                townships.add(township_id)
    return Principal(
        subject=f"user:{user_id}",
        role=user.role,
        county_id=user.county_id,
        user_id=user_id,
        household_id=user.household_id,
        home_village_id=user.village_id,
        person_id=user.person_id,
        village_ids=frozenset(villages),
        township_ids=frozenset(townships),
        must_change_password=user.must_change_password,
    )


_CLIENT = (
    select(
        col(PartnerClient.active), col(PartnerClient.scopes), col(Partner.id), col(Partner.county_id), col(Partner.kind)
    )
    .join(Partner, col(Partner.id) == col(PartnerClient.partner_id))
    .where(col(PartnerClient.client_id) == bindparam("client_id"))
)


def _client(session: Session, client_id: str, role: str, scopes: tuple[str, ...]) -> Principal:
    client = session.connection().execute(_CLIENT, {"client_id": client_id}).first()
    if client is None or not client.active or role != PARTNER:
        raise Unauthenticated("This client token is no longer valid; request a new one.")
    granted = set(client.scopes.split())
    return Principal(
        subject=f"client:{client_id}",
        role=PARTNER,
        county_id=client.county_id,
        partner_id=client.id,
        partner_kind=client.kind,
        scopes=frozenset(s for s in scopes if s in granted),  # a scope removed since the token was issued is gone
    )
