"""Open311 clients as the county admin sees them (api/schemas/open311.py). Never a key or its hash. (The
GeoReport v2 answers themselves are shaped in api/open311.py, as the standard names them.)"""

from __future__ import annotations

from api.schemas.open311 import Open311ClientOut
from ledger.concerns.models import Open311Client
from ledger.core.base import row_id


def open311_client_out(client: Open311Client) -> Open311ClientOut:
    return Open311ClientOut(
        id=row_id(client.id),
        name=client.name,
        active=client.active,
        created_at=client.created_at,
        created_by=client.created_by,
    )
