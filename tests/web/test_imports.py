"""Upload import over HTTP: POST /api/import and GET /api/import/{job_id}."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley import jobs, synth
from parley.config import Settings
from parley.store import conversations, users
from parley.store import jobs as store_jobs
from parley.store.db import transaction
from parley.web.app import create_app
from tests.web.conftest import ADMIN_KEY, Caller

COUNT = 40


@pytest.fixture
def owner(app: FastAPI) -> Caller:
    """The local owner, authenticated with the admin key."""
    with transaction(app.state.runtime.factory) as session:
        return Caller("owner", users.local_owner(session).id, ADMIN_KEY)


@pytest.fixture
def export_zip(tmp_path: Path) -> Path:
    """A real (2026 sharded) export ZIP holding COUNT conversations."""
    items = synth.generate(COUNT, seed=7, edge_cases=False)
    return synth.write_export_zip(
        tmp_path / "chatgpt-export.zip", items, layout="sharded", shard_size=15
    )


def upload(
    client: TestClient,
    caller: Caller,
    name: str,
    content: bytes,
    content_type: str = "application/octet-stream",
) -> Any:
    return client.post(
        "/api/import", headers=caller.headers, files={"file": (name, content, content_type)}
    )


def wait_for_job(client: TestClient, caller: Caller, url: str, timeout: float = 60.0) -> Any:
    """Poll the status URL until the job ends, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url, headers=caller.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["state"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, f"job still {body['state']} after {timeout} s"
        time.sleep(0.02)


def finished(client: TestClient, caller: Caller, accepted: Any) -> Any:
    """The job's final status, read once its thread has ended.

    Only the owner (admin key) polls while an import writes: on SQLite, token auth writes
    ``tokens.last_used_at`` after a read in the same transaction, which fails with
    "database is locked" when an import commits in between (a known issue of the auth path).
    """
    assert jobs.wait(accepted["job_id"], timeout=60), "the import job did not finish in time"
    return wait_for_job(client, caller, accepted["status_url"], timeout=5)


def library_size(app: FastAPI, caller: Caller) -> int:
    assert caller.user_id is not None
    with transaction(app.state.runtime.factory) as session:
        return conversations.count(session, owner_id=caller.user_id)


def uploads_dir(app: FastAPI) -> Path:
    home: Path = app.state.runtime.settings.home
    return home / "uploads"


def leftover_uploads(app: FastAPI) -> list[Path]:
    folder = uploads_dir(app)
    return sorted(folder.iterdir()) if folder.exists() else []


def test_upload_zip_imports_into_the_uploaders_library(
    app: FastAPI,
    client: TestClient,
    owner: Caller,
    alice: Caller,
    export_zip: Path,
) -> None:
    response = upload(client, owner, export_zip.name, export_zip.read_bytes(), "application/zip")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) == {"job_id", "status_url", "state"}
    assert accepted["status_url"] == f"/api/import/{accepted['job_id']}"
    assert accepted["state"] == "queued"

    body = wait_for_job(client, owner, accepted["status_url"])
    assert body["state"] == "done", body["error"]
    assert body["job_id"] == accepted["job_id"] and body["filename"] == export_zip.name
    assert body["error"] is None
    assert body["summary"] == {"imported": COUNT, "updated": 0, "unchanged": 0, "failed": []}
    assert body["conversations_done"] == COUNT
    assert body["bytes_total"] > 0 and body["bytes_done"] == body["bytes_total"]

    assert library_size(app, owner) == COUNT
    assert library_size(app, alice) == 0
    assert client.get(accepted["status_url"], headers=alice.headers).status_code == 404
    assert leftover_uploads(app) == []

    again = upload(client, owner, export_zip.name, export_zip.read_bytes())
    summary = wait_for_job(client, owner, again.json()["status_url"])["summary"]
    assert summary == {"imported": 0, "updated": 0, "unchanged": COUNT, "failed": []}


def test_upload_json_with_a_bad_conversation_lists_it(
    app: FastAPI, client: TestClient, alice: Caller, bob: Caller
) -> None:
    items: list[Any] = list(synth.generate(3, seed=1, edge_cases=False))
    items.append({"id": "no-mapping", "title": "broken"})
    response = upload(client, alice, "conversations.json", orjson.dumps(items), "application/json")
    assert response.status_code == 202, response.text
    body = finished(client, alice, response.json())
    assert body["state"] == "done"
    assert body["summary"]["imported"] == 3
    assert [f["id"] for f in body["summary"]["failed"]] == ["no-mapping"]
    assert library_size(app, alice) == 3
    assert library_size(app, bob) == 0


def test_a_damaged_export_fails_the_job_with_a_clear_error(
    app: FastAPI, client: TestClient, owner: Caller, export_zip: Path
) -> None:
    damaged = export_zip.read_bytes()[:200]  # a ZIP cut short: no central directory
    response = upload(client, owner, "export.zip", damaged, "application/zip")
    assert response.status_code == 202, response.text
    body = wait_for_job(client, owner, response.json()["status_url"])
    assert body["state"] == "failed" and body["summary"] is None
    assert "export.zip" in body["error"] and "download" in body["error"].lower()
    assert library_size(app, owner) == 0
    assert leftover_uploads(app) == []


def test_a_json_object_that_is_not_an_export_fails(client: TestClient, owner: Caller) -> None:
    response = upload(client, owner, "conversations.json", b'{"hello": "world"}')
    body = wait_for_job(client, owner, response.json()["status_url"])
    assert body["state"] == "failed"
    assert "neither a conversation" in body["error"]


