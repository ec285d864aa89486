"""Guardian passwords: argon2id hashes through argon2-cffi, never stored in clear."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
#: argon2 is made to be slow (about 0.2 s of CPU): at most two at a time, on threads of their
#: own, so that a wave of logins does not starve the turns of parents already logged in
#: (bench/rush.py: booking p95 45 s -> 27 s, login p95 67 s -> 75 s; docs/BENCHMARKS.md).
_argon2_thread = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
T = TypeVar("T")


async def off_loop(function: Callable[..., T], *args: object) -> T:
    """Run a hashing function on the argon2 thread, without blocking the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_argon2_thread, function, *args)


def hash_password(password: str) -> str:
    """Hash a password with argon2id and a fresh random salt.

    Args:
        password: the password in clear.

    Returns:
        The encoded hash (parameters and salt included), for `Guardian.password_hash`.
    """
    return _hasher.hash(password)


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Made by the hasher in use, so that verifying it costs what verifying a stored hash does.
    return hasher.hash("no such guardian")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash (argon2-cffi's argument order).

    Without a hash (unknown login) a dummy hash, made with the same parameters, is checked
    all the same, so that the time taken does not tell which logins exist.

    Args:
        password_hash: the encoded hash from `hash_password`, or None.
        password: the password in clear, as typed.

    Returns:
        True on a match; False on a mismatch, a missing or a malformed hash (never raises).
    """
    try:
        matches = _hasher.verify(password_hash or _dummy_hash(_hasher), password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters and should be redone at next login."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
