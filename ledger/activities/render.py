"""QR codes (segno) and the printables built around them: an activity's A4 poster and a household's card.

Pure functions: plain values in, bytes out. The printables are SVG, which every browser prints at the right size
and which needs no font files on the server (the printing device supplies the CJK font).
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

import segno

FONT = "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif"


def qr(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str) -> bytes:
    buffer = io.BytesIO()
    qr(url).save(buffer, kind="svg", xmldecl=False, svgns=True, omitsize=True, border=4, nl=False)
    return buffer.getvalue()


def qr_png(url: str, *, scale: int = 10) -> bytes:
    buffer = io.BytesIO()
    qr(url).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def _placed(url: str, *, x: float, y: float, size: float) -> str:
    """The QR code as an SVG element placed in a larger drawing (units of the drawing)."""
    inner = qr_svg(url).decode()
    return inner.replace("<svg ", f'<svg x="{x}" y="{y}" width="{size}" height="{size}" ', 1)


def _text(x: float, y: float, size: float, content: str, *, weight: str = "normal", anchor: str = "middle") -> str:
    return (
        f'<text x="{x}" y="{y}" font-size="{size}" font-weight="{weight}" text-anchor="{anchor}" '
        f'font-family="{escape(FONT)}">{escape(content)}</text>'
    )


def poster_svg(
    *, url: str, title: str, matter: str, points: str, window: str, place: str, village: str, scan: str
) -> bytes:
    """An A4 poster (210 × 297 mm): title, matter, points, when and where, and a QR code 120 mm wide. Every text
    comes in the reader's language already (the presenter translates): `points` reads "+5 积分", `scan` tells what
    scanning the code does."""
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 210 297">',
        '<rect width="210" height="297" fill="#fff"/>',
        _text(105, 24, 7, village),
        _text(105, 42, 11, title, weight="bold"),
        _text(105, 56, 8, matter),
        _text(105, 76, 16, points, weight="bold"),
        _placed(url, x=45, y=92, size=120),
        _text(105, 232, 6.5, window),
        _text(105, 243, 6.5, place) if place else "",
        _text(105, 262, 6, scan),
        _text(105, 285, 3.2, url),
        "</svg>",
    ]
    return "".join(parts).encode()


def concern_poster_svg(*, url: str, title: str, lines: tuple[str, ...], place: str, scan: str) -> bytes:
    """A village's (or township's) A4 concern poster: the place, the title (随手拍·有事您说), up to three short lines
    of what may be reported and what is promised, a QR code 120 mm wide and what scanning it does. The texts come
    in the reader's language already."""
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 210 297">',
        '<rect width="210" height="297" fill="#fff"/>',
        _text(105, 24, 8, place, weight="bold"),
        _text(105, 44, 13, title, weight="bold"),
        *(_text(105, 58 + 9 * n, 5.5, line) for n, line in enumerate(lines[:3])),
        _placed(url, x=45, y=92, size=120),
        _text(105, 240, 6.5, scan),
        _text(105, 285, 3.2, url),
        "</svg>",
    ]
    return "".join(parts).encode()


def household_card_svg(*, url: str, household: str, house_number: str, village: str, code: str, show: str) -> bytes:
    """A wallet card (85.6 × 54 mm) an official scans to enter a claim for a household without a smartphone. The
    texts come in the reader's language: `house_number` reads "门牌号 12" (empty when there is none), `code`
    "户号 A-01", `show` asks the household to bring the card."""
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="85.6mm" height="54mm" viewBox="0 0 85.6 54">',
        '<rect x="0.3" y="0.3" width="85" height="53.4" rx="3" fill="#fff" stroke="#000" stroke-width="0.3"/>',
        _text(4, 9, 4, village, anchor="start"),
        _text(4, 19, 6, household, weight="bold", anchor="start"),
        _text(4, 27, 3.6, house_number, anchor="start") if house_number else "",
        _text(4, 35, 3, code, anchor="start"),
        _text(4, 48, 2.6, show, anchor="start"),
        _placed(url, x=47, y=8, size=36),
        "</svg>",
    ]
    return "".join(parts).encode()
