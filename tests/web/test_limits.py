"""Body size limits: 413 with the limit in the message, declared or streamed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parley.config import Settings
from parley.web.app import create_app
from parley.web.limits import too_large
from tests.web.conftest import ADMIN_KEY

LIMIT = 1024


@pytest.fixture
def small(web_settings: Settings) -> Iterator[TestClient]:
    app: FastAPI = create_app(web_settings.model_copy(update={"max_body_bytes": LIMIT}))
    with TestClient(app) as client:
        yield client
    app.state.runtime.close()


def chunks(total: int, size: int = 256) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


def test_a_declared_length_over_the_limit_is_413(small: TestClient) -> None:
    body = b'{"admin_key": "%s", "name": "%s"}' % (ADMIN_KEY.encode(), b"n" * 2000)
    response = small.post(
        "/admin/users/add", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": too_large(LIMIT)}
    assert "1.0 KB (1024 bytes)" in response.json()["detail"]


def test_a_chunked_body_over_the_limit_is_413(small: TestClient) -> None:
    response = small.post(
        "/admin/users/add",
        content=chunks(LIMIT * 4),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert response.json() == {"detail": too_large(LIMIT)}


def test_a_chunked_form_over_the_limit_is_413(small: TestClient) -> None:
    response = small.post(
        "/admin/users/add",
        content=chunks(LIMIT * 4),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_bodies_under_the_limit_pass(small: TestClient) -> None:
    response = small.post("/admin/users/add", json={"admin_key": ADMIN_KEY, "name": "fits"})
    assert response.status_code == 200
    streamed = small.post(
        "/admin/users/add",
        content=iter([b'{"admin_key": "', ADMIN_KEY.encode(), b'", "name": "streamed"}']),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 200
