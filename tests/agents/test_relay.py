"""Two hubs, as two server processes, relaying requests to each other's agents over Redis.

Each hub has its own relay on the real Redis of ``PARLEY_TEST_REDIS_URL`` (a key prefix of
its own per test) and its own ``websockets`` server; scripted agents connect to one of
them. Every wait has a deadline; nothing asserts on wall-clock time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from websockets.exceptions import ConnectionClosed

from parley.agents import protocol
from parley.agents.connection import REPLACED
from parley.agents.hub import Hub
from parley.agents.relay import Relay
from parley.aio import stop
from parley.chat.backends.base import BackendError, Chunk
from parley.errors import Unavailable
from tests.conftest import REDIS_URL, needs_redis
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

pytestmark = [pytest.mark.anyio, needs_redis]


@asynccontextmanager
async def process(
    prefix: str, name: str, *, heartbeat: float = 5.0, queue_timeout: float = 5.0
) -> AsyncIterator[tuple[Hub, str]]:
    """A hub with its relay (as one server process), served; yields (hub, its ws URL)."""
    assert REDIS_URL
    relay = Relay(REDIS_URL, prefix=prefix, replica=name, heartbeat_interval=heartbeat, refresh=0.2)
    hub = Hub(heartbeat_interval=heartbeat, queue_timeout=queue_timeout, relay=relay)
    hub.open()
    await asyncio.wait_for(relay.ready(), DEADLINE)
    try:
        async with hub_server(hub) as url:
            yield hub, url
    finally:
        await hub.close()


@asynccontextmanager
async def two(**options: float) -> AsyncIterator[tuple[Hub, str, Hub, str]]:
    prefix = f"parley-test:{uuid.uuid4().hex[:8]}:"
    async with AsyncExitStack() as stack:
        a, a_url = await stack.enter_async_context(process(prefix, "a", **options))
        b, b_url = await stack.enter_async_context(process(prefix, "b", **options))
        yield a, a_url, b, b_url


def sees(hub: Hub, model: str) -> bool:
    return model in hub.models()


async def test_a_request_reaches_an_agent_connected_to_another_process() -> None:
    async with two() as (_a, a_url, b, _b_url), agent(a_url, models=("m",)) as worker:
        await until(lambda: sees(b, "m"), "b sees the agent connected to a")
        out: list[Chunk] = []
        task = start(collect(b, ask("over there"), out))
        request = await worker.request()
        assert request.messages == [{"role": "user", "content": "over there"}]
        assert request.params == {"max_tokens": 9}
        await worker.answer(request, "Hel", "lo")
        await task
        assert text_of(out) == "Hello"
        assert out[-1].finish_reason == "stop" and out[-1].model == "m"
        listed = {o.id: o for o in b.relay.remote()}  # type: ignore[union-attr]
        assert listed[worker.id].replica == "a" and listed[worker.id].fields["user"] == "u1"


async def test_a_free_local_agent_comes_first_then_a_free_remote_one() -> None:
    async with two() as (_a, a_url, b, b_url), agent(a_url) as far, agent(b_url) as near:
        await until(lambda: b.relay.remote() != [], "b sees a's agent")  # type: ignore[union-attr]
        first = start(collect(b, ask("one"), []))
        await near.answer(await near.request(), "near")  # b's own agent, while free
        assert text_of(await first) == "near"
        held = start(collect(b, ask("two"), []))
        request = await near.request()  # b's agent is busy with this one ...
        other = start(collect(b, ask("three"), []))
        relayed = await far.request()  # ... so the next goes to a's free agent
        assert relayed.messages[0]["content"] == "three"
        await far.answer(relayed, "far")
        await near.answer(request, "near again")
        assert text_of(await other) == "far" and text_of(await held) == "near again"


async def test_when_only_local_agents_serve_a_model_requests_wait_for_them() -> None:
    async with (
        two() as (_a, a_url, b, b_url),
        agent(a_url, models=("other",)),
        agent(b_url) as near,
    ):
        await until(lambda: sees(b, "other"), "b sees a's agent")
        first = start(collect(b, ask("one"), []))
        one = await near.request()
        second = start(collect(b, ask("two"), []))
        await near.answer(one, "1")
        await near.answer(await near.request(), "2")  # queued here, not sent to a
        assert text_of(await first) == "1" and text_of(await second) == "2"


async def test_a_consumer_that_stops_reading_cancels_the_request_over_there() -> None:
    async with two() as (a, a_url, b, _b_url), agent(a_url) as worker:
        await until(lambda: sees(b, "m"), "b sees the agent")
        stream = b.stream(ask())
        first = asyncio.ensure_future(anext(stream))
        request = await worker.request()
        await worker.send(protocol.Chunk(id=request.id, text="one"))
        assert (await first).text == "one"
        await stream.aclose()  # type: ignore[attr-defined]
        assert await worker.next() == protocol.Cancel(id=request.id)
        await until(lambda: a.get(worker.id).in_flight == 0, "a freed the slot")  # type: ignore[union-attr]


async def test_an_agent_dying_after_some_text_keeps_the_partial() -> None:
    async with two() as (_a, a_url, b, _b_url), agent(a_url) as worker:
        await until(lambda: sees(b, "m"), "b sees the agent")
        task, out = await partly_answered(b, worker)
        worker.kill()
        with pytest.raises(BackendError) as caught:
            await task
        assert caught.value.partial and "partial answer is kept" in caught.value.detail
        assert text_of(out) == "Hel"


async def test_an_agent_dying_before_any_text_is_retried_on_another_agent_there() -> None:
    async with two() as (_a, a_url, b, _b_url), agent(a_url) as one, agent(a_url) as other:
        await until(lambda: len(b.relay.remote()) == 2, "b sees both agents")  # type: ignore[union-attr]
        out: list[Chunk] = []
        task = start(collect(b, ask("retry me"), out))
        first, second = start(one.request()), start(other.request())
        done, _ = await asyncio.wait({first, second}, return_when=asyncio.FIRST_COMPLETED)
        dying, living = (one, other) if first in done else (other, one)
        (first if first in done else second).result()
        dying.kill()
        retried = await (second if first in done else first)
        assert retried.messages[0]["content"] == "retry me"
        await living.answer(retried, "from the other")
        await task
        assert text_of(out) == "from the other"


async def test_a_busy_process_answers_503_after_its_wait() -> None:
    async with two(queue_timeout=0.3) as (_a, a_url, b, _b_url), agent(a_url) as worker:
        await until(lambda: sees(b, "m"), "b sees the agent")
        held = start(collect(b, ask("one"), []))
        request = await worker.request()
        with pytest.raises(Unavailable, match="stayed busy"):
            await collect(b, ask("two"), [])
        await worker.answer(request, "done")
        assert text_of(await held) == "done"


async def test_a_process_gone_silent_fails_the_call_within_one_interval() -> None:
    async with two(heartbeat=1.0) as (a, a_url, b, _b_url), agent(a_url) as worker:
        await until(lambda: sees(b, "m"), "b sees the agent")
        task, out = await partly_answered(b, worker, "so far")
        await stop(a.relay._tasks)  # type: ignore[union-attr]  # a stops without a word
        with pytest.raises(BackendError, match="went silent") as caught:
            await asyncio.wait_for(task, DEADLINE)
        assert caught.value.partial and text_of(out) == "so far"


async def test_a_process_that_shuts_down_says_so_to_the_calls_it_serves() -> None:
    prefix = f"parley-test:{uuid.uuid4().hex[:8]}:"
    # b would wait a minute for a silent process: the error frame ends the call at once
    async with (
        process(prefix, "a") as (a, a_url),
        agent(a_url) as worker,
        process(prefix, "b", heartbeat=60.0) as (b, _b_url),
    ):
        await until(lambda: sees(b, "m"), "b sees the agent")
        task, out = await partly_answered(b, worker, "so far")
        await a.relay.close()  # type: ignore[union-attr]
        with pytest.raises(BackendError, match="serving this request stopped") as caught:
            await asyncio.wait_for(task, DEADLINE)
        assert caught.value.partial and caught.value.status == 503 and text_of(out) == "so far"


async def test_a_gone_origin_stops_the_call_it_asked_for() -> None:
    prefix = f"parley-test:{uuid.uuid4().hex[:8]}:"
    # b waits long for a's frames, so only a noticing that b is gone ends the call
    async with (
        process(prefix, "a", heartbeat=1.0) as (_a, a_url),
        agent(a_url) as worker,
        process(prefix, "b", heartbeat=60.0) as (b, _b_url),
    ):
        await until(lambda: sees(b, "m"), "b sees the agent")
        task = start(collect(b, ask(), []))
        request = await worker.request()
        await stop(b.relay._tasks)  # type: ignore[union-attr]  # b no longer listens
        assert await worker.next() == protocol.Cancel(id=request.id)
        await stop([task])


async def test_requests_sent_before_the_next_offer_spread_over_the_processes() -> None:
    prefix = f"parley-test:{uuid.uuid4().hex[:8]}:"
    async with AsyncExitStack() as stack:
        _a, a_url = await stack.enter_async_context(process(prefix, "a"))
        _c, c_url = await stack.enter_async_context(process(prefix, "c"))
        b, _b_url = await stack.enter_async_context(process(prefix, "b"))
        one = await stack.enter_async_context(agent(a_url))
        other = await stack.enter_async_context(agent(c_url))
        await until(lambda: len(b.relay.remote()) == 2, "b sees both agents")  # type: ignore[union-attr]
        first, second = start(collect(b, ask("1"), [])), start(collect(b, ask("2"), []))
        # each process has one free slot: the second request goes to the other one at
        # once, although the first one's process has not offered its new state yet
        asked = await asyncio.gather(one.request(), other.request())
        for worker, request in zip((one, other), asked, strict=True):
            await worker.answer(request, request.messages[0]["content"])
        assert {text_of(await first), text_of(await second)} == {"1", "2"}


async def test_a_closed_process_withdraws_its_agents() -> None:
    prefix = f"parley-test:{uuid.uuid4().hex[:8]}:"
    async with process(prefix, "b") as (b, _b_url):
        async with process(prefix, "a") as (_a, a_url), agent(a_url):
            await until(lambda: sees(b, "m"), "b sees the agent")
        await until(lambda: not sees(b, "m"), "b forgot a's agent")
        with pytest.raises(Unavailable, match="no connected agent serves model 'm'"):
            await collect(b, ask(), [])


async def test_agent_ids_are_bound_to_their_owner_across_processes() -> None:
    async with two() as (a, a_url, _b, b_url), agent(a_url, agent_id="box", owner="u1") as old:
        with pytest.raises(AssertionError, match="belongs to another agent token's user"):
            async with agent(b_url, agent_id="box", owner="u2"):
                pass
        assert a.get("box") is not None
        async with agent(b_url, agent_id="box", owner="u1"):
            await asyncio.wait_for(old.closed.wait(), DEADLINE)
            with pytest.raises(ConnectionClosed) as closed:
                await old.ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == REPLACED
            await until(lambda: a.get("box") is None, "a dropped its older connection")


async def test_an_id_binding_ends_once_its_agent_has_left_everywhere() -> None:
    async with two(heartbeat=0.4) as (_a, a_url, b, b_url):
        async with agent(a_url, agent_id="box", owner="u1"):
            await asyncio.sleep(1.5)  # past the binding's first expiry: kept while connected
            with pytest.raises(AssertionError, match="belongs to another agent token's user"):
                async with agent(b_url, agent_id="box", owner="u2"):
                    pass
        relay = b.relay
        assert relay is not None
        key = relay._key("agent-owner", "box")
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while await relay.redis.exists(key):
            assert asyncio.get_running_loop().time() < deadline, "the binding never expired"
            await asyncio.sleep(0.05)
        async with agent(b_url, agent_id="box", owner="u2") as taken:
            assert taken.id == "box"
