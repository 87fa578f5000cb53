"""Page-test helpers: browsers signed in by cookie, shares made through the core, a parser.

The fixtures ``alice_browser`` / ``bob_browser`` (tests/web/conftest.py) use :func:`sign_in`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley import accounts, social
from parley.store.db import transaction
from tests.web.conftest import Caller, conversation, seed

PASSWORD = "correct horse battery"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@dataclass
class Browser:
    """A TestClient that carries one user's session cookie, like a signed-in browser."""

    client: TestClient
    caller: Caller
    csrf: str

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, headers=HTML, follow_redirects=False, **kwargs)

    def post(self, url: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        form = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(url, data=form, headers=HTML, follow_redirects=False, **kwargs)


def set_password(app: FastAPI, caller: Caller) -> None:
    with transaction(app.state.runtime.factory) as session:
        accounts.set_password(session, user_id=caller.user_id or "", password=PASSWORD)


def sign_in(app: FastAPI, caller: Caller) -> Browser:
    """A new client signed in as ``caller`` through the JSON log-in (sets the cookie)."""
    set_password(app, caller)
    client = TestClient(app)
    answer = client.post("/api/auth/login", json={"name": caller.name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return Browser(client, caller, answer.json()["csrf_token"])


def share(
    app: FastAPI, caller: Caller, cid: str = "c1", visibility: str = "unlisted", **kw: Any
) -> social.Share:
    """Seed a branched conversation ``cid`` for ``caller`` and share it."""
    seed(app, caller, conversation(cid, branched=True, **kw))
    with transaction(app.state.runtime.factory) as session:
        return social.share_conversation(
            session,
            owner_id=caller.user_id or "",
            conversation_id=cid,
            visibility=visibility,  # type: ignore[arg-type]
        )


class Page(HTMLParser):
    """Tags, attributes and text of a page, parsed as a browser would tokenize it."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.chunks))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            found
            for name, found in self.tags
            if name == tag and all(found.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def meta(self, key: str) -> str | None:
        for name, attrs in self.tags:
            if name == "meta" and key in (attrs.get("property"), attrs.get("name")):
                return attrs.get("content")
        return None
