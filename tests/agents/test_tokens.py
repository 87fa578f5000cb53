"""Agent tokens: service users, kinds kept apart, stored hashed (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from parley.agents import tokens
from parley.errors import Conflict, Unprocessable
from parley.store import users
from parley.store.db import transaction
from parley.store.tables import tokens as token_table


def test_agent_tokens_belong_to_one_service_user_per_name(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        user, first = tokens.issue_agent_token(session, name="gpu-box")
        same, second = tokens.issue_agent_token(session, name="gpu-box")
        other, third = tokens.issue_agent_token(session, name=None)
    assert user.name == "agent:gpu-box" and not user.is_admin
    assert same.id == user.id and first != second
    assert other.name.startswith("agent:agent-") and other.id != user.id
    with transaction(factory) as session:
        assert tokens.agent_owner(session, token=second) == user
        assert tokens.agent_owner(session, token=third) == other
        stored = session.execute(select(token_table.c.token_hash, token_table.c.kind)).all()
    assert {row.kind for row in stored} == {"agent"}
    assert all(first not in row.token_hash and len(row.token_hash) == 64 for row in stored)


def test_user_tokens_and_agent_tokens_do_not_mix(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        person = users.create(session, name="alice")
        user_token = users.issue_token(session, user_id=person.id)
        _, agent_token = tokens.issue_agent_token(session, name="worker")
    with transaction(factory) as session:
        assert tokens.agent_owner(session, token=user_token) is None
        assert users.user_for_token(session, token=agent_token) is None
        assert tokens.agent_owner(session, token="made-up") is None


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "ünï"])
def test_bad_names_are_refused(factory: sessionmaker[Session], name: str) -> None:
    with transaction(factory) as session, pytest.raises(Unprocessable, match="agent name"):
        tokens.issue_agent_token(session, name=name or "-")


def test_an_admin_named_like_an_agent_gets_no_agent_token(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        users.create(session, name="agent:root", is_admin=True)
    with transaction(factory) as session, pytest.raises(Conflict, match="admin user"):
        tokens.issue_agent_token(session, name="root")
