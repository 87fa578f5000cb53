"""Web fixtures: an app on the test store, a client, and users with tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.config import Settings
from parley.store import conversations, users
from parley.store.db import transaction
from parley.store.rows import explode
from parley.web.app import create_app

ADMIN_KEY = "test-admin-key-0123456789"


@dataclass(frozen=True)
class Caller:
    name: str
    user_id: str | None
    token: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@pytest.fixture
def web_settings(tmp_path: Path, store_url: str) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=store_url,
        admin_key=ADMIN_KEY,
        rate_read="100000/minute",
    )


@pytest.fixture
def app(web_settings: Settings) -> Iterator[FastAPI]:
    app = create_app(web_settings)
    yield app
    app.state.runtime.close()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def make_caller(app: FastAPI, name: str, *, is_admin: bool = False) -> Caller:
    with transaction(app.state.runtime.factory) as session:
        user = users.create(session, name=name, is_admin=is_admin)
        token = users.issue_token(session, user_id=user.id)
    return Caller(name, user.id, token)


@pytest.fixture
def alice(app: FastAPI) -> Caller:
    return make_caller(app, "alice")


@pytest.fixture
def bob(app: FastAPI) -> Caller:
    return make_caller(app, "bob")


@pytest.fixture
def admin(app: FastAPI) -> Caller:
    return make_caller(app, "root", is_admin=True)


@pytest.fixture
def anonymous() -> Caller:
    return Caller("anonymous", None, None)


def conversation(
    cid: str,
    *,
    title: str | None = "Hello",
    create: float = 1_700_000_000.0,
    update: float | None = None,
    branched: bool = False,
) -> dict[str, Any]:
    """An export-shape conversation: root -> hidden system -> user -> assistant.

    With ``branched``, the first answer has two follow-ups: an old edit listed FIRST in
    ``children`` and the current one (``current_node``) second, so ``children[0]`` walks
    the wrong branch.
    """

    def node(node_id: str, parent: str | None, kids: list[str], message: Any) -> dict[str, Any]:
        return {"id": node_id, "parent": parent, "children": kids, "message": message}

    def msg(node_id: str, role: str, text: str, at: float, **extra: Any) -> dict[str, Any]:
        return {
            "id": node_id,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": at,
            "content": {"content_type": "text", "parts": [text]},
            "recipient": "all",
            "end_turn": role == "assistant" or None,
            "metadata": extra,
        }

    t = create
    mapping = {
        "root": node("root", None, ["sys"], None),
        "sys": node("sys", "root", ["u1"], msg("sys", "system", "", t)),
        "u1": node("u1", "sys", ["a1"], msg("u1", "user", "first question", t + 1)),
        "a1": node(
            "a1",
            "u1",
            [],
            msg(
                "a1",
                "assistant",
                "first answer",
                t + 2,
                model_slug="gpt-4o",
                finish_details={"type": "stop"},
            ),
        ),
    }
    current = "a1"
    if branched:
        mapping["a1"]["children"] = ["u2a", "u2b"]
        mapping["u2a"] = node("u2a", "a1", ["a2a"], msg("u2a", "user", "old edit", t + 3))
        mapping["a2a"] = node("a2a", "u2a", [], msg("a2a", "assistant", "old answer", t + 4))
        mapping["u2b"] = node("u2b", "a1", ["a2b"], msg("u2b", "user", "edited question", t + 5))
        mapping["a2b"] = node(
            "a2b",
            "u2b",
            [],
            msg(
                "a2b",
                "assistant",
                "new answer",
                t + 6,
                model_slug="gpt-4o",
                finish_details={"type": "stop"},
                citations=[{"url": "https://example.org"}],
            ),
        )
        current = "a2b"
    return {
        "id": cid,
        "title": title,
        "create_time": create,
        "update_time": update if update is not None else create + 10,
        "current_node": current,
        "default_model_slug": "gpt-4o",
        "mapping": mapping,
    }


def seed(app: FastAPI, caller: Caller, *items: dict[str, Any]) -> None:
    """Store conversations in the caller's library."""
    assert caller.user_id is not None
    exploded = [explode(item) for item in items]
    with transaction(app.state.runtime.factory) as session:
        conversations.save_many(session, owner_id=caller.user_id, items=exploded)


@pytest.fixture
def alice_browser(app: FastAPI, alice: Caller) -> Iterator[Any]:
    """A client signed in as alice by the session cookie (tests.support.pages.Browser)."""
    from tests.support.pages import sign_in

    browser = sign_in(app, alice)
    yield browser
    browser.client.close()


@pytest.fixture
def bob_browser(app: FastAPI, bob: Caller) -> Iterator[Any]:
    """A client signed in as bob by the session cookie (tests.support.pages.Browser)."""
    from tests.support.pages import sign_in

    browser = sign_in(app, bob)
    yield browser
    browser.client.close()
