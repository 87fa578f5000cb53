"""``parley agent``'s worker: a real Agent between a hub (real WebSockets on 127.0.0.1) and a
fake OpenAI-compatible server (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from parley.agents import protocol
from parley.agents.client import Agent, AgentConfig, AgentRefused, coalesce
from parley.agents.hub import Hub
from parley.chat.backends.base import BackendError, Chunk
from tests.support.fake_llm_server import FakeLLM, Reply, running
from tests.support.hub_harness import DEADLINE, ask, collect, hub_server, text_of, until

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with running(FakeLLM(models=("fake-a", "fake-b"), api_key="local-key")) as fake:
        yield fake


def config(url: str, fake: FakeLLM, **overrides: object) -> AgentConfig:
    options: dict[str, object] = {
        "server": url,
        "token": "u1",
        "backend_url": fake.url,
        "api_key": "local-key",
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        **overrides,
    }
    return AgentConfig(**options)  # type: ignore[arg-type]


@asynccontextmanager
async def started(cfg: AgentConfig) -> AsyncIterator[tuple[Agent, asyncio.Task[None]]]:
    agent = Agent(cfg)
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.registered.wait(), DEADLINE)
        yield agent, task
    finally:
        agent.abort()
        await asyncio.gather(task, return_exceptions=True)


async def test_registers_the_backends_models_and_streams_replies(fake: FakeLLM) -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, started(config(url, fake, concurrency=3)) as (agent, _):
        assert hub.models() == ["fake-a", "fake-b"]
        (connection,) = hub.connections()
        assert connection.id == agent.agent_id and connection.concurrency == 3
        assert connection.version and connection.version.startswith("parley ")
        out = await collect(hub, ask("hello", model="fake-b", temperature=0.5, seed=7), [])
        assert text_of(out) == "echo: hello"  # pieces that queue up travel as one
        last = out[-1]
        assert (last.finish_reason, last.model) == ("stop", "fake-b")
        assert last.usage == {"prompt_tokens": 3, "completion_tokens": 2}
        (sent,) = fake.requests
        assert sent["model"] == "fake-b" and sent["stream"] is True
        assert (sent["max_tokens"], sent["temperature"], sent["seed"]) == (9, 0.5, 7)
        assert sent["messages"] == [{"role": "user", "content": "hello"}]


async def test_announces_the_models_it_is_told_and_passes_cut_offs_on(fake: FakeLLM) -> None:
    fake.script("long", Reply(chunks=["a", "b", "c"], finish_reason="length"))
    fake.script("whole", Reply(chunks=["all ", "at once"], stream=False))
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, started(config(url, fake, models=["mine"])):
        assert hub.models() == ["mine"]
        out = await collect(hub, ask("long", model="mine"), [])
        assert text_of(out) == "abc" and out[-1].finish_reason == "length"
        out = await collect(hub, ask("whole", model="mine"), [])
        assert text_of(out) == "all at once" and out[-1].finish_reason == "stop"


async def test_model_aliases_rename_local_models(fake: FakeLLM) -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, started(config(url, fake, models=["big=fake-a", "fake-b"])):
        assert hub.models() == ["big", "fake-b"]
        out = await collect(hub, ask("hi", model="big"), [])
        assert out[-1].model == "big" and fake.requests[-1]["model"] == "fake-a"
        out = await collect(hub, ask("hi", model="fake-b"), [])
        assert out[-1].model == "fake-b" and fake.requests[-1]["model"] == "fake-b"


async def test_backend_failures_become_request_errors(fake: FakeLLM) -> None:
    fake.script("boom", Reply(status=500))
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, started(config(url, fake)) as (agent, _):
        with pytest.raises(BackendError) as caught:
            await collect(hub, ask("boom", model="fake-a"), [])
        assert "HTTP 500: scripted failure 500" in caught.value.detail
        assert not caught.value.partial
        assert "local-key" not in caught.value.detail
        assert text_of(await collect(hub, ask("after", model="fake-a"), [])) == "echo: after"
        assert agent.sessions == 1  # the connection survived the failure


async def test_runs_requests_concurrently_up_to_its_concurrency(fake: FakeLLM) -> None:
    hold = threading.Event()
    fake.script("one", Reply(chunks=["1", "!"], hold=hold))
    fake.script("two", Reply(chunks=["2", "!"], hold=hold))
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, started(config(url, fake, concurrency=2)) as (agent, _):
        tasks = [
            asyncio.ensure_future(collect(hub, ask(p, model="fake-a"), [])) for p in ("one", "two")
        ]
        await until(
            lambda: fake.started("one").is_set() and fake.started("two").is_set(), "both run"
        )
        assert len(agent.tasks) == 2
        hold.set()
        results = await asyncio.gather(*tasks)
        assert [text_of(r) for r in results] == ["1!", "2!"]


async def test_cancel_stops_the_local_request(fake: FakeLLM) -> None:
    hold = threading.Event()
    fake.script("endless", Reply(chunks=["first", "never"], hold=hold))
    hub = Hub(heartbeat_interval=5)
    try:
        async with hub_server(hub) as url, started(config(url, fake)) as (agent, _):
            stream = hub.stream(ask("endless", model="fake-a"))
            chunk: Chunk = await asyncio.wait_for(anext(stream), DEADLINE)
            assert chunk.text == "first"
            await stream.aclose()  # type: ignore[attr-defined]
            await until(fake.disconnected("endless").is_set, "the local request was cancelled")
            await until(lambda: not agent.tasks, "the agent forgot the request")
    finally:
        hold.set()


async def test_reconnects_and_reclaims_its_id(fake: FakeLLM) -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, started(config(url, fake)) as (agent, _):
        first_id = agent.agent_id
        connection = hub.get(first_id or "")
        assert connection is not None
        connection.stop("test: dropped by the hub")
        await until(lambda: agent.sessions == 2 and agent.registered.is_set(), "it reconnected")
        assert agent.agent_id == first_id and hub.get(first_id or "") is not connection
        assert text_of(await collect(hub, ask("back", model="fake-a"), [])) == "echo: back"


async def test_a_silent_hub_counts_as_a_lost_connection(fake: FakeLLM) -> None:
    registrations = 0

    async def quiet_hub(ws: ServerConnection) -> None:
        nonlocal registrations
        await ws.recv()
        registrations += 1
        await ws.send(protocol.encode(protocol.Registered(agent_id="q", heartbeat_interval=0.1)))
        await ws.wait_closed()  # never pings

    async with serve(quiet_hub, "127.0.0.1", 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with started(config(f"ws://127.0.0.1:{port}", fake)) as (agent, _):
            await until(lambda: registrations >= 3, "it gave up on the silent hub twice")
            assert agent.agent_id == "q"


async def test_a_refused_token_is_fatal(fake: FakeLLM) -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub, refused=frozenset({"bad"})) as url:
        agent = Agent(config(url, fake, token="bad"))
        with pytest.raises(AgentRefused, match="refused the agent token: invalid agent token"):
            await asyncio.wait_for(agent.run(), DEADLINE)


async def test_a_refused_registration_is_fatal(fake: FakeLLM) -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, started(config(url, fake, agent_id="gpu")):
        intruder = Agent(config(url, fake, token="u2", agent_id="gpu"))
        with pytest.raises(AgentRefused, match="belongs to another agent token's user"):
            await asyncio.wait_for(intruder.run(), DEADLINE)


async def test_a_worker_whose_id_is_taken_over_stops(fake: FakeLLM) -> None:
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url:
        first = Agent(config(url, fake, agent_id="twin"))
        task = asyncio.create_task(first.run())
        await asyncio.wait_for(first.registered.wait(), DEADLINE)
        async with started(config(url, fake, agent_id="twin")) as (second, _):
            with pytest.raises(AgentRefused, match="took over; give each worker its own"):
                await asyncio.wait_for(task, DEADLINE)
            assert hub.get("twin") is not None and second.sessions == 1


async def test_an_unreachable_hub_is_retried_until_stopped(fake: FakeLLM) -> None:
    agent = Agent(config("http://127.0.0.1:9", fake))  # the discard port: refused
    task = asyncio.create_task(agent.run())
    await until(lambda: agent.attempts >= 3, "it tried three times")
    agent.stop()
    await asyncio.wait_for(task, DEADLINE)
    assert agent.sessions == 0


async def test_stop_finishes_running_requests_first(fake: FakeLLM) -> None:
    hold = threading.Event()
    fake.script("slow", Reply(chunks=["part, ", "rest"], hold=hold))
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, started(config(url, fake)) as (agent, task):
        reply = asyncio.ensure_future(collect(hub, ask("slow", model="fake-a"), []))
        await until(fake.started("slow").is_set, "the slow request runs")
        agent.stop()
        await until(lambda: hub.models() == [], "the hub knows it drains")
        assert not task.done()
        hold.set()
        assert text_of(await reply) == "part, rest"
        await asyncio.wait_for(task, DEADLINE)  # then it exits by itself
        await until(lambda: not hub.connections(), "the hub dropped it")


def test_coalesce_joins_waiting_chunks_per_request_in_order() -> None:
    frames: list[protocol.AgentFrame] = [
        protocol.Chunk(id="a", text="1"),
        protocol.Chunk(id="b", text="x"),
        protocol.Chunk(id="a", text="2"),
        protocol.Done(id="a"),
        protocol.Chunk(id="a", text="late"),
        protocol.Pong(ts=1.0),
        protocol.Chunk(id="b", text="y"),
        protocol.Error(id="b", detail="boom"),
    ]
    assert coalesce(frames) == [
        protocol.Chunk(id="a", text="12"),
        protocol.Done(id="a"),
        protocol.Pong(ts=1.0),
        protocol.Chunk(id="b", text="xy"),
        protocol.Error(id="b", detail="boom"),
        protocol.Chunk(id="a", text="late"),
    ]
    assert coalesce([protocol.Chunk(id="a", text="only")]) == [protocol.Chunk(id="a", text="only")]


class HeldSocket:
    """Stands in for the hub socket: records what is sent; a send waits while ``hold``
    is clear."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.hold = asyncio.Event()
        self.hold.set()

    async def send(self, text: str) -> None:
        await self.hold.wait()
        self.sent.append(text)


