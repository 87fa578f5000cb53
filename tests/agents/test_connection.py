"""Pieces of one agent connection that the hub tests do not reach directly."""

from __future__ import annotations

import pytest

from parley.agents import protocol
from parley.agents.connection import AgentConnection, AgentGone, Call, Owner, request_params
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
