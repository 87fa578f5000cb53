"""Web UI accounts at rest: password hashes, browser sessions and one-time login links.

Invariants:

* session tokens and login-link tokens are stored only as SHA-256 hex digests (the
  caller hashes; nothing here sees a plaintext token);
* a session is valid until ``expires_at``; expired rows are ignored, and purged by
  :func:`purge_expired`;
* :func:`consume_link` marks a link used with one conditional ``UPDATE``, so of two
  concurrent redemptions exactly one succeeds.

Every function takes the session first and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from parley.store import direct
from parley.store.direct import Db, Query
from parley.store.tables import login_links, users, web_sessions


@dataclass(frozen=True)
class WebSession:
    user_id: str
    csrf_secret: str
    expires_at: float


def password_hash(session: Session, *, user_id: str) -> str | None:
    value = session.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar()
    return str(value) if value else None


def set_password_hash(session: Session, *, user_id: str, value: str) -> None:
    session.execute(update(users).where(users.c.id == user_id).values(password_hash=value))


def add_session(
    session: Session,
    *,
    token_hash: str,
    user_id: str,
    csrf_secret: str,
    now: float,
    expires_at: float,
) -> None:
    session.execute(
        web_sessions.insert().values(
            token_hash=token_hash,
            user_id=user_id,
            csrf_secret=csrf_secret,
            created_at=now,
            expires_at=expires_at,
        )
    )


_FIND_SESSION = Query(
    select(web_sessions.c.user_id, web_sessions.c.csrf_secret, web_sessions.c.expires_at).where(
        web_sessions.c.token_hash == bindparam("token_hash"),
        web_sessions.c.expires_at > bindparam("now"),
    )
)


def find_session(db: Db, *, token_hash: str, now: float) -> WebSession | None:
    row = direct.of(db).first(_FIND_SESSION, token_hash=token_hash, now=now)
    return WebSession(*row) if row else None


def remove_session(session: Session, *, token_hash: str) -> None:
    session.execute(delete(web_sessions).where(web_sessions.c.token_hash == token_hash))


def remove_user_sessions(session: Session, *, user_id: str) -> None:
    session.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))


def purge_expired(session: Session, *, now: float) -> None:
    session.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
    session.execute(delete(login_links).where(login_links.c.expires_at <= now))


def add_link(session: Session, *, token_hash: str, user_id: str, expires_at: float) -> None:
    session.execute(
        login_links.insert().values(
            token_hash=token_hash, user_id=user_id, expires_at=expires_at, used_at=None
        )
    )


def consume_link(session: Session, *, token_hash: str, now: float) -> str | None:
    """The link's user id if it was unused and unexpired (it is now used), else None."""
    result = session.execute(
        update(login_links)
        .where(
            login_links.c.token_hash == token_hash,
            login_links.c.used_at.is_(None),
            login_links.c.expires_at > now,
        )
        .values(used_at=now)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    value = session.execute(
        select(login_links.c.user_id).where(login_links.c.token_hash == token_hash)
    ).scalar()
    return str(value) if value else None