def agent_on(socket: HeldSocket, fake: FakeLLM) -> Agent:
    agent = Agent(config("ws://127.0.0.1:9", fake))
    agent._ws = socket  # type: ignore[assignment]
    return agent


async def test_a_chunk_leaves_at_once_from_its_task_when_the_socket_is_free(
    fake: FakeLLM,
) -> None:
    socket = HeldSocket()
    agent = agent_on(socket, fake)  # no writer task runs: only a direct send can send
    await agent._send_now(protocol.Chunk(id="a", text="hi"))
    assert [protocol.from_agent(text) for text in socket.sent] == [
        protocol.Chunk(id="a", text="hi")
    ]
    assert agent._outbox.empty()


async def test_frames_made_while_one_is_being_sent_queue_behind_it_and_join(
    fake: FakeLLM,
) -> None:
    socket = HeldSocket()
    agent = agent_on(socket, fake)
    socket.hold.clear()
    first = asyncio.create_task(agent._send_now(protocol.Chunk(id="a", text="1")))
    await asyncio.sleep(0)
    await agent._send_now(protocol.Chunk(id="a", text="2"))  # queued: a send is in flight
    await agent._send_now(protocol.Chunk(id="a", text="3"))
    await agent._send_now(protocol.Done(id="a"))
    writer = asyncio.create_task(agent._write(socket, agent._outbox))  # type: ignore[arg-type]
    socket.hold.set()
    await first
    await asyncio.wait_for(agent._outbox.join(), DEADLINE)
    writer.cancel()
    assert [protocol.from_agent(text) for text in socket.sent] == [
        protocol.Chunk(id="a", text="1"),
        protocol.Chunk(id="a", text="23"),
        protocol.Done(id="a"),
    ]


