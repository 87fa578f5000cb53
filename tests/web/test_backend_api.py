"""The ChatGPT backend-api: list paging as the export tools do it, 422 shapes, one, PATCH."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from parley.store import conversations
from parley.store.db import transaction
from tests.web.conftest import Caller, conversation, seed

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
LIST = "/backend-api/conversations"
ITEM_KEYS = {
    "id",
    "title",
    "create_time",
    "update_time",
    "mapping",
    "current_node",
    "conversation_template_id",
    "gizmo_id",
    "is_archived",
    "is_starred",
    "is_unread",
    "default_model_slug",
    "conversation_origin",
    "snippet",
    "workspace_id",
    "async_status",
    "safe_urls",
}


def many(n: int) -> list[dict[str, Any]]:
    # groups of three share an update_time, so paging must break ties stably
    return [
        conversation(f"c-{i:04d}", create=1_700_000_000.0 + i, update=1_700_100_000.0 + i // 3)
        for i in range(n)
    ]


def test_the_heatmap_paging_loop_gets_every_conversation_once(
    client: TestClient, app: FastAPI, alice: Caller
) -> None:
    seed(app, alice, *many(250))
    seen: list[str] = []
    offset, limit, pages = 0, 100, 0
    while True:
        response = client.get(
            LIST, params={"offset": offset, "limit": limit}, headers=alice.headers
        )
        assert response.status_code == 200
        page = response.json()
        pages += 1
        assert page["total"] == 250 and page["limit"] == limit and page["offset"] == offset
        assert page["has_missing_conversations"] is False
        seen += [item["id"] for item in page["items"]]
        if len(page["items"]) < limit or offset + limit >= page["total"]:
            break
        offset += limit
    assert pages == 3
    assert len(seen) == len(set(seen)) == 250


def test_items_have_chatgpt_list_fields(client: TestClient, app: FastAPI, alice: Caller) -> None:
    seed(app, alice, conversation("c1", title="Hi", create=1_734_853_027.27053))
    body = client.get(LIST, headers=alice.headers).json()
    (item,) = body["items"]
    assert set(item) == ITEM_KEYS
    assert item["create_time"] == "2024-12-22T07:37:07.270530Z"
    assert ISO_Z.match(item["update_time"])
    assert item["mapping"] is None and item["current_node"] is None
    assert item["safe_urls"] == [] and item["is_archived"] is False
    assert item["default_model_slug"] == "gpt-4o"
    assert body["limit"] == 28 and body["offset"] == 0


def test_order_and_archive_filter(client: TestClient, app: FastAPI, alice: Caller) -> None:
    seed(
        app,
        alice,
        conversation("old-updated-late", create=1.0e9, update=3.0e9),
        conversation("new-updated-early", create=2.0e9, update=2.5e9),
    )
    by_update = client.get(LIST, headers=alice.headers).json()["items"]
    by_create = client.get(LIST, params={"order": "created"}, headers=alice.headers).json()
    assert [i["id"] for i in by_update] == ["old-updated-late", "new-updated-early"]
    assert [i["id"] for i in by_create["items"]] == ["new-updated-early", "old-updated-late"]
    patch = client.patch(
        "/backend-api/conversation/new-updated-early",
        json={"is_archived": True},
        headers=alice.headers,
    )
    assert patch.json() == {"success": True}
    archived = client.get(LIST, params={"is_archived": "true"}, headers=alice.headers).json()
    assert [i["id"] for i in archived["items"]] == ["new-updated-early"] and archived["total"] == 1
    live = client.get(LIST, params={"is_archived": "false"}, headers=alice.headers).json()
    assert [i["id"] for i in live["items"]] == ["old-updated-late"]
    both = client.get(LIST, params={"is_archived": ""}, headers=alice.headers).json()
    assert both["total"] == 2


def test_limit_over_100_is_the_seed_422(client: TestClient, alice: Caller) -> None:
    response = client.get(LIST, params={"offset": 0, "limit": 101}, headers=alice.headers)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["query", "limit"],
                "msg": "ensure this value is less than or equal to 100",
                "type": "value_error.number.not_le",
                "ctx": {"limit_value": 100},
            }
        ]
    }


@pytest.mark.parametrize(
    ("params", "entry"),
    [
        (
            {"offset": "-1"},
            {
                "loc": ["query", "offset"],
                "msg": "ensure this value is greater than or equal to 0",
                "type": "value_error.number.not_ge",
                "ctx": {"limit_value": 0},
            },
        ),
        (
            {"limit": "0"},
            {
                "loc": ["query", "limit"],
                "msg": "ensure this value is greater than or equal to 1",
                "type": "value_error.number.not_ge",
                "ctx": {"limit_value": 1},
            },
        ),
        (
            {"limit": "ten"},
            {
                "loc": ["query", "limit"],
                "msg": "value is not a valid integer",
                "type": "type_error.integer",
            },
        ),
        (
            {"offset": "1.5"},
            {
                "loc": ["query", "offset"],
                "msg": "value is not a valid integer",
                "type": "type_error.integer",
            },
        ),
        (
            {"is_archived": "maybe"},
            {
                "loc": ["query", "is_archived"],
                "msg": "value could not be parsed to a boolean",
                "type": "type_error.bool",
            },
        ),
        (
            {"order": "title"},
            {
                "loc": ["query", "order"],
                "msg": "value is not a valid enumeration member; permitted: 'updated', 'created'",
                "type": "type_error.enum",
                "ctx": {"enum_values": ["updated", "created"]},
            },
        ),
    ],
)
def test_bad_query_values_are_pydantic_v1_422s(
    client: TestClient, alice: Caller, params: dict[str, str], entry: dict[str, Any]
) -> None:
    response = client.get(LIST, params=params, headers=alice.headers)
    assert response.status_code == 422
    assert response.json() == {"detail": [entry]}


def test_every_bad_value_is_reported(client: TestClient, alice: Caller) -> None:
    response = client.get(LIST, params={"offset": "-5", "limit": "500"}, headers=alice.headers)
    assert [e["loc"] for e in response.json()["detail"]] == [
        ["query", "offset"],
        ["query", "limit"],
    ]


@pytest.fixture
def statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    runtime = app.state.runtime
    event.listen(runtime.engine, "before_cursor_execute", record)
    runtime.reader.observe = seen.append  # the reads that bypass SQLAlchemy's events
    yield seen
    runtime.reader.observe = None
    event.remove(runtime.engine, "before_cursor_execute", record)


@pytest.mark.parametrize("limit", [5, 100])
def test_a_page_is_two_queries_whatever_its_size(
    client: TestClient, app: FastAPI, alice: Caller, statements: list[str], limit: int
) -> None:
    seed(app, alice, *many(120))
    client.get(LIST, params={"limit": 1}, headers=alice.headers)  # authenticate once, warm up
    statements.clear()
    page = client.get(LIST, params={"limit": limit}, headers=alice.headers).json()
    assert len(page["items"]) == limit
    assert page["total"] == 120
    touching = [s for s in statements if "conversation" in s or "messages" in s]
    assert len(touching) == 2, touching  # the page, and the total from conversation_counts
    assert any("conversation_counts" in s for s in touching)


def test_one_conversation_is_the_export_shape(
    client: TestClient, app: FastAPI, alice: Caller
) -> None:
    original = conversation("c1", branched=True)
    seed(app, alice, original)
    response = client.get("/backend-api/conversation/c1", headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == body["conversation_id"] == "c1"
    assert body["mapping"] == original["mapping"]
    assert body["current_node"] == "a2b"
    assert body["create_time"] == original["create_time"]


def test_other_users_conversations_are_404(
    client: TestClient, app: FastAPI, alice: Caller, bob: Caller
) -> None:
    seed(app, alice, conversation("secret"))
    missing = client.get("/backend-api/conversation/nothing-here", headers=bob.headers)
    foreign = client.get("/backend-api/conversation/secret", headers=bob.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"] == missing.json()["detail"].replace("nothing-here", "secret")
    assert client.get(LIST, headers=bob.headers).json()["total"] == 0
    change = client.patch(
        "/backend-api/conversation/secret", json={"title": "x"}, headers=bob.headers
    )
    assert change.status_code == 404


def get_one(client: TestClient, caller: Caller, cid: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(
        f"/backend-api/conversation/{cid}", headers=caller.headers
    ).json()
    return body


def test_patch_title_star_archive(client: TestClient, app: FastAPI, alice: Caller) -> None:
    seed(app, alice, conversation("c1"))
    url = "/backend-api/conversation/c1"
    assert client.patch(url, json={"title": "Renamed"}, headers=alice.headers).json() == {
        "success": True
    }
    assert client.patch(url, json={"is_starred": True}, headers=alice.headers).status_code == 200
    assert client.patch(url, data={"is_archived": "true"}, headers=alice.headers).status_code == 200
    body = get_one(client, alice, "c1")
    assert (body["title"], body["is_starred"], body["is_archived"]) == ("Renamed", True, True)
    (item,) = client.get(LIST, headers=alice.headers).json()["items"]
    assert (item["title"], item["is_starred"], item["is_archived"]) == ("Renamed", True, True)


def test_patch_is_visible_false_deletes(client: TestClient, app: FastAPI, alice: Caller) -> None:
    seed(app, alice, conversation("c1"), conversation("c2"))
    response = client.patch(
        "/backend-api/conversation/c1", json={"is_visible": False}, headers=alice.headers
    )
    assert response.json() == {"success": True}
    assert client.get("/backend-api/conversation/c1", headers=alice.headers).status_code == 404
    with transaction(app.state.runtime.factory) as session:
        assert conversations.count(session, owner_id=alice.user_id or "") == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"colour": "red"}, "unknown field"),
        ({}, "nothing to change"),
        ({"is_archived": "maybe"}, "is_archived"),
        ({"is_starred": 1}, "is_starred"),
        ({"title": 5}, "title"),
        ({"title": "ok", "mapping": {}}, "mapping"),
    ],
)
def test_patch_rejects_unknown_keys_and_wrong_types(
    client: TestClient, app: FastAPI, alice: Caller, body: dict[str, Any], fragment: str
) -> None:
    seed(app, alice, conversation("c1"))
    response = client.patch("/backend-api/conversation/c1", json=body, headers=alice.headers)
    assert response.status_code == 422
    assert fragment in response.json()["detail"]
    assert get_one(client, alice, "c1")["title"] == "Hello"


def test_routes_need_a_token(client: TestClient) -> None:
    for response in (
        client.get(LIST),
        client.get("/backend-api/conversation/c1"),
        client.patch("/backend-api/conversation/c1", json={"title": "x"}),
        client.get(LIST, headers={"Authorization": "Bearer not-a-token"}),
    ):
        assert response.status_code == 401
        assert isinstance(response.json()["detail"], str)
