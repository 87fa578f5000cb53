"""Accounts for the web UI: passwords, browser sessions, one-time login links, CSRF tokens.

Contracts:

* passwords are hashed with argon2id (argon2-cffi); a login for an unknown name still
  verifies against a dummy hash, so timing does not tell which names exist; hashes are
  upgraded on login when the parameters change;
* a session is a random 32-byte token (the cookie value) stored as its SHA-256, with a
  per-session random ``csrf_secret``; the CSRF token for forms is
  ``HMAC-SHA256(csrf_secret, "csrf")`` and is checked in constant time;
* a login link is a random token stored as its SHA-256, valid once, until it expires;
* names are 1-64 letters, digits, ``_ . -``, starting with a letter or digit; a few
  internal names are reserved. Passwords are 8-1024 characters.

Nothing here knows HTTP: ``parley.web`` sets cookies and reads headers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from parley.errors import Forbidden, NotFound, Unauthorized, Unprocessable
from parley.store import accounts as store
from parley.store import users
from parley.store.direct import Db
from parley.store.users import User

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RESERVED_NAMES = frozenset({"sharegpt-anonymous"})
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignedIn:
    """A browser session just opened: the cookie value (shown once) and its CSRF token."""

    user: User
    token: str
    csrf_token: str
    expires_at: float


@dataclass(frozen=True)
class SessionUser:
    user: User
    csrf_secret: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password(hashed: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(hashed or _DUMMY_HASH, password) and hashed is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _valid_password(password: object) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Unprocessable(f"the password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return password


def _valid_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise Unprocessable(
            "the name must be 1-64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit"
        )
    if name.lower() in RESERVED_NAMES:
        raise Unprocessable(f"the name {name!r} is reserved")
    return name


def signup(session: Session, *, name: str, password: str, allowed: bool) -> User:
    """A new (non-admin) user with a password. Forbidden when sign-up is turned off."""
    if not allowed:
        raise Forbidden("sign-up is turned off on this server; ask an admin for an account")
    hashed = hash_password(_valid_password(password))
    user = users.create(session, name=_valid_name(name), is_admin=False)
    store.set_password_hash(session, user_id=user.id, value=hashed)
    return user


def set_password(session: Session, *, user_id: str, password: str) -> None:
    store.set_password_hash(
        session, user_id=user_id, value=hash_password(_valid_password(password))
    )


def authenticate(session: Session, *, name: str, password: str) -> User:
    """The user whose name and password these are; Unauthorized otherwise (same message)."""
    user = users.by_name(session, name=name) if isinstance(name, str) else None
    hashed = store.password_hash(session, user_id=user.id) if user else None
    if user is None or not isinstance(password, str) or not check_password(hashed, password):
        raise Unauthorized("wrong name or password")
    assert hashed is not None
    if _HASHER.check_needs_rehash(hashed):
        store.set_password_hash(session, user_id=user.id, value=hash_password(password))
    return user


def open_session(
    session: Session, *, user: User, ttl_seconds: float, now: float | None = None
) -> SignedIn:
    now = time.time() if now is None else now
    store.purge_expired(session, now=now)
    token, secret = secrets.token_urlsafe(32), secrets.token_hex(32)
    expires_at = now + ttl_seconds
    store.add_session(
        session,
        token_hash=digest(token),
        user_id=user.id,
        csrf_secret=secret,
        now=now,
        expires_at=expires_at,
    )
    return SignedIn(user=user, token=token, csrf_token=csrf_token(secret), expires_at=expires_at)


def session_user(db: Db, *, token: str, now: float | None = None) -> SessionUser | None:
    """Who a session cookie belongs to, or None (unknown, expired or signed out)."""
    now = time.time() if now is None else now
    found = store.find_session(db, token_hash=digest(token), now=now)
    if found is None:
        return None
    user = users.by_id(db, user_id=found.user_id)
    return SessionUser(user, found.csrf_secret) if user else None


def close_session(session: Session, *, token: str) -> None:
    store.remove_session(session, token_hash=digest(token))


def csrf_token(secret: str) -> str:
    return hmac.new(secret.encode(), b"csrf", hashlib.sha256).hexdigest()


def csrf_ok(secret: str, candidate: str | None) -> bool:
    if not candidate:
        return False
    return hmac.compare_digest(csrf_token(secret), candidate.strip())


def issue_login_link(
    session: Session, *, user_id: str, ttl_seconds: float, now: float | None = None
) -> str:
    """A one-time login token for the user (the only time the plaintext exists)."""
    if users.by_id(session, user_id=user_id) is None:
        raise NotFound(f"no user with id {user_id!r}")
    now = time.time() if now is None else now
    token = secrets.token_urlsafe(32)
    store.add_link(session, token_hash=digest(token), user_id=user_id, expires_at=now + ttl_seconds)
    return token


def redeem_login_link(session: Session, *, token: str, now: float | None = None) -> User:
    """The link's user, once; NotFound for a link that is unknown, used or expired."""
    now = time.time() if now is None else now
    user_id = store.consume_link(session, token_hash=digest(token), now=now)
    user = users.by_id(session, user_id=user_id) if user_id else None
    if user is None:
        raise NotFound("this login link is invalid, expired or already used; ask for a new one")
    return user
