"""Identity tables. Roles live in the database and are re-read on every request, never trusted from a token."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, false, text
from sqlmodel import Field, SQLModel

from ledger.core.base import timestamp, utcnow


class Role(StrEnum):
    VILLAGER = "villager"
    OFFICIAL = "official"
    COUNTY_ADMIN = "county_admin"
    AUDITOR = "auditor"
    PARTNER_STAFF = "partner_staff"  # a person working for a partner (bank, merchant, clinic)


class PartnerKind(StrEnum):
    BANK = "bank"
    MERCHANT = "merchant"
    CLINIC = "clinic"


class User(SQLModel, table=True):
    """A person who signs in. Officials, admins and auditors use a password; villagers a one-time code."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("role in ('villager', 'official', 'county_admin', 'auditor', 'partner_staff')", name="role"),
        CheckConstraint("role <> 'villager' or person_id is not null", name="villager_is_a_person"),
        CheckConstraint("(role = 'partner_staff') = (partner_id is not null)", name="staff_of_a_partner"),
        # A person has at most one villager sign-in and at most one staff account (an official who lives in a
        # village has both: the staff account is linked to the person so the conflict-of-interest rule knows it)
        Index(
            "uq_app_user_villager_person",
            "person_id",
            unique=True,
            sqlite_where=text("role = 'villager'"),
            postgresql_where=text("role = 'villager'"),
        ),
        Index(
            "uq_app_user_staff_person",
            "person_id",
            unique=True,
            sqlite_where=text("role <> 'villager'"),
            postgresql_where=text("role <> 'villager'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(sa_type=String(16))
    county_id: int = Field(foreign_key="county.id", index=True)
    username: str | None = Field(default=None, max_length=64, unique=True)
    display_name: str = Field(max_length=100)
    password_hash: str | None = Field(default=None, max_length=200)
    password_is_default: bool = False
    person_id: int | None = Field(default=None, foreign_key="person.id")
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)  # partner staff only
    active: bool = True
    created_at: datetime = timestamp(default_factory=utcnow)
    # How the pages look for this person, remembered across phones: None = the county's default language
    locale: str | None = Field(default=None, max_length=8)
    elder_mode: bool = False  # large type, high contrast, one action per screen
    # A password set by someone else (a reset, a new account) is changed by its holder at first sign-in
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # Tokens issued and sessions begun before this moment are refused (disabled, reset, phone changed)
    sign_ins_valid_from: datetime | None = timestamp(default=None)


class OfficialScope(SQLModel, table=True):
    """An official works in a village, or supervises a whole township."""

    __tablename__ = "official_scope"

    __table_args__ = (CheckConstraint("(village_id is null) <> (township_id is null)", name="village_or_township"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    village_id: int | None = Field(default=None, foreign_key="village.id")
    township_id: int | None = Field(default=None, foreign_key="township.id")


class Partner(SQLModel, table=True):
    __table_args__ = (CheckConstraint("kind in ('bank', 'merchant', 'clinic')", name="kind"),)

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    kind: str = Field(sa_type=String(16))
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    created_at: datetime = timestamp(default_factory=utcnow)
    # Where partner events are delivered (redemption/webhooks.py), signed with the secret. The secret is kept as
    # is: the service must sign with it.
    webhook_url: str | None = Field(default=None, max_length=500)
    webhook_secret: str | None = Field(default=None, max_length=64)
    # After a rotation the secret before it still signs, beside the new one, until `webhook_previous_until`
    # (redemption/webhooks.py: OVERLAP), so the partner can change its receiver without losing a delivery.
    webhook_previous_secret: str | None = Field(default=None, max_length=64)
    webhook_previous_until: datetime | None = timestamp(default=None)


class PartnerVillage(SQLModel, table=True):
    """A village a partner serves. A partner with none serves its whole county."""

    __tablename__ = "partner_village"

    partner_id: int = Field(sa_column=Column(ForeignKey("partner.id"), primary_key=True))
    village_id: int = Field(sa_column=Column(ForeignKey("village.id"), primary_key=True))


class PartnerClient(SQLModel, table=True):
    """An OAuth2 client-credentials client of a partner. The secret is stored only as an argon2 hash."""

    __tablename__ = "partner_client"

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    client_id: str = Field(max_length=64, unique=True)
    secret_hash: str = Field(max_length=200)
    scopes: str = Field(default="", max_length=400)  # space separated, as in OAuth2
    active: bool = True
    created_at: datetime = timestamp(default_factory=utcnow)


class OtpChallenge(SQLModel, table=True):
    """A one-time sign-in code sent to a villager's phone; only its keyed hash is kept."""

    __tablename__ = "otp_challenge"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20, index=True)
    code_hash: str = Field(max_length=64)
    attempts: int = 0
    expires_at: datetime = timestamp()
    consumed_at: datetime | None = timestamp(default=None)
    created_at: datetime = timestamp(default_factory=utcnow)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random key; only its SHA-256 is kept, so a copy of this table
    signs nobody in. Signing out (or an admin disabling the user) ends it at once."""

    __tablename__ = "web_session"

    key_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    role: str = Field(sa_type=String(16))  # the role signed in with; a changed role ends the session
    created_at: datetime = timestamp(default_factory=utcnow)
    expires_at: datetime = timestamp()
    ended_at: datetime | None = timestamp(default=None)


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins counted per account and per client address within a window."""

    __tablename__ = "sign_in_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    window_started_at: datetime = timestamp(default_factory=utcnow)
    blocked_until: datetime | None = timestamp(default=None)
