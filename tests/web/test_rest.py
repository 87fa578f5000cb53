"""The Chat GPT REST API read side: the list, the visible branch's messages, 204 deletes."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import Caller, conversation, seed

ISO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")


def test_list_is_the_seed_shape(client: TestClient, app: FastAPI, alice: Caller) -> None:
    seed(app, alice, conversation("c1", title="Conversation 1", create=1_685_293_988.233528))
    response = client.get("/conversations", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": "c1",
            "title": "Conversation 1",
            "create_time": "2023-05-28T17:13:08.233528+00:00",
            "update_time": "2023-05-28T17:13:18.233528+00:00",
            "mapping": None,
            "current_node": None,
        }
    ]


def test_whole_seconds_drop_the_microseconds_as_the_seed_does(
    client: TestClient, app: FastAPI, alice: Caller
) -> None:
    seed(app, alice, conversation("c1", create=1_685_294_004.0, update=1_685_294_004.0))
    (item,) = client.get("/conversations", headers=alice.headers).json()
    assert item["update_time"] == "2023-05-28T17:13:24+00:00"


def test_list_pages_with_offset_and_limit(client: TestClient, app: FastAPI, alice: Caller) -> None:
    seed(app, alice, *[conversation(f"c{i}", update=1e9 + i) for i in range(5)])
    everything = [c["id"] for c in client.get("/conversations", headers=alice.headers).json()]
    assert everything == ["c4", "c3", "c2", "c1", "c0"]
    page = client.get("/conversations", params={"offset": 1, "limit": 2}, headers=alice.headers)
    assert [c["id"] for c in page.json()] == ["c3", "c2"]
    too_big = client.get("/conversations", params={"limit": 1001}, headers=alice.headers)
    assert too_big.status_code == 422
    assert too_big.json()["detail"][0]["loc"] == ["query", "limit"]


def test_messages_follow_the_visible_branch(
    client: TestClient, app: FastAPI, alice: Caller
) -> None:
    seed(app, alice, conversation("c1", branched=True))
    response = client.get("/conversations/c1/messages", headers=alice.headers)
    assert response.status_code == 200
    messages = response.json()
    # not children[0] (the old edit), and without the hidden system message
    assert [m["message"] for m in messages] == [
        "first question",
        "first answer",
        "edited question",
        "new answer",
    ]
    assert [(m["id"], m["parent_id"]) for m in messages] == [
        ("u1", "sys"),
        ("a1", "u1"),
        ("u2b", "a1"),
        ("a2b", "u2b"),
    ]
    last = messages[-1]
    assert last == {
        "id": "a2b",
        "author": {"role": "assistant", "name": None, "metadata": {}},
        "message": "new answer",
        "conversation_id": "c1",
        "parent_id": "u2b",
        "model": "gpt-4o",
        "finish_details": "stop",
        "end_turn": True,
        "recipient": "all",
        "citations": [{"url": "https://example.org"}],
        "create_time": last["create_time"],
    }
    assert ISO_OFFSET.match(last["create_time"])
    first = messages[0]
    assert (first["model"], first["finish_details"], first["citations"]) == (None, None, [])


def test_delete_one_is_204(client: TestClient, app: FastAPI, alice: Caller) -> None:
    seed(app, alice, conversation("c1"), conversation("c2"))
    response = client.delete("/conversations/c1", headers=alice.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert [c["id"] for c in client.get("/conversations", headers=alice.headers).json()] == ["c2"]
    again = client.delete("/conversations/c1", headers=alice.headers)
    assert again.status_code == 404
    assert "c1" in again.json()["detail"]


def test_delete_all_is_204_and_only_the_callers(
    client: TestClient, app: FastAPI, alice: Caller, bob: Caller
) -> None:
    seed(app, alice, conversation("a1"), conversation("a2"))
    seed(app, bob, conversation("b1"))
    seed(app, alice, conversation("all"))  # an id that looks like the route
    response = client.delete("/conversations/all", headers=alice.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/conversations", headers=alice.headers).json() == []
    assert [c["id"] for c in client.get("/conversations", headers=bob.headers).json()] == ["b1"]


def test_foreign_and_unknown_ids_are_404(
    client: TestClient, app: FastAPI, alice: Caller, bob: Caller
) -> None:
    seed(app, alice, conversation("c1"))
    for url in ("/conversations/c1/messages", "/conversations/nope/messages"):
        response = client.get(url, headers=bob.headers)
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}
    assert client.delete("/conversations/c1", headers=bob.headers).status_code == 404
    assert client.get("/conversations/c1/messages", headers=alice.headers).status_code == 200


def test_routes_need_a_token(client: TestClient) -> None:
    for method, url in (
        ("GET", "/conversations"),
        ("GET", "/conversations/c1/messages"),
        ("DELETE", "/conversations/c1"),
        ("DELETE", "/conversations/all"),
    ):
        response = client.request(method, url)
        assert response.status_code == 401
        assert "Authorization" in response.json()["detail"]
