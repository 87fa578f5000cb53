"""JSON-or-form bodies: every accepted encoding gives the same dict; bad bodies are clear 400s."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from parley.web import errors
from parley.web.bodies import body_schema, read_body


@pytest.fixture(scope="module")
def echo() -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.post("/echo", openapi_extra=body_schema({"a": {"type": "string"}}, required=("a",)))
    def handler(body: Annotated[dict[str, Any], Depends(read_body)]) -> dict[str, Any]:
        return {
            "got": {
                k: v if isinstance(v, str | int | bool | None) else "?" for k, v in body.items()
            }
        }

    return TestClient(app)


def got(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["got"]


def test_json(echo: TestClient) -> None:
    assert got(echo.post("/echo", json={"a": "1", "n": 2, "b": True})) == {
        "a": "1",
        "n": 2,
        "b": True,
    }


def test_json_with_a_vendor_type_or_no_type(echo: TestClient) -> None:
    vendor = echo.post(
        "/echo", content=b'{"a": "1"}', headers={"Content-Type": "application/vnd.x+json"}
    )
    assert got(vendor) == {"a": "1"}
    bare = echo.post("/echo", content=b'{"a": "1"}', headers={"Content-Type": ""})
    assert got(bare) == {"a": "1"}


def test_urlencoded_form(echo: TestClient) -> None:
    assert got(echo.post("/echo", data={"a": "1", "empty": ""})) == {"a": "1", "empty": ""}


def test_curl_style_json_labelled_as_a_form(echo: TestClient) -> None:
    response = echo.post(
        "/echo",
        content=b'  {"a": "x=y&z"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert got(response) == {"a": "x=y&z"}


def test_multipart_form(echo: TestClient) -> None:
    response = echo.post("/echo", files={"a": (None, "1"), "f": ("f.txt", b"data", "text/plain")})
    assert got(response) == {"a": "1", "f": "?"}


def test_empty_body_is_an_empty_dict(echo: TestClient) -> None:
    assert got(echo.post("/echo")) == {}
    assert (
        got(echo.post("/echo", content=b"  \n", headers={"Content-Type": "application/json"})) == {}
    )


@pytest.mark.parametrize(
    ("content", "content_type", "fragment"),
    [
        (b"{nope", "application/json", "not valid JSON"),
        (b"[1]", "application/json", "must be a JSON object, got an array"),
        (b'"text"', "application/json", "got a string"),
        (b"3", "application/json", "got a number"),
        (b"null", "application/json", "got null"),
        (b"{nope", "application/x-www-form-urlencoded", "not valid JSON"),
        (b"a=\xff", "application/x-www-form-urlencoded", "not valid UTF-8"),
        (b"<a/>", "application/xml", "unsupported content type 'application/xml'"),
    ],
)
def test_bad_bodies_are_400s(
    echo: TestClient, content: bytes, content_type: str, fragment: str
) -> None:
    response = echo.post("/echo", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def test_body_schema_documents_json_and_forms(echo: TestClient) -> None:
    body = echo.get("/openapi.json").json()["paths"]["/echo"]["post"]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    assert body["content"]["application/json"]["schema"]["required"] == ["a"]
