"""A village's concern code (随手拍) as the poster on the wall and the URL in its QR code, in the reader's
language, for the officials' page and the API alike."""

from __future__ import annotations

from api import i18n
from api.i18n import N_
from ledger.activities import codes, render
from ledger.core.settings import Settings
from ledger.tenancy import Township, Village

POSTER_TITLE = N_("Report a village problem")
POSTER_LINES = (
    N_("Complaints, questions, suggestions, hazards: scan and tell us"),
    N_("Accepted within minutes in working hours; you follow every step"),
    N_("A hazard or problem found real earns your household points"),
)
POSTER_SCAN = N_("Scan with your phone to report a problem")


def report_url(settings: Settings, token: str) -> str:
    """What the QR code says: the report form for the code's village, `/r/{token}` on this site."""
    return f"{settings.base_url.rstrip('/')}/r/{token}"


def village_report_url(keys: codes.Keys, settings: Settings, village: Village) -> str:
    assert village.id is not None
    return report_url(settings, codes.sign_concern_place(keys, village_id=village.id))


def township_report_url(keys: codes.Keys, settings: Settings, township: Township) -> str:
    """A township's own code: its concerns belong to no one village (a market, a road between villages)."""
    assert township.id is not None
    return report_url(settings, codes.sign_concern_place(keys, township_id=township.id))


def _url(keys: codes.Keys, settings: Settings, place: Village | Township) -> str:
    if isinstance(place, Township):
        return township_report_url(keys, settings, place)
    return village_report_url(keys, settings, place)


def poster_svg(keys: codes.Keys, settings: Settings, village: Village | Township, locale: str) -> bytes:
    """The A4 poster of a village's (or a township's) concern code, all in the reader's language."""
    return render.concern_poster_svg(
        url=_url(keys, settings, village),
        title=i18n.text(locale, POSTER_TITLE),
        lines=tuple(i18n.text(locale, line) for line in POSTER_LINES),
        place=village.name,
        scan=i18n.text(locale, POSTER_SCAN),
    )


def qr_png(keys: codes.Keys, settings: Settings, village: Village | Township, *, scale: int = 10) -> bytes:
    """The QR code alone, as a picture to put on a notice or a screen."""
    return render.qr_png(_url(keys, settings, village), scale=scale)
