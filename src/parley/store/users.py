"""Users and their API tokens.

Tokens are random 32-byte URL-safe strings shown once, when issued; only their SHA-256
and an 8-character prefix (to tell them apart in lists) are stored. The local owner is
the first admin user; it is created on first use so that a fresh library always has an
owner for imports made without ``--user``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from parley.errors import Conflict, NotFound
from parley.store import direct
from parley.store.direct import Db, Query
from parley.store.tables import comments, saves, shares, tokens, users

LOCAL_OWNER_NAME = "owner"
TOKEN_PREFIX_LENGTH = 8


@dataclass(frozen=True)
class User:
    id: str
    name: str
    is_admin: bool
    created_at: float


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, name: str, is_admin: bool = False) -> User:
    if by_name(session, name=name) is not None:
        raise Conflict(f"a user named {name!r} already exists")
    user = User(id=str(uuid.uuid4()), name=name, is_admin=is_admin, created_at=time.time())
    session.execute(
        users.insert().values(
            id=user.id, name=user.name, is_admin=user.is_admin, created_at=user.created_at
        )
    )
    return user


def _one(session: Session, where: object) -> User | None:
    row = session.execute(
        select(users.c.id, users.c.name, users.c.is_admin, users.c.created_at).where(where)  # type: ignore[arg-type]
    ).first()
    return User(**row._asdict()) if row else None


def by_name(session: Session, *, name: str) -> User | None:
    return _one(session, users.c.name == name)


_BY_ID = Query(
    select(users.c.id, users.c.name, users.c.is_admin, users.c.created_at).where(
        users.c.id == bindparam("user_id")
    )
)


def by_id(db: Db, *, user_id: str) -> User | None:
    row = direct.of(db).first(_BY_ID, user_id=user_id)
    return User(row[0], row[1], bool(row[2]), row[3]) if row else None


def require(session: Session, *, name: str) -> User:
    user = by_name(session, name=name)
    if user is None:
        raise NotFound(f"no user named {name!r}; create one with `parley users add {name}`")
    return user


def local_owner(session: Session) -> User:
    """The first admin user, created (named ``owner``) if the library has none."""
    row = session.execute(
        select(users.c.id, users.c.name, users.c.is_admin, users.c.created_at)
        .where(users.c.is_admin.is_(True))
        .order_by(users.c.created_at)
        .limit(1)
    ).first()
    if row is not None:
        return User(**row._asdict())
    name = LOCAL_OWNER_NAME
    while by_name(session, name=name) is not None:
        name += "_"
    return create(session, name=name, is_admin=True)


_FIRST_ADMIN = Query(
    select(users.c.id, users.c.name, users.c.is_admin, users.c.created_at)
    .where(users.c.is_admin.is_(True))
    .order_by(users.c.created_at)
    .limit(1)
)


def first_admin(db: Db) -> User | None:
    """The local owner if there is one (a read; :func:`local_owner` creates it)."""
    row = direct.of(db).first(_FIRST_ADMIN)
    return User(row[0], row[1], bool(row[2]), row[3]) if row else None


def all_users(session: Session) -> list[User]:
    rows = session.execute(
        select(users.c.id, users.c.name, users.c.is_admin, users.c.created_at).order_by(
            users.c.created_at
        )
    )
    return [User(**row._asdict()) for row in rows]


def remove(session: Session, *, user_id: str) -> None:
    """Delete the user with everything they own; their saves and comments on other people's
    shares go too (cascades), so those shares' counters are lowered first."""
    if by_id(session, user_id=user_id) is None:
        raise NotFound(f"no user with id {user_id!r}")
    _uncount(session, user_id=user_id)
    session.execute(delete(tokens).where(tokens.c.user_id == user_id))
    session.execute(delete(users).where(users.c.id == user_id))


def _uncount(session: Session, *, user_id: str) -> None:
    saved = select(saves.c.share_id).where(saves.c.user_id == user_id)
    session.execute(
        update(shares).where(shares.c.id.in_(saved)).values(saves=shares.c.saves - 1)
    )  # one save per user and share (uq_saves_user_share)
    live = (comments.c.author_id == user_id) & comments.c.deleted.is_(False)
    per_share = (
        select(func.count()).where(live, comments.c.share_id == shares.c.id).scalar_subquery()
    )
    commented = select(comments.c.share_id).where(live)
    session.execute(
        update(shares)
        .where(shares.c.id.in_(commented))
        .values(comments=shares.c.comments - per_share)
    )


def issue_token(
    session: Session, *, user_id: str, kind: str = "user", label: str | None = None
) -> str:
    """A new token for the user; the only time the plaintext exists."""
    token = secrets.token_urlsafe(32)
    session.execute(
        tokens.insert().values(
            id=str(uuid.uuid4()),
            user_id=user_id,
            kind=kind,
            token_hash=hash_token(token),
            prefix=token[:TOKEN_PREFIX_LENGTH],
            label=label,
            created_at=time.time(),
        )
    )
    return token


def token_prefixes(session: Session, *, user_id: str) -> list[str]:
    rows = session.execute(
        select(tokens.c.prefix).where(tokens.c.user_id == user_id).order_by(tokens.c.created_at)
    )
    return [row.prefix for row in rows]


TOUCH_INTERVAL = 300.0  # seconds between last_used_at updates of one token


_TOKEN_USER = Query(
    select(users.c.id, users.c.name, users.c.is_admin, users.c.created_at)
    .join(tokens, tokens.c.user_id == users.c.id)
    .where(tokens.c.token_hash == bindparam("token_hash"), tokens.c.kind == bindparam("kind"))
)


def user_for_token(db: Db, *, token: str, kind: str = "user") -> User | None:
    """The user a token belongs to, or None. A read only: the lookup is by hash (timing
    reveals nothing of the token); recording use is :func:`touch_token`'s job."""
    row = direct.of(db).first(_TOKEN_USER, token_hash=hash_token(token), kind=kind)
    return User(row[0], row[1], bool(row[2]), row[3]) if row else None


def touch_token(session: Session, *, token: str, now: float | None = None) -> bool:
    """Record that a token was used, at most once per TOUCH_INTERVAL; True if written.

    Kept apart from the lookup so that authenticating stays a read: a write on every
    request would queue every reader behind SQLite's single writer.
    """
    now = time.time() if now is None else now
    result = session.execute(
        update(tokens)
        .where(
            tokens.c.token_hash == hash_token(token),
            (tokens.c.last_used_at.is_(None)) | (tokens.c.last_used_at < now - TOUCH_INTERVAL),
        )
        .values(last_used_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
