"""The ChatGPT-API-server admin routes: the seed's shapes, hashed tokens, no echoed keys."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from parley.store import conversations, users
from parley.store.db import transaction
from parley.store.tables import tokens
from tests.web.conftest import ADMIN_KEY, Caller, conversation, seed

WRONG = {"detail": "wrong or missing admin_key"}


def add(client: TestClient, **fields: object) -> dict[str, str]:
    response = client.post("/admin/users/add", json={"admin_key": ADMIN_KEY, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_add_returns_the_seed_shape_and_a_working_token(client: TestClient) -> None:
    body = add(client)
    assert set(body) == {"user_id", "token"}
    me = client.get("/backend-api/conversations", headers={"Authorization": body["token"]})
    assert me.status_code == 200
    listed = client.get("/admin/users", params={"admin_key": ADMIN_KEY}).json()["users"]
    entry = next(u for u in listed if u["user_id"] == body["user_id"])
    assert re.fullmatch(r"user-[0-9a-f]{8}", entry["name"])


def test_add_with_a_name(client: TestClient) -> None:
    body = add(client, name="carol")
    listed = client.get("/admin/users", params={"admin_key": ADMIN_KEY}).json()["users"]
    assert {"user_id": body["user_id"], "name": "carol"}.items() <= listed[-1].items()


def test_add_accepts_form_bodies(client: TestClient) -> None:
    form = client.post("/admin/users/add", data={"admin_key": ADMIN_KEY, "name": "formy"})
    assert form.status_code == 200
    multipart = client.post(
        "/admin/users/add", files={"admin_key": (None, ADMIN_KEY), "name": (None, "multi")}
    )
    assert multipart.status_code == 200
    # curl -d '{...}' sends JSON labelled as a form
    curl = client.post(
        "/admin/users/add",
        content=f'{{"admin_key": "{ADMIN_KEY}", "name": "curly"}}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert curl.status_code == 200
    names = [u["name"] for u in client.get(f"/admin/users?admin_key={ADMIN_KEY}").json()["users"]]
    assert {"formy", "multi", "curly"} <= set(names)


def test_duplicate_name_is_a_conflict(client: TestClient) -> None:
    add(client, name="dup")
    again = client.post("/admin/users/add", json={"admin_key": ADMIN_KEY, "name": "dup"})
    assert again.status_code == 409
    assert "dup" in again.json()["detail"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "must be a JSON object")],
)
def test_bad_json_is_a_400(client: TestClient, content: bytes, fragment: str) -> None:
    response = client.post(
        "/admin/users/add", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def test_name_must_be_a_string(client: TestClient) -> None:
    response = client.post("/admin/users/add", json={"admin_key": ADMIN_KEY, "name": 5})
    assert response.status_code == 422
    assert "name" in response.json()["detail"]


def test_tokens_are_hashed_at_rest(client: TestClient, app: FastAPI) -> None:
    body = add(client, name="hashed")
    with transaction(app.state.runtime.factory) as session:
        rows = session.execute(select(tokens)).mappings().all()
    stored = " ".join(str(value) for row in rows for value in row.values())
    assert body["token"] not in stored
    assert users.hash_token(body["token"]) in stored


def test_list_shows_prefixes_never_tokens(client: TestClient, alice: Caller) -> None:
    response = client.get("/admin/users", params={"admin_key": ADMIN_KEY})
    assert response.status_code == 200
    assert alice.token is not None and alice.token not in response.text
    entry = next(u for u in response.json()["users"] if u["user_id"] == alice.user_id)
    assert entry == {
        "user_id": alice.user_id,
        "name": "alice",
        "token": alice.token[:8] + "…",
        "token_prefixes": [alice.token[:8] + "…"],
        "is_admin": False,
    }


def test_delete_removes_the_user_its_tokens_and_conversations(
    client: TestClient, app: FastAPI, alice: Caller, bob: Caller
) -> None:
    seed(app, alice, conversation("a-1"))
    seed(app, bob, conversation("b-1"))
    response = client.post(
        "/admin/users/delete", json={"admin_key": ADMIN_KEY, "user_id": alice.user_id}
    )
    assert response.status_code == 200
    assert response.json() == {"message": "User deleted"}
    assert client.get("/conversations", headers=alice.headers).status_code == 401
    assert [c["id"] for c in client.get("/conversations", headers=bob.headers).json()] == ["b-1"]
    with transaction(app.state.runtime.factory) as session:
        assert users.by_id(session, user_id=alice.user_id or "") is None
        assert conversations.count(session, owner_id=alice.user_id or "") == 0


def test_delete_accepts_a_form_and_answers_404_for_unknown_ids(
    client: TestClient, alice: Caller
) -> None:
    unknown = client.post("/admin/users/delete", data={"admin_key": ADMIN_KEY, "user_id": "nope"})
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["detail"]
    missing = client.post("/admin/users/delete", data={"admin_key": ADMIN_KEY})
    assert missing.status_code == 422
    ok = client.post("/admin/users/delete", data={"admin_key": ADMIN_KEY, "user_id": alice.user_id})
    assert ok.json() == {"message": "User deleted"}


@pytest.mark.parametrize("key", [None, "", "wrong-key", ADMIN_KEY + "x", ADMIN_KEY.upper()])
def test_wrong_or_missing_key_is_a_401_that_echoes_nothing(
    client: TestClient, alice: Caller, key: str | None
) -> None:
    fields = {} if key is None else {"admin_key": key}
    answers = [
        client.get("/admin/users", params=fields),
        client.post("/admin/users/add", json=fields),
        client.post("/admin/users/add", data=fields),
        client.post("/admin/users/delete", json={**fields, "user_id": alice.user_id}),
    ]
    for response in answers:
        assert response.status_code == 401
        assert response.json() == WRONG
        assert ADMIN_KEY not in response.text
        if key:
            assert key not in response.text


def test_user_tokens_are_not_admin_keys(client: TestClient, alice: Caller, admin: Caller) -> None:
    for caller in (alice, admin):
        as_key = client.get("/admin/users", params={"admin_key": caller.token})
        as_header = client.get("/admin/users", headers=caller.headers)
        assert as_key.status_code == as_header.status_code == 401


def test_the_admin_key_works_as_a_token(client: TestClient) -> None:
    response = client.get("/backend-api/conversations", headers={"Authorization": ADMIN_KEY})
    assert response.status_code == 200


def test_openapi_says_tokens_are_hashed(app: FastAPI) -> None:
    description = app.openapi()["paths"]["/admin/users"]["get"]["description"]
    assert "hash" in description and "…" in description
