"""The ChatGPT-API-server agent routes: the agents' WebSocket and the connection list.

Contracts (the seed's routes, with its defects fixed):

* ``GET /client/register`` (WebSocket): the agent token (``Authorization: Bearer <token>``,
  a token of kind ``agent``, issued by ``POST /admin/agents/add`` or ``parley agents
  add``) is checked BEFORE the socket is accepted. Without a valid one the handshake is
  answered with HTTP 401 ``{"detail": ...}`` (servers without the WebSocket denial
  response extension close with 1008 and the same reason instead). User tokens and the
  admin key are not agent tokens. Then :meth:`parley.agents.hub.Hub.serve` runs it.
* ``GET /api/connections`` (admin users only; the admin key works as a bearer token) ->
  ``{"connections": [{"Id", "Heartbeat", "LastMessageTime", "models", "in_flight",
  "concurrency", "user", "version", "draining", "connected_at"}]}``: the seed's keys
  without ``Ws``; times are ISO 8601 UTC; nothing secret is listed.

The hub is created once per app (:func:`hub_of`), on startup or first use, with a relay
to the other server processes' agents when ``PARLEY_REDIS_URL`` is set
(:mod:`parley.agents.relay`); the agents backend joins the runtime's backend registry when
the first agent connects here or elsewhere. ``/api/connections`` lists every process's
agents, each with the ``replica`` it is connected to (null without Redis).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from parley.agents import tokens
from parley.agents.connection import POLICY_VIOLATION, Owner, TransportClosed
from parley.agents.hub import Hub
from parley.agents.relay import Relay
from parley.chat.backends.agents import AgentsBackend
from parley.store.db import transaction
from parley.store.users import User
from parley.web import deps
from parley.web.responses import FastJSON
from parley.web.runtime import Runtime

HUB_KEY = "agents.hub"
DENIAL_EXTENSION = "websocket.http.response"


def hub_of(runtime: Runtime) -> Hub:
    """The app's hub, created on first call."""
    hub = runtime.extras.get(HUB_KEY)
    if isinstance(hub, Hub):
        return hub
    settings = runtime.settings
    relay = None
    if settings.redis_url:
        relay = Relay(settings.redis_url, heartbeat_interval=settings.agent_heartbeat_interval)
    hub = Hub(
        heartbeat_interval=settings.agent_heartbeat_interval,
        queue_timeout=settings.agent_queue_timeout,
        relay=relay,
    )
    hub.joined = lambda: join_backends(runtime, hub)
    runtime.extras[HUB_KEY] = hub
    return hub


def join_backends(runtime: Runtime, hub: Hub) -> None:
    """Add the agents backend to the runtime's registry (once, when an agent connects), so
    that until then a server without backends says how to configure one."""
    if runtime.backends.get(AgentsBackend.name) is None:
        runtime.backends.register(AgentsBackend(hub))


router = APIRouter(tags=["agents"])


class StarletteTransport:
    """A Starlette WebSocket as a :class:`parley.agents.connection.Transport`."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def receive(self) -> str | bytes:
        try:
            message = await self.websocket.receive()
        except (RuntimeError, OSError) as error:
            raise TransportClosed(str(error)) from None
        if message["type"] == "websocket.disconnect":
            raise TransportClosed(f"closed with code {message.get('code')}")
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    async def send(self, text: str) -> None:
        try:
            await self.websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError) as error:
            raise TransportClosed(str(error)) from None

    async def close(self, code: int, reason: str) -> None:
        if self.websocket.application_state == WebSocketState.CONNECTED:
            await self.websocket.close(code=code, reason=reason)


def _agent_owner(runtime: Runtime, token: str) -> Owner | None:
    with transaction(runtime.factory) as session:
        user = tokens.agent_owner(session, token=token)
    return Owner(user_id=user.id, name=user.name) if user else None


def _bearer(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "").strip()
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return header or None


async def _deny(websocket: WebSocket, detail: str) -> None:
    if DENIAL_EXTENSION in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(FastJSON({"detail": detail}, status_code=401))
    else:
        await websocket.close(code=POLICY_VIOLATION, reason=detail[:120])


@router.websocket("/client/register")
async def client_register(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    token = _bearer(websocket)
    if token is None:
        await _deny(
            websocket,
            "agent token required: send 'Authorization: Bearer <agent token>' (an admin "
            "issues one with POST /admin/agents/add or `parley agents add NAME`)",
        )
        return
    owner = await run_in_threadpool(_agent_owner, runtime, token)
    if owner is None:
        await _deny(
            websocket,
            "invalid agent token (user tokens and the admin key are not agent tokens); ask "
            "an admin for one: POST /admin/agents/add or `parley agents add NAME`",
        )
        return
    await websocket.accept()
    await hub_of(runtime).serve(StarletteTransport(websocket), owner)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@router.get(
    "/api/connections",
    summary="List connected agents (admins only)",
    description="Each connected agent: its id (`Id`), the time of its last heartbeat "
    "(`Heartbeat`) and of its last request traffic (`LastMessageTime`), the models it "
    "serves, how many requests it is running (`in_flight`) out of `concurrency`, the user "
    "its agent token belongs to, its version and whether it is draining (shutting down). "
    "Times are ISO 8601 UTC. With Redis, the agents of every server process are listed, "
    "each with the `replica` (server process) it is connected to. Admin users only (the "
    "admin key works as a bearer token).",
    dependencies=[Depends(deps.rate_limit("read"))],
)
async def connections(
    request: Request, _admin: Annotated[User, Depends(deps.admin_user)]
) -> dict[str, list[dict[str, Any]]]:
    hub = hub_of(deps.runtime(request))
    relay = hub.relay
    here = [(relay.replica if relay else None, row) for row in hub.offer()]
    there = [(o.replica, o.fields) for o in relay.remote()] if relay else []
    return {"connections": [_listed(replica, row) for replica, row in [*here, *there]]}


def _listed(replica: str | None, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "Id": row["id"],
        "Heartbeat": _iso(row["heartbeat"]),
        "LastMessageTime": _iso(row["last_message_time"]),
        "models": list(row["models"]),
        "in_flight": row["in_flight"],
        "concurrency": row["concurrency"],
        "user": row["user"],
        "version": row["version"],
        "draining": row["draining"],
        "connected_at": _iso(row["connected_at"]),
        "replica": replica,
    }
