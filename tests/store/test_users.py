from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from parley.errors import Conflict, NotFound
from parley.store import users
from parley.store.db import transaction
from parley.store.tables import tokens


def test_local_owner_is_created_once(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        first = users.local_owner(session)
    with transaction(factory) as session:
        assert users.local_owner(session) == first
    assert first.is_admin and first.name == "owner"


def test_tokens_are_hashed_at_rest_and_resolve(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        alice = users.create(session, name="alice")
        token = users.issue_token(session, user_id=alice.id)
    with transaction(factory) as session:
        stored = session.execute(select(tokens.c.token_hash, tokens.c.prefix)).one()
        assert token not in stored.token_hash and stored.prefix == token[:8]
        assert users.user_for_token(session, token=token) == alice
        assert users.user_for_token(session, token=token + "x") is None
        assert users.user_for_token(session, token=token, kind="agent") is None
        assert users.token_prefixes(session, user_id=alice.id) == [token[:8]]


def test_duplicate_names_and_unknown_users(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        users.create(session, name="bob")
        with pytest.raises(Conflict):
            users.create(session, name="bob")
        with pytest.raises(NotFound, match="parley users add"):
            users.require(session, name="nobody")
        with pytest.raises(NotFound):
            users.remove(session, user_id="nope")


def test_removing_a_user_revokes_tokens(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        carol = users.create(session, name="carol")
        token = users.issue_token(session, user_id=carol.id)
        users.remove(session, user_id=carol.id)
        assert users.user_for_token(session, token=token) is None
        assert [u.name for u in users.all_users(session)] == []


def test_token_use_is_recorded_at_most_once_per_interval(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        dora = users.create(session, name="dora")
        token = users.issue_token(session, user_id=dora.id)
    with transaction(factory) as session:
        assert users.touch_token(session, token=token, now=1000.0)
        assert not users.touch_token(session, token=token, now=1000.0 + users.TOUCH_INTERVAL - 1)
        assert users.touch_token(session, token=token, now=1000.0 + users.TOUCH_INTERVAL + 1)
        assert not users.touch_token(session, token="unknown", now=5000.0)
        assert (
            session.execute(select(tokens.c.last_used_at)).scalar()
            == 1000.0 + users.TOUCH_INTERVAL + 1
        )