async def test_to_a_hub_that_reads_batches_what_queued_up_leaves_as_one_message(
    fake: FakeLLM,
) -> None:
    socket = HeldSocket()
    agent = agent_on(socket, fake)
    agent._batch = True
    # several replies' tasks, woken by the same burst of the model server, each make a frame
    for frame in (
        protocol.Chunk(id="a", text="1"),
        protocol.Chunk(id="b", text="x"),
        protocol.Chunk(id="a", text="2"),
        protocol.Done(id="a"),
    ):
        await agent._send_now(frame)
    assert not socket.sent  # nothing leaves from the tasks themselves
    writer = asyncio.create_task(agent._write(socket, agent._outbox))  # type: ignore[arg-type]
    await asyncio.wait_for(agent._outbox.join(), DEADLINE)
    await agent._send_now(protocol.Chunk(id="b", text="y"))  # alone: sent as itself
    await asyncio.wait_for(agent._outbox.join(), DEADLINE)
    writer.cancel()
    assert [protocol.from_agent(text) for text in socket.sent] == [
        protocol.Batch(
            frames=[
                protocol.Chunk(id="a", text="12"),
                protocol.Done(id="a"),
                protocol.Chunk(id="b", text="x"),
            ]
        ),
        protocol.Chunk(id="b", text="y"),
    ]


