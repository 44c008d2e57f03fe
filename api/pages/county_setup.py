"""What the county admin's set-up pages share (ledger/people, staff and the roster: api/pages/places.py,
api/pages/staffing.py, api/pages/importing.py): who may open them, the notices after a change, the words for a
form field the domain refused, and running a change so that a refusal writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Form

from api.i18n import N_
from api.pages.web import Page, page_allow
from api.pages.web import reason as refusal_reason
from api.problems import status_of
from ledger.core.errors import DomainError, Invalid, Unauthenticated
from ledger.identity.models import Role
from ledger.identity.principal import Principal, visible_villages
from ledger.tenancy import NoticePrivacy, Village

ADMIN = {"roles": (Role.COUNTY_ADMIN,), "partner_kinds": (), "scope": None}
AdminPage = Annotated[Page, page_allow(Role.COUNTY_ADMIN)]
Text = Annotated[str, Form(max_length=200)]

# The notices after a change (post/redirect/get: `?done=` names one)
DONE: dict[str, str] = {
    "township_added": N_("The township was added."),
    "township_renamed": N_("The township was renamed."),
    "village_added": N_("The village was added, with its accounts."),
    "village_saved": N_("The village was saved."),
    "household_added": N_("The household was added."),
    "household_saved": N_("The household was saved."),
    "member_added": N_("The member was added. With a phone, they can sign in with it now."),
    "member_saved": N_("The member was saved."),
    "member_moved": N_("The member was moved. They sign in again, for their new household."),
    "head_changed": N_("The head of the household was changed."),
    "household_closed": N_("The household was closed."),
    "person_erased": N_("The person's data was erased: their name is replaced, their phone and photos are deleted."),
    "staff_saved": N_("The account was saved."),
    "staff_disabled": N_("The account was disabled: it was signed out everywhere at once."),
    "staff_enabled": N_("The account was enabled."),
    "staff_linked": N_("The account was linked to the person in the roster."),
    "staff_unlinked": N_("The account is no longer linked to a person in the roster."),
}

PRIVACY: dict[str, str] = {  # how a village's notice board names a household (tenancy.NoticePrivacy)
    NoticePrivacy.SURNAME_HOUSE: N_("Surname and house number"),
    NoticePrivacy.FULL_NAME: N_("Full name of the head"),
    NoticePrivacy.ANONYMOUS: N_("Not named: a household"),
}

KINDS: dict[str, str] = {  # the kinds of staff account (ledger.identity.staff.StaffKind)
    "official": N_("Village official"),
    "supervisor": N_("Township supervisor"),
    "auditor": N_("Auditor"),
    "admin": N_("County admin"),
}

CONFIRM_CLOSING = N_("Tick the box to confirm that the household is to be closed.")
CONFIRM_ERASING = N_("Tick the box to confirm that this person's data is to be erased.")

# What to put right, by the form field the domain refused (its `invalid` names no more than the field)
FIELD_TEXTS: dict[str, str] = {
    "name": N_("Give a name of 1 to 100 characters."),
    "code": N_("Give the household number as the roster has it: at most 32 characters."),
    "house_number": N_("Give a house number of at most 20 characters, or leave it empty."),
    "address": N_("Give an address of at most 200 characters, or leave it empty."),
    "relation": N_("Say the relation to the head in at most 20 characters, such as spouse, son or daughter."),
    "phone": N_("Give an 11-digit mainland mobile number, such as 13800000000, or leave it empty."),
    "centre_lat": N_("Give the centre as latitude and longitude in degrees, both or neither."),
    "centre_lon": N_("Give the centre as latitude and longitude in degrees, both or neither."),
    "notice_privacy": N_("Pick how the notice board names a household."),
    "township_id": N_("Pick a township of the county."),
    "village_id": N_("Pick a village of the county."),
    "village_ids": N_("An official works in one or more villages: tick them. Others name no village."),
    "username": N_("Give a username of 3 to 64 letters, digits, dots, dashes or underscores."),
    "display_name": N_("Give the name shown to others, at most 100 characters."),
    "password": N_("Choose a password of at least 12 characters that is not a default one, or leave it empty."),
    "why": N_("Say why in at most 200 characters."),
    "person": N_("Give the household number and the member's name as the roster has them."),
}


def who(page: Page) -> Principal:
    assert page.principal is not None
    return page.principal


def number(value: str | None, field: str) -> int | None:
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit() or len(value.strip()) > 12 or int(value) <= 0:
        raise Invalid("Not a number.", field=field)
    return int(value)


def blank(value: str | None) -> str | None:
    return value.strip() if value is not None and value.strip() else None


def refusal(page: Page, error: DomainError) -> str:
    """A refusal in words: the form's field, where one was wrong, else the usual text of its code."""
    field = error.detail.get("field")
    if error.code == "invalid" and isinstance(field, str) and field in FIELD_TEXTS:
        return page._(FIELD_TEXTS[field])
    if error.code == "person_not_found":
        return page._(FIELD_TEXTS["person"])
    return refusal_reason(page, error)


def refused_as(page: Page, error: DomainError) -> dict[str, Any]:
    """What a page shows for a refusal: its status, the words, and the code (kept in the markup, not shown)."""
    return {"status_code": status_of(error), "refusal": refusal(page, error), "refused_code": error.code}


def notice(page: Page) -> dict[str, Any]:
    done = page.request.query_params.get("done", "")
    return {"notice": page._(DONE[done])} if done in DONE else {}


@contextmanager
def attempt(page: Page) -> Iterator[None]:
    """A change that writes nothing when refused (a savepoint); sign-in is still asked for as usual."""
    with page.session.begin_nested():
        yield


def refused(error: DomainError) -> bool:
    return not isinstance(error, Unauthenticated)


def villages(page: Page) -> list[Village]:
    return visible_villages(page.session, who(page))
