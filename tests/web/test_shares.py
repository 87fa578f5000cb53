"""Sharing over JSON: same link on re-share, partial shares, deletes, privacy, comments, saves."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.config import Settings
from parley.store import shares
from parley.store.db import transaction
from parley.web.app import create_app
from tests.web.conftest import Caller, conversation, make_caller, seed


def share(client: TestClient, caller: Caller, **body: Any) -> Any:
    return client.post("/api/shares", json=body, headers=caller.headers)


def test_sharing_again_keeps_the_link(client: TestClient, app: FastAPI, alice: Caller) -> None:
    seed(app, alice, conversation("c1", title="Branches", branched=True))
    first = share(client, alice, conversation_id="c1")
    assert first.status_code == 200
    made = first.json()
    assert set(made) == {"id", "url", "visibility"} and made["visibility"] == "unlisted"
    shown = client.get(f"/api/shares/{made['id']}").json()
    assert shown["leaf"] == "a2b" and shown["share"]["title"] == "Branches"
    again = share(client, alice, conversation_id="c1", node_id="a1", visibility="public").json()
    assert again == {"id": made["id"], "url": made["url"], "visibility": "public"}
    assert client.get(f"/api/shares/{made['id']}").json()["leaf"] == "a1"
    mine = client.get("/api/shares/mine", headers=alice.headers).json()
    assert [(m["id"], m["conversation_id"], m["visibility"]) for m in mine] == [
        (made["id"], "c1", "public")
    ]


def test_share_up_to_a_node_shows_nothing_after_it(
    client: TestClient, app: FastAPI, alice: Caller
) -> None:
    seed(app, alice, conversation("c1", branched=True))
    made = share(client, alice, conversation_id="c1", node_id="u1").json()
    shown = client.get(f"/api/shares/{made['id']}")
    assert set(shown.json()["conversation"]["mapping"]) == {"root", "sys", "u1"}
    for later in ("first answer", "old edit", "new answer"):
        assert later not in shown.text
    assert share(client, alice, conversation_id="c1", node_id="zz").status_code == 404


def test_a_share_shows_its_branches(client: TestClient, app: FastAPI, alice: Caller) -> None:
    data = conversation("c1", branched=True)
    seed(app, alice, data)
    made = share(client, alice, conversation_id="c1").json()
    mapping = client.get(f"/api/shares/{made['id']}").json()["conversation"]["mapping"]
    assert {"u2a", "a2a", "u2b", "a2b"} <= set(mapping)  # the old edit is still there


def test_owner_changes_and_deletes_at_any_time(
    client: TestClient, app: FastAPI, alice: Caller, bob: Caller
) -> None:
    seed(app, alice, conversation("c1"))
    made = share(client, alice, conversation_id="c1", visibility="public").json()
    url = f"/api/shares/{made['id']}"
    bobs = client.patch(url, json={"visibility": "private"}, headers=bob.headers)
    assert bobs.status_code == 404
    changed = client.patch(url, json={"title": "Renamed"}, headers=alice.headers).json()
    assert (changed["title"], changed["visibility"], changed["is_owner"]) == (
        "Renamed",
        "public",
        True,
    )
    refused = client.delete(url, headers=bob.headers)
    assert refused.status_code == 403 and set(refused.json()) == {"detail"}
    assert client.get(url).status_code == 200
    assert client.delete(url, headers=alice.headers).status_code == 204
    assert client.get(url).status_code == 404
    assert client.get("/conversations", headers=alice.headers).json()[0]["id"] == "c1"
    again = share(client, alice, conversation_id="c1").json()  # a new link after a delete
    assert again["id"] != made["id"]


def test_manage_token_is_required_to_delete_an_anonymous_post(
    client: TestClient, bob: Caller
) -> None:
    body = {"items": [{"from": "human", "value": "oops, my address"}], "visibility": "public"}
    first = client.post("/api/conversations", json=body).json()
    second = client.post("/api/conversations", json=body).json()
    url = f"/api/shares/{first['id']}"
    assert client.delete(url).status_code == 403
    assert client.delete(url, headers={"X-Manage-Token": second["manage_token"]}).status_code == 403
    assert client.delete(url, headers=bob.headers).status_code == 403
    assert client.delete(url, headers={"X-Manage-Token": first["manage_token"]}).status_code == 204
    assert client.get(url).status_code == 404
    by_query = client.delete(
        f"/api/shares/{second['id']}", params={"manage_token": second["manage_token"]}
    )
    assert by_query.status_code == 204
    assert client.get("/api/conversations").json() == []


def test_admins_can_take_any_share_down(
    client: TestClient, app: FastAPI, alice: Caller, admin: Caller
) -> None:
    seed(app, alice, conversation("c1"))
    made = share(client, alice, conversation_id="c1", visibility="public").json()
    report = client.post(f"/api/shares/{made['id']}/report", json={"reason": "leaks a phone"})
    assert report.status_code == 201
    listed = client.get("/api/reports", headers=admin.headers).json()
    assert [(r["share_id"], r["reason"]) for r in listed] == [(made["id"], "leaks a phone")]
    assert client.get("/api/reports", headers=alice.headers).json() == []
    assert client.delete(f"/api/shares/{made['id']}", headers=admin.headers).status_code == 204


def test_a_private_share_is_404_for_everyone_else(
    client: TestClient, app: FastAPI, alice: Caller, bob: Caller, admin: Caller
) -> None:
    seed(app, alice, conversation("c1", title="Quokka diary"))
    made = share(client, alice, conversation_id="c1", visibility="private").json()
    url = f"/api/shares/{made['id']}"
    assert client.get(url, headers=alice.headers).status_code == 200
    for caller in (None, bob, admin):
        headers = caller.headers if caller else {}
        for method, path, body in (
            ("GET", url, None),
            ("GET", f"{url}/comments", None),
            ("PUT", f"{url}/save", None),
            ("POST", f"{url}/comments", {"node_id": "u1", "body": "hi"}),
            ("POST", f"{url}/report", {"reason": "x"}),
        ):
            response = client.request(method, path, json=body, headers=headers)
            needs_account = method == "PUT" or (path.endswith("/comments") and method == "POST")
            expected = 401 if caller is None and needs_account else 404
            assert response.status_code == expected, (caller, method, path)
            assert "Quokka" not in response.text
        feed = client.get("/api/conversations", params={"search": "quokka"}, headers=headers)
        assert feed.json() == []
        saves = client.get("/api/saves", headers=headers)
        assert "Quokka" not in saves.text


def test_comments_over_json(client: TestClient, app: FastAPI, alice: Caller, bob: Caller) -> None:
    seed(app, alice, conversation("c1"))
    made = share(client, alice, conversation_id="c1", visibility="unlisted").json()
    url = f"/api/shares/{made['id']}/comments"
    posted = client.post(url, json={"node_id": "a1", "body": "Great answer"}, headers=bob.headers)
    assert posted.status_code == 201
    note = posted.json()
    assert (note["author"], note["node_id"], note["body"], note["edited_at"]) == (
        "bob",
        "a1",
        "Great answer",
        None,
    )
    own = client.post(url, json={"node_id": "u1", "body": "thanks"}, headers=alice.headers).json()
    assert (
        client.post(url, json={"node_id": "a1", "body": ""}, headers=bob.headers).status_code == 422
    )
    assert (
        client.post(url, json={"node_id": "x", "body": "?"}, headers=bob.headers).status_code == 404
    )
    assert [c["id"] for c in client.get(url).json()] == [note["id"], own["id"]]
    path = f"/api/comments/{note['id']}"
    assert client.patch(path, json={"body": "hijack"}, headers=alice.headers).status_code == 404
    edited = client.patch(path, json={"body": "Great answer!"}, headers=bob.headers).json()
    assert edited["body"] == "Great answer!" and edited["edited_at"]
    own_path = f"/api/comments/{own['id']}"
    assert client.delete(own_path, headers=bob.headers).status_code == 404
    assert client.delete(path, headers=alice.headers).status_code == 204  # the share's owner
    assert client.delete(own_path, headers=alice.headers).status_code == 204
    assert client.get(url).json() == []
    assert client.get(f"/api/shares/{made['id']}").json()["share"]["comments"] == 0


def test_saves_over_json(client: TestClient, app: FastAPI, alice: Caller, bob: Caller) -> None:
    seed(app, alice, conversation("c1"))
    made = share(client, alice, conversation_id="c1", visibility="public").json()
    url = f"/api/shares/{made['id']}/save"
    assert client.put(url, headers=bob.headers).json() == {"saved": True}
    assert client.put(url, headers=bob.headers).json() == {"saved": True}
    shown = client.get(f"/api/shares/{made['id']}", headers=bob.headers).json()
    assert shown["saved"] is True and shown["share"]["saves"] == 1
    assert [s["id"] for s in client.get("/api/saves", headers=bob.headers).json()] == [made["id"]]
    assert client.delete(url, headers=bob.headers).json() == {"saved": False}
    assert client.get("/api/saves", headers=bob.headers).json() == []
    assert client.get("/api/conversations?type=new").json()[0]["saves"] == 0


def test_buffered_views_are_written_when_the_server_stops(web_settings: Settings) -> None:
    app = create_app(web_settings)
    with TestClient(app) as client:
        owner = make_caller(app, "viewer-owner")
        seed(app, owner, conversation("c1"))
        made = share(client, owner, conversation_id="c1", visibility="public").json()
        for visitor in ("a", "b", "a"):
            app.state.runtime.views.record(made["id"], visitor)
        with transaction(app.state.runtime.factory) as session:
            assert shares.get(session, share_id=made["id"]).views == 0  # type: ignore[union-attr]
    with transaction(app.state.runtime.factory) as session:
        assert shares.get(session, share_id=made["id"]).views == 2  # type: ignore[union-attr]
    app.state.runtime.close()
