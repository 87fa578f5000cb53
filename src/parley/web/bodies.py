"""Request bodies that may arrive as JSON or as a form, for every dialect that takes them.

Contract of :func:`read_body` (use it as a dependency: ``body = Depends(read_body)``, so
that plain ``def`` handlers get the parsed body):

* ``application/json`` (and ``*+json``, or no content type at all): the body must be a
  JSON object; invalid JSON or any other JSON value is a 400 with a clear detail;
* ``application/x-www-form-urlencoded``: the fields as strings (the last value wins).
  ``curl -d '{"k": "v"}'`` sends JSON under this content type, so a body that starts with
  ``{`` is read as JSON instead, as the seed clients expect;
* ``multipart/form-data``: the fields (files as ``UploadFile``);
* an empty body is ``{}``; any other content type is a 400 naming the accepted ones.

The size limit is enforced by :class:`parley.web.limits.BodyLimit` while the body is read,
so a body read here is never larger than the limit. :func:`body_schema` documents such a
body for OpenAPI under both content types.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Request

from parley.errors import BadRequest

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"request body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"request body must be a JSON object, got {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number"


async def read_body(request: Request) -> dict[str, Any]:
    """The request body as a dict, from JSON or a form (see the module contract)."""
    media = _media_type(request)
    if media == MULTIPART:
        form = await request.form()
        return dict(form.multi_items())
    raw = await request.body()
    if not raw.strip():
        return {}
    if media in ("", JSON) or media.endswith("+json"):
        return _json_object(raw)
    if media == FORM:
        if raw.lstrip().startswith(b"{"):
            return _json_object(raw)
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise BadRequest("form body is not valid UTF-8") from None
        return dict(parse_qsl(text, keep_blank_values=True))
    raise BadRequest(f"unsupported content type {media!r}; send {JSON}, {FORM} or {MULTIPART}")


def body_schema(
    properties: dict[str, dict[str, Any]], *, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``openapi_extra`` documenting an object body accepted as JSON or as a form."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {
        "requestBody": {
            "required": bool(required),
            "content": {
                JSON: {"schema": schema},
                FORM: {"schema": schema},
                MULTIPART: {"schema": schema},
            },
        }
    }


def query_schema(parameters: dict[str, str]) -> dict[str, Any]:
    """``openapi_extra`` documenting optional string query parameters (name -> description)
    that the route reads from ``request.query_params`` itself."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": text,
            }
            for name, text in parameters.items()
        ]
    }
