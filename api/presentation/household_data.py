"""Everything held about a household, for its members to take away (PIPL art. 45): its profile and members, its
points (balance and the whole statement), claims with the photos they name, deductions, disputes, ratings with
their reasons, consents, who looked at the rating, review requests, vouchers, loan applications and what it was
told, as JSON and as an XLSX workbook (one sheet per section, through `ledger/core/exports.py`).

It reads every domain (ledger, scoring, redemption), so it lives here, above them all, and presents each record
through the presenter the household's own pages use, as the household sees it: never a staff member's view of a
claim (its fraud flags, its reviewer). Whose household it is, the caller decides first (`household_view`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session, col

from api import i18n
from api.i18n import N_
from api.presentation.claims import claims_out, deductions_out, dispute_out
from api.presentation.concerns import concern_out
from api.presentation.credit import access_log_out, consent_out, review_out
from api.presentation.households import current_balance_out, statement_out
from api.presentation.loans import application_out
from api.presentation.redemption import voucher_out
from ledger.claims.models import Claim, ClaimEvidence, Deduction, DeductionEvidence, Dispute, EvidenceFile
from ledger.concerns.models import Concern
from ledger.core import exports
from ledger.core.base import as_utc, utcnow
from ledger.core.outbox import Notification
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.journal import queries
from ledger.tenancy import Household, Person, Village
from redemption import loans, vouchers
from scoring.models import Consent, Rating, ReviewRequest

# the sections, in order, and what the workbook's sheets are called (the JSON keeps the keys)
SECTIONS = {
    "household": N_("Household"),
    "members": N_("Members"),
    "balance": N_("Balance"),
    "statement": N_("Points statement"),
    "claims": N_("Claims"),
    "photos": N_("Photos"),
    "deductions": N_("Deductions"),
    "disputes": N_("Objections and appeals"),
    "ratings": N_("Ratings"),
    "consents": N_("Consents to banks"),
    "lookups": N_("Banks' looks at the rating"),
    "review_requests": N_("Rating review requests"),
    "vouchers": N_("Vouchers"),
    "loan_applications": N_("Loan applications"),
    "concerns": N_("Village concerns reported"),
    "notifications": N_("Messages sent"),
}
NOTHING = N_("Nothing held.")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EVERYTHING = 1_000_000  # a household's rows of one kind: no listing limit applies to its own export


def household_view(household: Household) -> Principal:
    """The household's own view of its records, whoever asked for the export (the presenters show a villager
    what is theirs, and a staff member more)."""
    assert household.id is not None
    return Principal(
        subject=f"household:{household.id}",
        role=Role.VILLAGER,
        county_id=household.county_id,
        household_id=household.id,
        home_village_id=household.village_id,
    )


@dataclass(frozen=True)
class HouseholdData:
    generated_at: datetime
    sections: dict[str, Any]  # a section is one record (a dict) or a list of records

    def as_json(self) -> dict[str, Any]:
        return {"generated_at": as_utc(self.generated_at).isoformat(), **self.sections}

    def workbook(self, locale: str = "zh_CN") -> bytes:
        """One sheet per section, named in the reader's language (the columns keep the JSON's keys); a nested
        value (a list of links, a rating's reasons) as JSON text; an empty section says so."""
        tables = {}
        for name, section in self.sections.items():
            rows = [section] if isinstance(section, dict) else list(section)
            table = pd.DataFrame([{k: _cell(v) for k, v in row.items()} for row in rows])
            if not rows:
                table = pd.DataFrame({name: [i18n.text(locale, NOTHING)]})
            tables[i18n.text(locale, SECTIONS[name])] = table
        return exports.xlsx_bytes(tables)

    def as_file(self, format: str, locale: str = "zh_CN") -> tuple[bytes, str, str]:  # noqa: A002
        """The file's bytes, media type and name: `format` is json or xlsx (its sheets named in `locale`)."""
        name = f"shanzhi-household-data.{format}"
        if format == "xlsx":
            return self.workbook(locale), XLSX, name
        body = json.dumps(self.as_json(), ensure_ascii=False, indent=1).encode()
        return body, "application/json", name


def gather(session: Session, household: Household) -> HouseholdData:
    """Everything held about the household, as of now."""
    assert household.id is not None
    hid, who = household.id, household_view(household)
    village = session.get(Village, household.village_id)
    members = session.scalars(
        select(Person).where(col(Person.household_id) == hid).order_by(col(Person.is_head).desc(), col(Person.id))
    ).all()
    claims = session.scalars(select(Claim).where(col(Claim.household_id) == hid).order_by(col(Claim.id))).all()
    deductions = session.scalars(
        select(Deduction).where(col(Deduction.household_id) == hid).order_by(col(Deduction.id))
    ).all()
    disputes = session.scalars(
        select(Dispute)
        .where((col(Dispute.household_id) == hid) | (col(Dispute.raised_by_household_id) == hid))
        .order_by(col(Dispute.id))
    ).all()
    sections: dict[str, Any] = {
        "household": {
            "id": hid,
            "code": household.code,
            "name": household.name,
            "village": village.name if village else None,
            "house_number": household.house_number,
            "address": household.address,
            "created_at": household.created_at,
            "closed_at": household.closed_at,
        },
        "members": [
            {
                "person_id": m.id,
                "name": m.name,
                "phone": m.phone,
                "relation": m.relation,
                "is_head": m.is_head,
                "erased_at": m.erased_at,
            }
            for m in members
        ],
        "balance": _dump(current_balance_out(session, hid)),
        "statement": _statement(session, hid),
        "claims": [_dump(c) for c in claims_out(session, claims, who)],
        "photos": _photos(session, hid),
        "deductions": [_dump(d) for d in deductions_out(session, deductions)],
        "disputes": [_dump(dispute_out(d, who)) for d in disputes],
        "ratings": [
            {
                "id": r.id,
                "computed_at": r.computed_at,
                "as_of": r.as_of,
                "grade": r.grade,
                "score": r.score,
                "scorecard": r.scorecard_id,
                "reasons": r.reasons,
                "points": r.points,
                "features": r.features,
            }
            for r in session.scalars(select(Rating).where(col(Rating.household_id) == hid).order_by(col(Rating.id)))
        ],
        "consents": [
            _dump(consent_out(session, c))
            for c in session.scalars(
                select(Consent).where(col(Consent.household_id) == hid).order_by(col(Consent.granted_at))
            )
        ],
        "lookups": [_dump(entry) for entry in access_log_out(session, hid, limit=EVERYTHING)],
        "review_requests": [
            _dump(review_out(session, task, with_rating=False))
            for task in session.scalars(
                select(ReviewRequest).where(col(ReviewRequest.household_id) == hid).order_by(col(ReviewRequest.id))
            )
        ],
        "vouchers": [_dump(voucher_out(session, v, who)) for v in vouchers.of_household(session, hid)],
        "loan_applications": [_dump(application_out(session, a, who)) for a in loans.of_household(session, hid)],
        "concerns": [
            _dump(concern_out(session, who, c))
            for c in session.scalars(
                select(Concern).where(col(Concern.reporter_household_id) == hid).order_by(col(Concern.id))
            )
        ],
        "notifications": [
            {
                "id": n.id,
                "kind": n.kind,
                "payload": n.payload,
                "created_at": n.created_at,
                "delivered_at": n.delivered_at,
            }
            for n in session.scalars(
                select(Notification).where(col(Notification.household_id) == hid).order_by(col(Notification.id))
            )
        ],
    }
    return HouseholdData(generated_at=utcnow(), sections={name: _plain(sections[name]) for name in SECTIONS})


def _statement(session: Session, household_id: int) -> list[dict[str, Any]]:
    """Every entry of the household's statement, newest first (page after page)."""
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = statement_out(session, household_id, limit=queries.MAX_PAGE, cursor=cursor)
        entries.extend(_dump(entry) for entry in page.entries)
        if page.next_cursor is None:
            return entries
        cursor = page.next_cursor


def _photos(session: Session, household_id: int) -> list[dict[str, Any]]:
    """The household's photos: where each is served (a member may open it), or when it was deleted."""
    rows = session.scalars(
        select(EvidenceFile).where(col(EvidenceFile.household_id) == household_id).order_by(col(EvidenceFile.id))
    ).all()
    ids = [row.id for row in rows]
    claims: dict[int, list[int]] = {}
    for claim_id, evidence_id in session.execute(
        select(col(ClaimEvidence.claim_id), col(ClaimEvidence.evidence_id)).where(
            col(ClaimEvidence.evidence_id).in_(ids)
        )
    ):
        claims.setdefault(evidence_id, []).append(claim_id)
    deductions: dict[int, list[int]] = {}
    for deduction_id, evidence_id in session.execute(
        select(col(DeductionEvidence.deduction_id), col(DeductionEvidence.evidence_id)).where(
            col(DeductionEvidence.evidence_id).in_(ids)
        )
    ):
        deductions.setdefault(evidence_id, []).append(deduction_id)
    return [
        {
            "id": row.id,
            "link": None if row.purged_at else f"/api/v1/evidence/{row.id}",
            "content_type": row.content_type,
            "size": row.size,
            "uploaded_at": row.created_at,
            "deleted_at": row.purged_at,
            "claims": sorted(claims.get(row.id or 0, [])),
            "deductions": sorted(deductions.get(row.id or 0, [])),
        }
        for row in rows
    ]


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _plain(value: Any) -> Any:
    """JSON's own types: times in UTC ISO form."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value
