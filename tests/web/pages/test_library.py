"""The library page: listing, search, share controls, import upload, export download."""

from __future__ import annotations

import io
import json
import zipfile

from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.store import shares as store
from parley.store.db import transaction
from tests.support.pages import HTML, Browser, Page, share
from tests.web.conftest import Caller, conversation, seed


def test_needs_an_account(client: TestClient, alice: Caller) -> None:
    browser = client.get("/library?q=x", headers=HTML, follow_redirects=False)
    assert (
        browser.status_code == 303 and browser.headers["location"] == "/login?next=/library%3Fq%3Dx"
    )
    assert client.get("/library").status_code == 401
    assert client.get("/library", headers=alice.headers).status_code == 200  # tokens work too


def test_the_front_door_leads_to_the_library_then_to_signing_in(client: TestClient) -> None:
    home = client.get("/", headers=HTML, follow_redirects=False)
    assert home.status_code == 302 and home.headers["location"] == "/library"
    landed = client.get("/", headers=HTML)
    assert landed.status_code == 200 and landed.url.path == "/login"


def test_lists_and_searches_only_your_conversations(
    app: FastAPI, alice: Caller, bob: Caller, alice_browser: Browser
) -> None:
    seed(
        app,
        alice,
        conversation("a1", title="Gardening tips"),
        conversation("a2", title="Tax forms"),
    )
    seed(app, bob, conversation("b1", title="Bob's secret"))
    page = Page(alice_browser.get("/library").text)
    assert "Gardening tips" in page.text and "Tax forms" in page.text
    assert "Bob's secret" not in page.text and "2 conversations" in page.text
    found = Page(alice_browser.get("/library?q=gardening").text)
    assert "Gardening tips" in found.text and "Tax forms" not in found.text
    assert "Nothing in your library matches" in alice_browser.get("/library?q=zebra").text


def test_share_update_and_unshare_from_the_library(
    app: FastAPI, alice: Caller, alice_browser: Browser, bob_browser: Browser
) -> None:
    seed(app, alice, conversation("a1", title="Shareable"))
    shared = alice_browser.post("/library/share", {"conversation_id": "a1", "visibility": "public"})
    assert (
        shared.status_code == 303 and shared.headers["location"] == "/library?done=shared#conv-a1"
    )
    with transaction(app.state.runtime.factory) as session:
        (mine,) = store.owned(session, owner_id=alice.user_id or "")
    assert mine.visibility == "public"
    page = Page(alice_browser.get("/library?done=shared").text)
    assert page.find("a", href=f"/{mine.id}") and "Shared." in page.text
    # sharing again keeps the link
    again = alice_browser.post(
        "/library/share", {"conversation_id": "a1", "visibility": "unlisted"}
    )
    assert again.status_code == 303
    with transaction(app.state.runtime.factory) as session:
        (same,) = store.owned(session, owner_id=alice.user_id or "")
    assert same.id == mine.id and same.visibility == "unlisted"
    url = f"/library/shares/{mine.id}"
    assert alice_browser.post(f"{url}/update", {"visibility": "secret"}).status_code == 422
    assert bob_browser.post(f"{url}/update", {"visibility": "private"}).status_code == 404
    assert bob_browser.post(f"{url}/delete").status_code == 404
    assert alice_browser.post(f"{url}/update", {"visibility": "private"}).status_code == 303
    assert alice_browser.post(f"{url}/delete").status_code == 303
    with transaction(app.state.runtime.factory) as session:
        assert store.get(session, share_id=mine.id) is None
    assert bob_browser.post("/library/share", {"conversation_id": "a1"}).status_code == 404


def test_export_downloads_a_zip(app: FastAPI, alice: Caller, alice_browser: Browser) -> None:
    seed(app, alice, conversation("a1", title="Exported"))
    answer = alice_browser.get("/library/export?format=json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert "attachment" in answer.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        (item,) = json.loads(archive.read("conversations.json"))
    assert item["id"] == "a1" and item["title"] == "Exported"
    markdown = alice_browser.get("/library/export?format=markdown")
    with zipfile.ZipFile(io.BytesIO(markdown.content)) as archive:
        (name,) = archive.namelist()
        assert name.startswith("conversations/") and b"# Exported" in archive.read(name)
    assert alice_browser.get("/library/export?format=pdf").status_code == 400


def test_import_upload_form(app: FastAPI, alice_browser: Browser) -> None:
    body = json.dumps([conversation("up1", title="Uploaded")]).encode()
    files = {"file": ("conversations.json", body, "application/json")}
    client = alice_browser.client
    refused = client.post("/library/import", files=files, headers=HTML, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token
    answer = client.post(
        f"/library/import?csrf_token={alice_browser.csrf}",
        files=files,
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/library?done=imported&job=")
    from parley.jobs import wait

    assert wait(location.split("job=")[1], timeout=30)
    page = Page(alice_browser.get(location).text)
    assert "Import done" in page.text and "Uploaded" in page.text


def test_saved_and_shared_lists(
    app: FastAPI, alice: Caller, bob: Caller, bob_browser: Browser
) -> None:
    made = share(app, alice, "a1", "public", title="Worth saving")
    share(app, bob, "b1", "unlisted", title="Bob's own")
    bob_browser.post(f"/c/{made.id}/save", {"saved": "1"})
    page = bob_browser.get("/library").text
    saved_part = page.split("<h2>Saved</h2>")[1]
    shares_part = page.split("<h2>Your shares</h2>")[1].split("<h2>Saved</h2>")[0]
    assert "Worth saving" in saved_part and "Bob&#39;s own" in shares_part
