"""Argon2 password and client-secret hashing. Checking an unknown account costs the same as a known one."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


@lru_cache(maxsize=1)
def _decoy() -> str:
    return _hasher.hash("decoy: makes a miss cost as much as a hit")


def check_secret(stored_hash: str | None, secret: str) -> bool:
    """True when `secret` matches. With no stored hash, spend the same time on a decoy and say no."""
    try:
        return _hasher.verify(stored_hash or _decoy(), secret) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False
