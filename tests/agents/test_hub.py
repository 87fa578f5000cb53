"""The hub over real WebSockets on 127.0.0.1, with scripted agents speaking raw frames.

The hub runs behind a ``websockets`` server (the web layer's authentication is tested in
tests/web/test_agents.py; here the owner comes from a test header). Every wait has a
deadline; nothing asserts on wall-clock time.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from parley.agents import protocol
from parley.agents.hub import Hub
from parley.chat.backends.agents import AgentsBackend
from parley.chat.backends.base import BackendError, Chunk
from parley.errors import Unavailable
from tests.support.hub_harness import (
    DEADLINE,
    agent,
    ask,
    collect,
    hub_server,
    partly_answered,
    start,
    text_of,
    until,
)

pytestmark = pytest.mark.anyio


async def test_registration_models_and_disconnect() -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url:
        async with agent(url, models=("a", "b"), concurrency=2, agent_id="box-1") as one:
            assert one.id == "box-1"
            async with agent(url, models=("b", "c")) as two:
                assert len(two.id) == 32
                assert hub.models() == ["a", "b", "c"]
                assert await AgentsBackend(hub).models() == ["a", "b", "c"]
                listed = {a.id: a for a in hub.connections()}
                assert listed["box-1"].concurrency == 2 and listed["box-1"].owner.name == "u1"
            await until(lambda: hub.models() == ["a", "b"], "the second agent is gone")
        await until(lambda: not hub.connections(), "no agent is left")


@pytest.mark.parametrize(
    ("first", "detail"),
    [
        (protocol.encode(protocol.Pong()), "the first frame must be 'register'"),
        ('{"type": "register", "models": "m"}', "'models' must be a non-empty list"),
        ("{not json", "not valid JSON"),
    ],
)
async def test_a_bad_first_frame_is_refused_with_a_reason(first: str, detail: str) -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, connect(url, additional_headers={"X-Owner": "u"}) as ws:
        await ws.send(first)
        refusal = protocol.from_hub(await asyncio.wait_for(ws.recv(), DEADLINE))
        assert isinstance(refusal, protocol.Error) and detail in refusal.detail
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), DEADLINE)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert not hub.connections()


async def test_an_agent_that_never_registers_is_dropped() -> None:
    hub = Hub(heartbeat_interval=0.2)
    async with hub_server(hub) as url, connect(url, additional_headers={"X-Owner": "u"}) as ws:
        refusal = protocol.from_hub(await asyncio.wait_for(ws.recv(), DEADLINE))
        assert isinstance(refusal, protocol.Error) and "no 'register' frame" in refusal.detail


async def test_only_the_same_tokens_user_may_reclaim_an_id() -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, agent(url, owner="alice", agent_id="gpu") as first:
        # another user's agent cannot take the id, and the first agent stays
        with pytest.raises(AssertionError, match="belongs to another agent token's user"):
            async with agent(url, owner="mallory", agent_id="gpu"):
                pass
        assert hub.get("gpu") is not None and not first.closed.is_set()
        # the same user's new connection replaces the old one (a reconnection)
        old = hub.get("gpu")
        async with agent(url, owner="alice", agent_id="gpu", models=("m2",)):
            await first.closed.wait()
            assert first.ws.close_code == 4409
            replacement = hub.get("gpu")
            assert replacement is not None and replacement is not old
            assert replacement.models == ("m2",)
    # the id stays bound to alice after she left
    async with hub_server(hub) as url, agent(url, owner="alice", agent_id="gpu"):
        pass


async def test_dispatch_goes_to_the_least_busy_agent() -> None:
    hub = Hub(heartbeat_interval=5)
    async with (
        hub_server(hub) as url,
        agent(url, concurrency=4) as a,
        agent(url, concurrency=4) as b,
    ):
        results: list[list[Chunk]] = [[], [], []]
        first = start(collect(hub, ask("1"), results[0]))
        r1 = await a.request()  # a tie goes to the agent that registered first
        second = start(collect(hub, ask("2"), results[1]))
        r2 = await b.request()  # 1 in flight on a, 0 on b
        await a.answer(r1, "one")
        await first
        third = start(collect(hub, ask("3"), results[2]))
        r3 = await a.request()  # 0 on a, 1 on b
        assert r3.messages == [{"role": "user", "content": "3"}]
        assert r3.params == {"max_tokens": 9}
        await b.answer(r2, "two")
        await a.answer(r3, "thr", "ee")
        await asyncio.gather(second, third)
        assert [text_of(r) for r in results] == ["one", "two", "three"]
        assert results[2][-1].finish_reason == "stop" and results[2][-1].model == "m"
        assert a.frames.empty() and b.frames.empty()


async def test_requests_queue_when_all_agents_are_busy_then_503() -> None:
    hub = Hub(heartbeat_interval=5, queue_timeout=0.3)
    async with hub_server(hub) as url, agent(url, concurrency=1) as a:
        out1: list[Chunk] = []
        out2: list[Chunk] = []
        first = start(collect(hub, ask("1"), out1))
        r1 = await a.request()
        second = start(collect(hub, ask("2"), out2))  # waits in the queue
        await until(lambda: len(hub._waiters) == 1, "the second request waits")
        await a.answer(r1, "one")
        r2 = await a.request()  # handed the freed slot
        await a.answer(r2, "two")
        await asyncio.gather(first, second)
        assert (text_of(out1), text_of(out2)) == ("one", "two")

        held = start(collect(hub, ask("3"), []))
        r3 = await a.request()
        with pytest.raises(Unavailable) as caught:
            await collect(hub, ask("4"), [])
        assert "all 1 agents serving 'm' stayed busy for 0.3 s" in caught.value.detail
        assert caught.value.status == 503 and not hub._waiters
        await a.answer(r3, "three")
        await held
        assert hub.get(a.id).in_flight == 0  # type: ignore[union-attr]


async def test_no_agent_for_the_model_is_503_at_once() -> None:
    hub = Hub(heartbeat_interval=5, queue_timeout=60)
    with pytest.raises(Unavailable, match="none \\(no agent is connected\\)"):
        await collect(hub, ask(), [])
    async with hub_server(hub) as url, agent(url, models=("x",)):
        with pytest.raises(
            Unavailable, match="no connected agent serves model 'm'; models served: x"
        ):
            await collect(hub, ask(), [])


async def test_a_request_cancelled_while_queued_leaves_no_trace() -> None:
    hub = Hub(heartbeat_interval=5, queue_timeout=60)
    async with hub_server(hub) as url, agent(url) as a:
        held = start(collect(hub, ask("1"), []))
        r1 = await a.request()
        queued = start(collect(hub, ask("2"), []))
        await until(lambda: len(hub._waiters) == 1, "the second request waits")
        queued.cancel()
        await until(lambda: not hub._waiters, "the cancelled request left the queue")
        await a.answer(r1, "done")
        await held
        assert hub.get(a.id).in_flight == 0  # type: ignore[union-attr]
        after = start(collect(hub, ask("3"), []))
        await a.answer(await a.request(), "next")
        assert text_of(await after) == "next"


async def test_an_agent_dying_before_any_text_is_retried_elsewhere() -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, agent(url) as a, agent(url) as b:
        out: list[Chunk] = []
        task = start(collect(hub, ask("retry me"), out))
        first = await a.request()
        a.kill()
        second = await b.request()
        assert second.messages == first.messages and second.id != first.id
        await b.answer(second, "from b")
        await task
        assert text_of(out) == "from b"


async def test_an_agent_dying_after_some_text_keeps_the_partial() -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, agent(url) as a, agent(url) as b:
        task, out = await partly_answered(hub, a)
        a.kill()
        with pytest.raises(BackendError) as caught:
            await task
        assert caught.value.partial and "partial answer is kept" in caught.value.detail
        assert text_of(out) == "Hel"
        assert b.frames.empty()  # not retried: it would repeat the text


async def test_retries_stop_after_max_attempts_and_wait_for_a_new_agent() -> None:
    hub = Hub(heartbeat_interval=5, queue_timeout=0.3, max_attempts=2)
    async with hub_server(hub) as url:
        async with agent(url) as a:
            task = start(collect(hub, ask(), []))
            await a.request()
            a.kill()
            with pytest.raises(Unavailable, match="no other agent serving 'm' connected"):
                await task
        async with agent(url) as a, agent(url) as b:
            task = start(collect(hub, ask(), []))
            await a.request()
            a.kill()
            await b.request()
            b.kill()
            with pytest.raises(BackendError, match="2 agents serving 'm' disconnected") as caught:
                await task
            assert caught.value.status == 503 and not caught.value.partial


async def test_an_error_frame_fails_the_request_without_retry() -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, agent(url) as a, agent(url) as b:
        task = start(collect(hub, ask(), []))
        request = await a.request()
        await a.send(protocol.Error(id=request.id, detail="the local backend answered HTTP 400"))
        with pytest.raises(BackendError, match="HTTP 400") as caught:
            await task
        assert not caught.value.partial and b.frames.empty()


async def test_a_consumer_that_stops_reading_cancels_the_request() -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, agent(url) as a:
        stream = hub.stream(ask())
        first = asyncio.ensure_future(anext(stream))
        request = await a.request()
        await a.send(protocol.Chunk(id=request.id, text="one"))
        assert (await first).text == "one"
        await stream.aclose()
        cancel = await a.next()
        assert cancel == protocol.Cancel(id=request.id)
        assert hub.get(a.id).in_flight == 0  # type: ignore[union-attr]
        await a.send(protocol.Chunk(id=request.id, text="late"))  # ignored
        await a.answer(request)
        after = start(collect(hub, ask("next"), []))
        await a.answer(await a.request(), "fine")
        assert text_of(await after) == "fine"


async def test_the_slot_is_free_as_soon_as_the_last_frame_arrives() -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, agent(url) as a:
        stream = hub.stream(ask())
        chunk = asyncio.ensure_future(anext(stream))
        request = await a.request()
        await a.send(protocol.Done(id=request.id, finish_reason="length"))
        assert (await chunk).finish_reason == "length"
        assert hub.get(a.id).in_flight == 0  # type: ignore[union-attr]


async def test_a_silent_agent_is_dropped_and_a_live_one_kept() -> None:
    interval = 0.3
    hub = Hub(heartbeat_interval=interval)
    async with hub_server(hub) as url, agent(url, agent_id="live") as live:
        async with agent(url, agent_id="silent", silent=True) as silent:
            await asyncio.wait_for(silent.closed.wait(), DEADLINE)
            assert silent.pings >= 1  # it was asked, and did not answer
            assert silent.ws.close_code == 1001
            assert "heartbeat missed" in (silent.ws.close_reason or "")
            assert hub.get("silent") is None
        await until(lambda: live.pings >= 6, "the live agent answered three intervals of pings")
        assert hub.get("live") is not None and not live.closed.is_set()


async def test_a_silent_agent_running_a_request_is_retried_elsewhere() -> None:
    hub = Hub(heartbeat_interval=0.3)
    async with hub_server(hub) as url, agent(url, silent=True) as dead, agent(url) as b:
        out: list[Chunk] = []
        task = start(collect(hub, ask(), out))
        await dead.request()  # registered first: it gets the request, then goes quiet
        second = await b.request()
        await b.answer(second, "rescued")
        await task
        assert text_of(out) == "rescued"


async def test_drain_stops_new_requests_but_finishes_running_ones() -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, agent(url) as a:
        out: list[Chunk] = []
        task = start(collect(hub, ask(), out))
        request = await a.request()
        await a.send(protocol.Drain())
        await until(lambda: hub.models() == [], "the draining agent's models are withdrawn")
        with pytest.raises(Unavailable):
            await collect(hub, ask("new"), [])
        await a.answer(request, "finished")
        await task
        assert text_of(out) == "finished"


async def test_invalid_and_stray_frames_do_not_break_the_connection() -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, agent(url) as a:
        await a.ws.send('{"type": "chunk"}')
        error = await a.next()
        assert isinstance(error, protocol.Error) and "'id' must be" in error.detail
        await a.send(protocol.Register(models=["z"]))
        again = await a.next()
        assert isinstance(again, protocol.Error) and "already registered" in again.detail
        await a.send(protocol.Chunk(id="nobody", text="stray"))
        task = start(collect(hub, ask(), []))
        await a.answer(await a.request(), "still", " fine")
        assert text_of(await task) == "still fine"


async def test_closing_the_hub_closes_agents_and_fails_queued_requests() -> None:
    hub = Hub(heartbeat_interval=5, queue_timeout=60)
    async with hub_server(hub) as url, agent(url) as a:
        held = start(collect(hub, ask("1"), []))
        await a.request()
        queued = start(collect(hub, ask("2"), []))
        await until(lambda: len(hub._waiters) == 1, "the second request waits")
        await hub.close()
        with pytest.raises(Unavailable, match="shutting down"):
            await queued
        await a.closed.wait()
        assert a.ws.close_code == 1001
        with pytest.raises(Unavailable, match="shutting down"):  # no retry on a closing hub
            await held
        with pytest.raises(AssertionError, match="shutting down"):  # nor new agents
            async with agent(url):
                pass


async def test_ids_of_gone_agents_are_forgotten_past_the_limit() -> None:
    hub = Hub(heartbeat_interval=5, max_remembered_ids=2)
    async with hub_server(hub) as url, agent(url, owner="alice", agent_id="kept"):
        for name in ("one", "two", "three"):
            async with agent(url, owner="alice", agent_id=name):
                pass
        assert list(hub._id_owners) == ["kept", "three"]  # "kept" is connected
        async with agent(url, owner="bob", agent_id="one"):  # forgotten: free again
            pass
