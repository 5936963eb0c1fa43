"""Who may do what: roles, API token secrets, pseudonyms. Pure functions; the
tables live in :mod:`monitor.db.access`, the HTTP side in :mod:`monitor.api.auth`.

A token secret reads ``tdm_<prefix>_<random>``: the prefix (8 characters) is
stored in clear to find the row and to tell tokens apart in listings; the whole
secret is stored only as its SHA-256 (:func:`secret_hash`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = ["ROLES", "Principal", "has_role", "new_secret", "pseudonym", "secret_hash",
           "secret_prefix"]

#: Roles, weakest first: each may do everything the ones before it may.
ROLES = ("viewer", "reviewer", "admin")

_SECRET = re.compile(r"^tdm_([A-Za-z0-9]{8})_[A-Za-z0-9_-]{20,100}$")


@dataclass(frozen=True)
class Principal:
    """Who made a request: a token's id, name and role (``token_id`` None: the CLI)."""

    token_id: int | None
    name: str
    role: str

    @classmethod
    def cli(cls, user: str) -> Principal:
        """The operator at the command line: trusted as admin (they hold the database)."""
        return cls(None, f"cli:{user}", "admin")


def has_role(role: str, needed: str) -> bool:
    """Whether ``role`` is ``needed`` or stronger."""
    if needed not in ROLES:
        raise ValueError(f"unknown role {needed!r}; use one of {', '.join(ROLES)}")
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def new_secret() -> str:
    """A fresh token secret: 8 characters of prefix and 256 random bits."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    prefix = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"tdm_{prefix}_{secrets.token_urlsafe(32)}"


def secret_prefix(secret: str) -> str | None:
    """The prefix of a well-formed secret, else None (so junk never reaches SQL)."""
    m = _SECRET.match(secret)
    return m.group(1) if m else None


def secret_hash(secret: str) -> bytes:
    """What the database keeps of a secret.

    A plain SHA-256, not a slow password hash: the secret carries 256 random bits,
    so there is nothing to guess and nothing for a slow hash to protect; a fast
    hash keeps every authenticated request cheap.
    """
    return hashlib.sha256(secret.encode()).digest()


def matches(secret: str, stored: bytes) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    return hmac.compare_digest(secret_hash(secret), stored)


def pseudonym(secret: bytes, handle: str) -> str:
    """A stable pseudonym for an author's handle, e.g. ``anon-3f9a1c2b04d1``.

    A keyed hash (HMAC-SHA256), not a plain one: without the key nobody can
    hash a list of likely handles and match them.
    """
    digest = hmac.new(secret, handle.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return "anon-" + digest.hexdigest()[:12]


def csrf_for(session: str) -> str:
    """The CSRF token bound to a session cookie's value (which is a token secret):
    a page holding it proves it was served to that session."""
    return hmac.new(session.encode(), b"takedown-csrf", hashlib.sha256).hexdigest()
