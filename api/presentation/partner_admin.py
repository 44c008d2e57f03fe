"""Partners as the county admin sees them (api/schemas/partner_admin.py): kind, villages, clients and staff
sign-ins. Never a secret or a password hash."""

from __future__ import annotations

from sqlmodel import Session

from api.schemas.partner_admin import ClientOut, PartnerOut, PartnerStaffOut
from ledger.core.base import row_id
from ledger.identity.models import Partner, PartnerClient, User
from redemption import offers, partners


def client_out(client: PartnerClient) -> ClientOut:
    return ClientOut(
        client_id=client.client_id, scopes=client.scopes.split(), active=client.active, created_at=client.created_at
    )


def staff_out(user: User) -> PartnerStaffOut:
    return PartnerStaffOut(
        user_id=row_id(user.id),
        username=user.username,
        display_name=user.display_name,
        active=user.active,
        must_change_password=user.must_change_password,
    )


def partner_out(session: Session, partner: Partner) -> PartnerOut:
    partner_id = row_id(partner.id)
    return PartnerOut(
        id=partner_id,
        kind=partner.kind,
        code=partner.code,
        name=partner.name,
        village_ids=offers.villages_of(session, partner_id),
        clients=[client_out(c) for c in partners.clients_of(session, partner_id)],
        staff=[staff_out(u) for u in partners.staff_of(session, partner_id)],
    )
