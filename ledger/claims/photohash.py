"""Perceptual hashes of evidence photos, so that a photo sent again is recognised even after a phone or a chat app
re-encoded it (other size, other JPEG quality), which changes every byte and so its SHA-256.

The hash is imagehash's pHash: 64 bits from the low frequencies of the photo's discrete cosine transform. Two
photos count as the same when at most MAX_DISTANCE of the 64 bits differ (Hamming distance). Re-saving a photo at
another size or quality moves a few bits (up to 4 in tests/api/test_claims_fraud.py, down to a third of the size
and quality 20); two unrelated photos differ in about half of them (32), and a chance match at 8 or fewer is
below one in a billion. 8 leaves room for a light crop or filter without flagging photos that merely look alike;
a flag only asks an official to look, it refuses nothing.
"""

from __future__ import annotations

from pathlib import Path

import imagehash
from PIL import Image

MAX_DISTANCE = 8


def of(image: Image.Image) -> str:
    """The perceptual hash of a decoded image, as 16 hex digits."""
    return str(imagehash.phash(image))


def of_file(path: Path) -> str | None:
    """The perceptual hash of a stored photo; None when it cannot be decoded (it is matched by SHA-256 only)."""
    try:
        with Image.open(path) as image:
            return of(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def distance(a: str, b: str) -> int:
    """How many of the 64 bits differ."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
