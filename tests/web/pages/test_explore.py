"""The explore page: public shares only, new/top/trending, search, pages of 50."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.store import shares as store
from parley.store.db import transaction
from tests.support.pages import HTML, Page, share
from tests.web.conftest import Caller


def titles(client: TestClient, query: str = "") -> list[str]:
    answer = client.get(f"/explore{query}", headers=HTML)
    assert answer.status_code == 200
    return [
        " ".join(chunk.split())
        for chunk in answer.text.split('<span class="card-title">')[1:]
        for chunk in [chunk.split("</span>")[0]]
    ]


def test_only_public_shares_are_listed(app: FastAPI, client: TestClient, alice: Caller) -> None:
    share(app, alice, "pub", "public", title="Public talk about pythons")
    share(app, alice, "unl", "unlisted", title="Unlisted talk about pythons")
    share(app, alice, "pri", "private", title="Private talk about pythons")
    assert titles(client) == ["Public talk about pythons"]
    assert titles(client, "?search=pythons") == ["Public talk about pythons"]
    assert titles(client, "?type=top&search=talk") == ["Public talk about pythons"]
    assert titles(client, "?search=unlisted") == []
    page = Page(client.get("/explore?search=zebras", headers=HTML).text)
    assert "No public conversation matches “zebras”" in page.text


def test_orders_and_fallbacks(app: FastAPI, client: TestClient, alice: Caller) -> None:
    old = share(app, alice, "old", "public", title="Old", create=1_600_000_000.0)
    new = share(app, alice, "new", "public", title="New", create=1_700_000_000.0)
    with transaction(app.state.runtime.factory) as session:
        store.add_views(session, counts={old.id: 10})
        store.set_fields(session, share_id=new.id, values={"created_at": old.created_at + 1})
    assert titles(client, "?type=new") == ["New", "Old"]
    assert titles(client, "?type=top") == ["Old", "New"]
    assert titles(client, "?type=nonsense") == ["New", "Old"]  # falls back to new
    assert titles(client, "?page=0") == ["New", "Old"]
    assert titles(client, "?type=trending") and titles(client, "?page=2") == []
    assert (
        'class="active" aria-current="page">Top'
        in client.get("/explore?type=top", headers=HTML).text
    )


def test_pages_of_fifty(app: FastAPI, client: TestClient, alice: Caller) -> None:
    for index in range(51):
        share(app, alice, f"c{index:02}", "public", title=f"T{index:02}", create=1e9 + index)
    with transaction(app.state.runtime.factory) as session:
        for index, meta in enumerate(
            store.feed_page(session, kind="new", offset=0, limit=100, now=0)
        ):
            store.set_fields(session, share_id=meta.id, values={"created_at": 2e9 - index})
    first = titles(client)
    assert len(first) == 50
    second = titles(client, "?page=2")
    assert len(second) == 1 and second[0] not in first
    html = client.get("/explore", headers=HTML).text
    assert 'rel="next" href="/explore?type=new&amp;page=2"' in html
    assert 'rel="next"' not in client.get("/explore?page=2", headers=HTML).text