async def test_replies_released_at_once_by_a_batching_server_all_arrive_whole(
    fake: FakeLLM,
) -> None:
    hold = threading.Event()
    prompts = [f"p{i}" for i in range(8)]
    for prompt in prompts:
        fake.script(prompt, Reply(chunks=[prompt, "-", "end"], hold=hold))
    hub = Hub(heartbeat_interval=5)
    async with hub_server(hub) as url, started(config(url, fake, concurrency=8)) as (agent, _):
        assert agent._batch  # the hub said it reads them
        tasks = [asyncio.ensure_future(collect(hub, ask(p, model="fake-a"), [])) for p in prompts]
        await until(lambda: all(fake.started(p).is_set() for p in prompts), "all run")
        hold.set()  # every reply is released at once, as by a batching model server
        results = await asyncio.gather(*tasks)
    assert [text_of(result) for result in results] == [f"{p}-end" for p in prompts]


async def test_a_hub_that_does_not_read_batches_gets_single_frames(fake: FakeLLM) -> None:
    hold = threading.Event()
    for prompt in ("one", "two"):
        fake.script(prompt, Reply(chunks=[prompt, "!"], hold=hold))
    received: list[str] = []

    async def older_hub(ws: ServerConnection) -> None:
        await ws.recv()  # register
        await ws.send(protocol.encode(protocol.Registered(agent_id="o", heartbeat_interval=5)))
        for prompt in ("one", "two"):
            messages = [{"role": "user", "content": prompt}]
            request = protocol.Request(id=prompt, model="fake-a", messages=messages)
            await ws.send(protocol.encode(request))
        while received.count("done") < 2:
            received.append(orjson.loads(await ws.recv())["type"])
        await ws.wait_closed()

    async with serve(older_hub, "127.0.0.1", 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        cfg = config(f"ws://127.0.0.1:{port}", fake, concurrency=2)
        async with started(cfg) as (agent, _):
            assert not agent._batch
            await until(lambda: all(fake.started(p).is_set() for p in ("one", "two")), "both run")
            hold.set()
            await until(lambda: received.count("done") == 2, "both replies ended")
    assert "batch" not in received and received.count("chunk") >= 2
