"""Argon2 password and client-secret hashing. Checking an unknown account costs the same as a known one.

A hash takes tens of milliseconds of a core and much memory on purpose, so callers run it outside any database
transaction (a sign-in must not hold a lock, or SQLite's one writer, while it hashes), and no more hashes run at
once in a process than `set_hashes_at_once` allows (SHANZHI_PASSWORD_HASHES_AT_ONCE; by default one per core):
forty bad passwords at once then wait their turn here instead of starving every other request of CPU.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_slots = threading.BoundedSemaphore(os.cpu_count() or 1)


def set_hashes_at_once(count: int) -> None:
    """How many hashes may run at once in this process (the app sets it from its settings when it starts)."""
    global _slots  # noqa: PLW0603 - one bound per process, as there is one CPU
    _slots = threading.BoundedSemaphore(max(count, 1))


def hash_secret(secret: str) -> str:
    with _slots:
        return _hasher.hash(secret)


@lru_cache(maxsize=1)
def _decoy() -> str:
    return hash_secret("decoy: makes a miss cost as much as a hit")


def check_secret(stored_hash: str | None, secret: str) -> bool:
    """True when `secret` matches. With no stored hash, spend the same time on a decoy and say no."""
    stored = stored_hash or _decoy()
    with _slots:
        try:
            return _hasher.verify(stored, secret) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False
