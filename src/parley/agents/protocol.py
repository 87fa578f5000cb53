"""The agent protocol: the frames a hub and its worker agents exchange over one WebSocket.

Every frame is ONE JSON object (one level of JSON: no JSON encoded inside strings) with a
``"type"`` key. :func:`encode` writes a frame; :func:`from_agent` and :func:`from_hub`
read one and raise :class:`ProtocolError` with a message naming the offending field when
the frame is not valid for that direction. Unknown extra keys are ignored, so either side
may add optional fields later.

Agent -> hub: ``register``, ``pong``, ``chunk``, ``done``, ``error``, ``drain``, and
``batch`` (several of those but ``register`` in one message, in order; only to a hub
whose ``registered`` said ``"batch": true``: one message instead of one per frame when a
batching model server hands an agent the pieces of many replies at once).
Hub -> agent: ``registered``, ``ping``, ``request``, ``cancel``, ``error``.

``request`` / ``chunk`` / ``done`` / ``error`` / ``cancel`` carry the request ``id`` the hub
chose, so several requests run on one socket at once. docs/agents.md has examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from parley.errors import BadRequest

AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
MAX_MODELS = 100
MAX_MODEL_LENGTH = 200
MAX_CONCURRENCY = 1000
PROTOCOL_VERSION = 1


class ProtocolError(BadRequest):
    """A frame that is not valid JSON, not an object, or not a valid frame of its type."""


@dataclass(frozen=True)
class Register:
    type: ClassVar[str] = "register"
    models: list[str]
    concurrency: int = 1
    agent_id: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class Registered:
    type: ClassVar[str] = "registered"
    agent_id: str
    heartbeat_interval: float
    batch: bool = False  # the hub reads ``batch`` frames


@dataclass(frozen=True)
class Ping:
    type: ClassVar[str] = "ping"
    ts: float = 0.0


@dataclass(frozen=True)
class Pong:
    type: ClassVar[str] = "pong"
    ts: float = 0.0


@dataclass(frozen=True)
class Request:
    type: ClassVar[str] = "request"
    id: str
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    type: ClassVar[str] = "chunk"
    id: str
    text: str


@dataclass(frozen=True)
class Done:
    type: ClassVar[str] = "done"
    id: str
    finish_reason: str | None = "stop"
    usage: dict[str, Any] | None = None
    model: str | None = None


@dataclass(frozen=True)
class Error:
    """A failed request (``id`` set) or, from the hub, a refusal before it closes (no id)."""

    type: ClassVar[str] = "error"
    detail: str
    id: str | None = None


@dataclass(frozen=True)
class Cancel:
    type: ClassVar[str] = "cancel"
    id: str


@dataclass(frozen=True)
class Drain:
    """The agent is shutting down: send it no new requests; it finishes the running ones."""

    type: ClassVar[str] = "drain"


Batched = Pong | Chunk | Done | Error | Drain  # what a batch may hold


@dataclass(frozen=True)
class Batch:
    """Several frames in one message, handled as if they had come one by one, in order.
    A batch with one invalid frame is invalid as a whole (none of it is handled)."""

    type: ClassVar[str] = "batch"
    frames: list[Batched]


AgentFrame = Register | Pong | Chunk | Done | Error | Drain | Batch
HubFrame = Registered | Ping | Request | Cancel | Error
Frame = AgentFrame | HubFrame


def encode(frame: Frame) -> str:
    """The frame as JSON text (``type`` first; ``None`` optional fields left out)."""
    return orjson.dumps(_fields(frame)).decode()


def _fields(frame: Frame) -> dict[str, Any]:
    if isinstance(frame, Batch):
        return {"type": frame.type, "frames": [_fields(inner) for inner in frame.frames]}
    body = {k: v for k, v in vars(frame).items() if v is not None}  # fields; shallow
    return {"type": frame.type, **body}


def from_agent(raw: str | bytes) -> AgentFrame:
    """Read a frame an agent sent; :class:`ProtocolError` when it is not one."""
    data = _object(raw)
    kind = data.get("type")
    if kind == "register":
        return _register(data)
    if kind == "batch":
        return _batch(data)
    return _batched(data, "register, pong, chunk, done, error, drain, batch")


def _batch(data: dict[str, Any]) -> Batch:
    frames = data.get("frames")
    if not isinstance(frames, list) or not frames:
        raise ProtocolError("'frames' must be a non-empty list of frames")
    read: list[Batched] = []
    for index, inner in enumerate(frames):
        if not isinstance(inner, dict):
            raise ProtocolError(f"frame {index} of the batch is not a JSON object")
        try:
            read.append(_batched(inner, "pong, chunk, done, error, drain"))
        except ProtocolError as error:
            raise ProtocolError(f"frame {index} of the batch: {error.detail}") from None
    return Batch(frames=read)


def _batched(data: dict[str, Any], known: str) -> Batched:
    kind = data.get("type")
    if kind == "pong":
        return Pong(ts=_number(data, "ts", default=0.0))
    if kind == "chunk":
        return Chunk(id=_id(data), text=_string(data, "text", allow_empty=True))
    if kind == "done":
        return Done(
            id=_id(data),
            finish_reason=_optional_string(data, "finish_reason"),
            usage=_optional_object(data, "usage"),
            model=_optional_string(data, "model"),
        )
    if kind == "error":
        return Error(id=_optional_string(data, "id"), detail=_string(data, "detail"))
    if kind == "drain":
        return Drain()
    raise ProtocolError(_unknown(kind, known))


def from_hub(raw: str | bytes) -> HubFrame:
    """Read a frame the hub sent; :class:`ProtocolError` when it is not one."""
    data = _object(raw)
    kind = data.get("type")
    if kind == "registered":
        interval = _number(data, "heartbeat_interval")
        if interval <= 0:
            raise ProtocolError("'heartbeat_interval' must be a positive number of seconds")
        return Registered(
            agent_id=_string(data, "agent_id"),
            heartbeat_interval=interval,
            batch=data.get("batch") is True,
        )
    if kind == "ping":
        return Ping(ts=_number(data, "ts", default=0.0))
    if kind == "request":
        messages = data.get("messages")
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
        ):
            raise ProtocolError("'messages' must be a list of objects, each with a 'role' string")
        params = _optional_object(data, "params") or {}
        return Request(id=_id(data), model=_string(data, "model"), messages=messages, params=params)
    if kind == "cancel":
        return Cancel(id=_id(data))
    if kind == "error":
        return Error(id=_optional_string(data, "id"), detail=_string(data, "detail"))
    raise ProtocolError(_unknown(kind, "registered, ping, request, cancel, error"))


def _register(data: dict[str, Any]) -> Register:
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise ProtocolError("'models' must be a non-empty list of model names")
    if len(models) > MAX_MODELS:
        raise ProtocolError(f"'models' lists more than {MAX_MODELS} models")
    for model in models:
        if not isinstance(model, str) or not model.strip() or len(model) > MAX_MODEL_LENGTH:
            raise ProtocolError(
                f"every model name must be a non-empty string of at most {MAX_MODEL_LENGTH} "
                f"characters, got {model!r:.60}"
            )
    concurrency = data.get("concurrency", 1)
    if (
        not isinstance(concurrency, int)
        or isinstance(concurrency, bool)
        or not 1 <= concurrency <= MAX_CONCURRENCY
    ):
        raise ProtocolError(f"'concurrency' must be an integer from 1 to {MAX_CONCURRENCY}")
    agent_id = _optional_string(data, "agent_id")
    if agent_id is not None and not AGENT_ID.match(agent_id):
        raise ProtocolError(
            "'agent_id' must be 1-100 characters: letters, digits and . _ : - "
            "(starting with a letter or digit)"
        )
    return Register(
        models=list(dict.fromkeys(m.strip() for m in models)),
        concurrency=concurrency,
        agent_id=agent_id,
        version=_optional_string(data, "version"),
    )


def _object(raw: str | bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ProtocolError(f"frame is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ProtocolError("frame must be a JSON object with a 'type' key")
    return data


def _unknown(kind: object, known: str) -> str:
    if kind is None:
        return f"frame has no 'type'; expected one of: {known}"
    return f"unknown frame type {kind!r:.60}; expected one of: {known}"


def _id(data: dict[str, Any]) -> str:
    return _string(data, "id")


def _string(data: dict[str, Any], key: str, *, allow_empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ProtocolError(f"'{key}' must be a {'string' if allow_empty else 'non-empty string'}")
    return value


def _optional_string(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"'{key}' must be a string or null")
    return value


def _optional_object(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(f"'{key}' must be an object or null")
    return value


def _number(data: dict[str, Any], key: str, *, default: float | None = None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"'{key}' must be a number")
    return float(value)
