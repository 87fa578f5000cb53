"""Pieces of one agent connection that the hub tests do not reach directly."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from parley.agents import protocol
from parley.agents.connection import (
    AgentConnection,
    AgentGone,
    Call,
    Owner,
    TransportClosed,
    request_params,
)
from parley.chat.backends.base import ChatRequest

pytestmark = pytest.mark.anyio


def test_request_params_leave_out_what_is_not_set() -> None:
    bare = ChatRequest(model="m", messages=[])
    assert request_params(bare) == {}
    full = ChatRequest(model="m", messages=[], max_tokens=5, temperature=0.0, extra={"top_p": 1})
    assert request_params(full) == {"top_p": 1, "max_tokens": 5, "temperature": 0.0}


async def test_a_call_is_finished_by_its_first_terminal_event() -> None:
    call = Call("r")
    call.events.put_nowait(protocol.Chunk(id="r", text="a"))
    call.events.put_nowait(AgentGone("socket closed"))
    assert isinstance(await call.next(), protocol.Chunk) and not call.finished
    assert isinstance(await call.next(), AgentGone) and call.finished


async def test_waiting_chunks_are_handed_out_as_one() -> None:
    call = Call("r")
    for text in ("a", "b", "c"):
        call.events.put_nowait(protocol.Chunk(id="r", text=text))
    call.events.put_nowait(protocol.Done(id="r"))
    call.events.put_nowait(protocol.Chunk(id="r", text="late"))
    assert await call.next() == protocol.Chunk(id="r", text="abc")
    assert not call.finished
    assert await call.next() == protocol.Done(id="r")
    assert call.finished


async def test_a_call_opened_on_a_closed_connection_fails_at_once() -> None:
    register = protocol.Register(models=["m"])
    owner = Owner(user_id="u", name="u")
    agent = AgentConnection(
        None, owner=owner, agent_id="a", register=register, heartbeat_interval=1
    )  # type: ignore[arg-type]
    agent.closed = True
    call = agent.open_call(ChatRequest(model="m", messages=[]))
    assert isinstance(await call.next(), AgentGone) and not agent.calls


class HeldTransport:
    """A transport whose sends are recorded; while ``hold`` is clear a send waits."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.closed = asyncio.Event()

    async def receive(self) -> str | bytes:
        await self.closed.wait()
        raise TransportClosed("closed")

    async def send(self, text: str) -> None:
        await self.hold.wait()
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed.set()


def connection(transport: HeldTransport) -> AgentConnection:
    register = protocol.Register(models=["m"], concurrency=4)
    owner = Owner(user_id="u", name="u")
    return AgentConnection(
        transport, owner=owner, agent_id="a", register=register, heartbeat_interval=30
    )


def sent_ids(transport: HeldTransport) -> list[str]:
    return [orjson.loads(text)["id"] for text in transport.sent]


async def test_a_request_leaves_at_once_when_the_socket_is_free() -> None:
    transport = HeldTransport()
    agent = connection(transport)  # not running: there is no writer task to wait for
    call = agent.open_call(ChatRequest(model="m", messages=[]))
    await agent.dispatch(call, ChatRequest(model="m", messages=[]))
    assert sent_ids(transport) == [call.id]


async def test_requests_made_while_one_is_being_sent_follow_it_in_order() -> None:
    transport = HeldTransport()
    agent = connection(transport)
    serving = asyncio.create_task(agent.run())
    transport.hold.clear()  # the socket is busy: the first send waits
    request = ChatRequest(model="m", messages=[])
    calls = [agent.open_call(request) for _ in range(3)]
    first = asyncio.create_task(agent.dispatch(calls[0], request))
    await asyncio.sleep(0)
    for call in calls[1:]:
        await agent.dispatch(call, request)  # queued behind the one in flight
    agent.end_call(calls[1])  # its cancel joins the queue too
    transport.hold.set()
    await first
    async with asyncio.timeout(5):  # the writer task drains the queue
        while len(transport.sent) < 4:
            await asyncio.sleep(0)
    assert sent_ids(transport) == [calls[0].id, calls[1].id, calls[2].id, calls[1].id]
    assert [orjson.loads(text)["type"] for text in transport.sent][-1] == "cancel"
    agent.stop("done")
    await serving


class ScriptedTransport(HeldTransport):
    """A transport that hands out ``incoming`` messages, then waits until it is closed."""

    def __init__(self, incoming: list[str]) -> None:
        super().__init__()
        self.incoming = list(incoming)

    async def receive(self) -> str | bytes:
        if self.incoming:
            return self.incoming.pop(0)
        return await super().receive()


async def serve_until_sent(transport: ScriptedTransport, agent: AgentConnection, sent: int) -> None:
    """Run ``agent`` until its transport read everything and sent ``sent`` frames."""
    serving = asyncio.create_task(agent.run())
    async with asyncio.timeout(5):
        while transport.incoming or len(transport.sent) < sent:
            await asyncio.sleep(0)
    agent.stop("done")
    await serving


async def test_the_frames_of_a_batch_reach_their_calls_in_order() -> None:
    request = ChatRequest(model="m", messages=[])
    transport = ScriptedTransport([])
    agent = connection(transport)
    one, two = agent.open_call(request), agent.open_call(request)
    batch = protocol.Batch(
        frames=[
            protocol.Chunk(id=one.id, text="a"),
            protocol.Chunk(id=two.id, text="x"),
            protocol.Done(id=one.id, finish_reason="length"),
            protocol.Chunk(id=one.id, text="after its end"),
            protocol.Drain(),
        ]
    )
    transport.incoming.append(protocol.encode(batch))
    await serve_until_sent(transport, agent, 0)
    assert await one.next() == protocol.Chunk(id=one.id, text="a")
    assert await one.next() == protocol.Done(id=one.id, finish_reason="length")
    assert await two.next() == protocol.Chunk(id=two.id, text="x")
    assert agent.draining


async def test_a_batch_with_an_invalid_frame_is_refused_whole() -> None:
    request = ChatRequest(model="m", messages=[])
    transport = ScriptedTransport([])
    agent = connection(transport)
    call = agent.open_call(request)
    frames = [{"type": "chunk", "id": call.id, "text": "a"}, {"type": "chunk", "id": call.id}]
    transport.incoming.append(orjson.dumps({"type": "batch", "frames": frames}).decode())
    await serve_until_sent(transport, agent, 1)
    error = orjson.loads(transport.sent[0])
    assert error["type"] == "error" and "frame 1 of the batch" in error["detail"]
    assert isinstance(await call.next(), AgentGone)  # not even its valid first frame came
