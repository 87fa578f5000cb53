"""Web sessions and one-time login links at rest: hashed tokens, expiry, single use."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from parley.store import accounts, users
from parley.store.db import transaction
from parley.store.tables import login_links, web_sessions


def test_password_hash_is_stored_per_user(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        assert accounts.password_hash(session, user_id=owner_id) is None
        accounts.set_password_hash(session, user_id=owner_id, value="$argon2id$fake")
    with transaction(factory) as session:
        assert accounts.password_hash(session, user_id=owner_id) == "$argon2id$fake"


def test_sessions_expire_and_end(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        accounts.add_session(
            session,
            token_hash="h1",
            user_id=owner_id,
            csrf_secret="s1",
            now=100.0,
            expires_at=200.0,
        )
    with transaction(factory) as session:
        found = accounts.find_session(session, token_hash="h1", now=150.0)
        assert found == accounts.WebSession(owner_id, "s1", 200.0)
        assert accounts.find_session(session, token_hash="h1", now=200.0) is None
        assert accounts.find_session(session, token_hash="other", now=150.0) is None
        accounts.remove_session(session, token_hash="h1")
        assert accounts.find_session(session, token_hash="h1", now=150.0) is None


def test_purge_and_user_sessions(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        for name, expires in (("old", 50.0), ("live", 500.0)):
            accounts.add_session(
                session,
                token_hash=name,
                user_id=owner_id,
                csrf_secret="s",
                now=1.0,
                expires_at=expires,
            )
        accounts.add_link(session, token_hash="gone", user_id=owner_id, expires_at=50.0)
        accounts.purge_expired(session, now=100.0)
        left = session.execute(select(web_sessions.c.token_hash)).scalars().all()
        links = session.execute(select(func.count()).select_from(login_links)).scalar()
        assert (left, links) == (["live"], 0)
        accounts.remove_user_sessions(session, user_id=owner_id)
        assert session.execute(select(func.count()).select_from(web_sessions)).scalar() == 0


def test_a_link_is_consumed_once_and_not_after_expiry(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        accounts.add_link(session, token_hash="once", user_id=owner_id, expires_at=200.0)
        accounts.add_link(session, token_hash="late", user_id=owner_id, expires_at=200.0)
    with transaction(factory) as session:
        assert accounts.consume_link(session, token_hash="once", now=100.0) == owner_id
        assert accounts.consume_link(session, token_hash="once", now=101.0) is None
        assert accounts.consume_link(session, token_hash="late", now=200.0) is None
        assert accounts.consume_link(session, token_hash="never", now=100.0) is None


def test_deleting_a_user_ends_their_sessions(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        user = users.create(session, name="leaving")
        accounts.add_session(
            session, token_hash="h", user_id=user.id, csrf_secret="s", now=1.0, expires_at=1e12
        )
    with transaction(factory) as session:
        users.remove(session, user_id=user.id)
    with transaction(factory) as session:
        assert accounts.find_session(session, token_hash="h", now=2.0) is None
