"""Accounts: argon2 passwords, sessions with CSRF secrets, one-time login links."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from parley import accounts
from parley.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from parley.store import accounts as store
from parley.store import users
from parley.store.db import transaction
from parley.store.tables import login_links, web_sessions


def test_signup_hashes_the_password_with_argon2(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        user = accounts.signup(session, name="dana", password="correct horse", allowed=True)
        stored = store.password_hash(session, user_id=user.id)
    assert not user.is_admin
    assert stored is not None and stored.startswith("$argon2id$") and "correct" not in stored
    with transaction(factory) as session:
        assert accounts.authenticate(session, name="dana", password="correct horse") == user


def test_wrong_name_or_password_is_one_message(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        accounts.signup(session, name="dana", password="correct horse", allowed=True)
        users.create(session, name="tokens-only")  # an account without a password
    messages = set()
    for name, password in (
        ("dana", "wrong horse"),
        ("nobody", "correct horse"),
        ("tokens-only", "anything at all"),
    ):
        with transaction(factory) as session, pytest.raises(Unauthorized) as error:
            accounts.authenticate(session, name=name, password=password)
        messages.add(error.value.detail)
    assert messages == {"wrong name or password"}


def test_signup_rules(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session, pytest.raises(Forbidden):
        accounts.signup(session, name="eve", password="long enough", allowed=False)
    bad = [
        ("", "long enough"),
        ("a b", "long enough"),
        ("-x", "long enough"),
        ("x" * 65, "long enough"),
        ("sharegpt-anonymous", "long enough"),
        ("eve", "short"),
        ("eve", "x" * (accounts.MAX_PASSWORD + 1)),
    ]
    for name, password in bad:
        with transaction(factory) as session, pytest.raises(Unprocessable):
            accounts.signup(session, name=name, password=password, allowed=True)
    with transaction(factory) as session:
        accounts.signup(session, name="eve.2_x-y", password="long enough", allowed=True)
    with transaction(factory) as session, pytest.raises(Conflict):
        accounts.signup(session, name="eve.2_x-y", password="long enough", allowed=True)


def test_sessions_are_hashed_expire_and_close(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        user = accounts.signup(session, name="dana", password="correct horse", allowed=True)
        signed = accounts.open_session(session, user=user, ttl_seconds=60, now=1000.0)
        kept = session.execute(select(web_sessions.c.token_hash)).scalars().all()
    assert kept == [accounts.digest(signed.token)]  # never the token itself
    with transaction(factory) as session:
        found = accounts.session_user(session, token=signed.token, now=1059.0)
        assert found is not None and found.user == user
        assert accounts.csrf_token(found.csrf_secret) == signed.csrf_token
        assert accounts.session_user(session, token=signed.token, now=1060.0) is None
        assert accounts.session_user(session, token="forged", now=1001.0) is None
        accounts.close_session(session, token=signed.token)
        assert accounts.session_user(session, token=signed.token, now=1001.0) is None


def test_csrf_tokens_are_per_session_and_checked_exactly() -> None:
    token = accounts.csrf_token("secret-a")
    assert accounts.csrf_ok("secret-a", token)
    assert accounts.csrf_ok("secret-a", f" {token} ")
    assert not accounts.csrf_ok("secret-b", token)
    assert not accounts.csrf_ok(
        "secret-a", token[:-1] + "0" if token[-1] != "0" else token[:-1] + "1"
    )
    assert not accounts.csrf_ok("secret-a", None)
    assert not accounts.csrf_ok("secret-a", "")


def test_login_links_work_once_and_expire(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        user = users.create(session, name="linked")
        token = accounts.issue_login_link(session, user_id=user.id, ttl_seconds=60, now=1000.0)
        late = accounts.issue_login_link(session, user_id=user.id, ttl_seconds=60, now=1000.0)
        stored = session.execute(select(login_links.c.token_hash)).scalars().all()
        with pytest.raises(NotFound):
            accounts.issue_login_link(session, user_id="no-such-user", ttl_seconds=60)
    assert token not in stored and accounts.digest(token) in stored
    with transaction(factory) as session:
        assert accounts.redeem_login_link(session, token=token, now=1010.0) == user
    for used in (token, late, "made-up"):
        with transaction(factory) as session, pytest.raises(NotFound):
            accounts.redeem_login_link(session, token=used, now=1061.0)


def test_set_password_replaces_it(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        user = users.create(session, name="admin-made")
        accounts.set_password(session, user_id=user.id, password="first password")
        accounts.set_password(session, user_id=user.id, password="second password")
    with transaction(factory) as session:
        assert accounts.authenticate(session, name="admin-made", password="second password")
        with pytest.raises(Unauthorized):
            accounts.authenticate(session, name="admin-made", password="first password")