def test_only_the_uploader_can_read_the_job(
    client: TestClient, alice: Caller, bob: Caller, anonymous: Caller
) -> None:
    response = upload(client, alice, "c.json", orjson.dumps(list(synth.generate(1, seed=2))))
    url = response.json()["status_url"]
    assert finished(client, alice, response.json())["state"] == "done"
    assert client.get(url, headers=bob.headers).status_code == 404
    assert client.get(url, headers=anonymous.headers).status_code == 401
    assert client.get("/api/import/not-a-job", headers=alice.headers).status_code == 404


def test_upload_needs_a_token(client: TestClient, anonymous: Caller) -> None:
    response = upload(client, anonymous, "c.json", b"[]")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("name", "content", "status", "phrase"),
    [
        ("notes.txt", b"[]", 415, "not a .zip or .json file"),
        ("export.pdf", b"PK\x03\x04", 415, "not a .zip or .json file"),
        ("export.zip", b"%PDF-1.7 not an export", 415, "neither a ZIP nor JSON"),
        ("conversations.json", b"hello, world", 415, "neither a ZIP nor JSON"),
        ("conversations.json", b"", 400, "empty"),
        ("conversations.json", b"  \n ", 400, "empty"),
    ],
)
def test_other_content_is_rejected_before_any_job(
    app: FastAPI,
    client: TestClient,
    alice: Caller,
    name: str,
    content: bytes,
    status: int,
    phrase: str,
) -> None:
    response = upload(client, alice, name, content)
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]
    assert "multipart/form-data" in response.json()["detail"] or status == 400
    assert leftover_uploads(app) == []
    with transaction(app.state.runtime.factory) as session:
        later = time.time() + store_jobs.LEASE_SECONDS + 1  # every unfinished job counts
        assert store_jobs.fail_unfinished(session, error="-", now=later) == []


def test_malformed_requests_are_rejected(client: TestClient, alice: Caller) -> None:
    raw = client.post(
        "/api/import",
        headers={**alice.headers, "Content-Type": "application/zip"},
        content=b"PK\x03\x04",
    )
    assert raw.status_code == 415 and "multipart/form-data" in raw.json()["detail"]

    other_field = client.post(
        "/api/import", headers=alice.headers, files={"upload": ("c.json", b"[]")}
    )
    assert other_field.status_code == 400 and "field named 'file'" in other_field.json()["detail"]

    two_files = client.post(
        "/api/import",
        headers=alice.headers,
        files=[("file", ("a.json", b"[]")), ("file", ("b.json", b"[]"))],
    )
    assert two_files.status_code == 400 and "one export file" in two_files.json()["detail"]

    boundary = "xyz"
    cut = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.json"\r\n\r\n[]'
    ).encode()
    truncated = client.post(
        "/api/import",
        headers={**alice.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=cut,
    )
    assert truncated.status_code == 400


@pytest.fixture
def small_app(web_settings: Settings) -> Iterator[FastAPI]:
    app = create_app(web_settings.model_copy(update={"max_upload_bytes": 64 * 1024}))
    yield app
    app.state.runtime.close()


def test_uploads_over_the_limit_are_413(small_app: FastAPI) -> None:
    from tests.web.conftest import make_caller

    alice = make_caller(small_app, "alice")
    big = b"[" + b" " * 100_000 + b"]"
    with TestClient(small_app) as client:
        declared = upload(client, alice, "c.json", big)
        assert declared.status_code == 413
        assert "64.0 KB" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="c.json"\r\n\r\n['
            for _ in range(100):
                yield b" " * 1000
            yield b"]\r\n--b--\r\n"

        streamed = client.post(
            "/api/import",
            headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=b"},
            content=chunks(),
        )
        assert streamed.status_code == 413

        small = upload(client, alice, "c.json", b"[]")
        assert small.status_code == 202
        assert finished(client, alice, small.json())["state"] == "done"
    assert leftover_uploads(small_app) == []


def test_a_new_server_process_fails_the_jobs_whose_process_is_gone(
    app: FastAPI, web_settings: Settings, alice: Caller
) -> None:
    assert alice.user_id is not None
    lapsed = time.time() - store_jobs.LEASE_SECONDS - 1  # their process stopped renewing
    with transaction(app.state.runtime.factory) as session:
        running = store_jobs.create(session, owner_id=alice.user_id, filename="big.zip")
        store_jobs.start(session, job_id=running.id, bytes_total=10**9)
        queued = store_jobs.create(session, owner_id=alice.user_id, filename="next.zip")
        store_jobs.renew(session, job_ids=[running.id, queued.id], now=lapsed)
        alive = store_jobs.create(session, owner_id=alice.user_id, filename="live.zip")
        store_jobs.start(session, job_id=alive.id, bytes_total=10)  # another process's, leased
    leftover = jobs.upload_folder(uploads_dir(app), running.id)
    leftover.mkdir(parents=True)
    (leftover / "big.zip").write_bytes(b"PK\x03\x04")
    busy = jobs.upload_folder(uploads_dir(app), alive.id)
    busy.mkdir(parents=True)
    (busy / "live.zip").write_bytes(b"PK\x03\x04")

    restarted = create_app(web_settings)  # a new server process on the same library
    try:
        with TestClient(restarted) as client:
            body = client.get(f"/api/import/{alive.id}", headers=alice.headers).json()
            assert body["state"] == "running" and busy.exists()
            for job in (running, queued):
                body = client.get(f"/api/import/{job.id}", headers=alice.headers).json()
                assert body["state"] == "failed" and body["summary"] is None
                assert body["error"] == jobs.INTERRUPTED
                assert "upload again" in body["error"] and "re-importing is safe" in body["error"]
    finally:
        restarted.state.runtime.close()
    assert not leftover.exists()
