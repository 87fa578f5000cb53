"""Agents end to end: the real server under uvicorn on 127.0.0.1, real agents over real
WebSockets (in this process, and ``parley agent`` processes that get killed, frozen and
interrupted), fake OpenAI-compatible servers on 127.0.0.1, and requests through
``POST /v1/chat/completions``. Heartbeats are short; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from parley.agents.client import Agent, AgentConfig, AgentRefused
from parley.agents.tokens import issue_agent_token
from parley.config import Settings
from parley.store.db import transaction
from parley.web.app import create_app
from tests.conftest import REDIS_URL, needs_redis
from tests.support.fake_llm_server import FakeLLM, Reply, running, serve
from tests.support.hub_harness import until
from tests.web.conftest import ADMIN_KEY, Caller, make_caller

pytestmark = pytest.mark.anyio
DEADLINE = 15.0
HEARTBEAT = 0.5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Server:
    app: FastAPI
    url: str
    admin: Caller
    alice: Caller

    def agent_token(self, name: str) -> str:
        with transaction(self.app.state.runtime.factory) as session:
            return issue_agent_token(session, name=name)[1]


@pytest.fixture
def server(web_settings: Settings) -> Iterator[Server]:
    settings = web_settings.model_copy(
        update={
            "agent_heartbeat_interval": HEARTBEAT,
            "agent_queue_timeout": 0.5,
            "rate_ask": "100000/minute",
        }
    )
    app = create_app(settings)
    admin = make_caller(app, "root", is_admin=True)
    alice = make_caller(app, "alice")
    with serve(app) as url:
        yield Server(app, url, admin, alice)


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with running(FakeLLM(models=("m",))) as fake:
        yield fake


async def connections(server: Server) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.url}/api/connections", headers=server.admin.headers)
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["connections"]
    return listed


async def wait_connections(server: Server, what: str, check: Any) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while True:
        listed = await connections(server)
        if check(listed):
            return listed
        if loop.time() > end:
            raise AssertionError(f"timed out waiting until {what}: {listed}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def in_process_agent(
    server: Server, token: str, fake: FakeLLM, **options: Any
) -> AsyncIterator[Agent]:
    agent = Agent(
        AgentConfig(
            server=server.url,
            token=token,
            backend_url=fake.url,
            backoff_initial=0.01,
            backoff_max=0.05,
            **options,
        )
    )
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.registered.wait(), DEADLINE)
        yield agent
    finally:
        agent.abort()
        await asyncio.gather(task, return_exceptions=True)


@contextmanager
def agent_process(
    server: Server, token: str, fake: FakeLLM, log: Path, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "parley.cli.main",
        "agent",
        "--server",
        server.url,
        "--backend-url",
        fake.url,
        *extra,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, "PARLEY_AGENT_TOKEN": token},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(DEADLINE)


async def chat(
    server: Server, prompt: str, *, stream: bool = False, model: str = "m"
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        return await http.post(
            f"{server.url}/v1/chat/completions",
            headers=server.alice.headers,
            json={
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "stream": stream,
            },
        )


def content(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    text: str = response.json()["choices"][0]["message"]["content"]
    return text


def events(lines: list[str]) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in lines if line.startswith("data: {")]


def streamed_text(lines: list[str]) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content") or "" for e in events(lines) if e.get("choices")
    )


# --- authentication -----------------------------------------------------------------------


async def test_the_socket_needs_an_agent_token(server: Server) -> None:
    ws_url = server.url.replace("http", "ws") + "/client/register"
    cases = {
        None: "agent token required",
        server.alice.token: "invalid agent token",
        ADMIN_KEY: "invalid agent token",
        "made-up": "invalid agent token",
    }
    for token, detail in cases.items():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url, additional_headers=headers):
                pass
        response = refused.value.response
        assert response.status_code == 401
        assert detail in orjson.loads(response.body or b"{}")["detail"]
    assert await connections(server) == []


async def test_agent_tokens_from_the_admin_route_connect(server: Server, fake: FakeLLM) -> None:
    async with httpx.AsyncClient() as http:
        denied = await http.post(f"{server.url}/admin/agents/add", json={"admin_key": "guess-123"})
        assert denied.status_code == 401 and "guess-123" not in denied.text
        issued = await http.post(
            f"{server.url}/admin/agents/add", json={"admin_key": ADMIN_KEY, "name": "box"}
        )
    assert issued.status_code == 200 and set(issued.json()) == {"user_id", "name", "token"}
    token = issued.json()["token"]
    async with in_process_agent(server, token, fake) as agent:
        (listed,) = await connections(server)
        assert listed["Id"] == agent.agent_id and listed["user"] == "agent:box"
    with pytest.raises(AgentRefused, match="invalid agent token"):
        bad = Agent(
            AgentConfig(server=server.url, token=server.alice.token or "", backend_url=fake.url)
        )
        await asyncio.wait_for(bad.run(), DEADLINE)


async def test_connections_are_for_admins_and_hold_no_secrets(
    server: Server, fake: FakeLLM
) -> None:
    token = server.agent_token("box")
    async with in_process_agent(
        server, token, fake, models=["m", "n"], concurrency=3, agent_id="gpu-1"
    ):
        async with httpx.AsyncClient() as http:
            anonymous = await http.get(f"{server.url}/api/connections")
            user = await http.get(f"{server.url}/api/connections", headers=server.alice.headers)
            by_key = await http.get(
                f"{server.url}/api/connections", headers={"Authorization": ADMIN_KEY}
            )
        assert anonymous.status_code == 401 and set(anonymous.json()) == {"detail"}
        assert user.status_code == 403 and set(user.json()) == {"detail"}
        assert by_key.status_code == 200
        (listed,) = by_key.json()["connections"]
        assert {
            "Id",
            "Heartbeat",
            "LastMessageTime",
            "models",
            "in_flight",
            "concurrency",
            "user",
        } <= set(listed)
        assert "Ws" not in listed
        assert (listed["Id"], listed["models"], listed["concurrency"], listed["in_flight"]) == (
            "gpu-1",
            ["m", "n"],
            3,
            0,
        )
        assert listed["Heartbeat"].endswith("+00:00") and listed["user"] == "agent:box"
        assert token not in by_key.text and token[:8] not in by_key.text


async def test_only_the_same_tokens_user_reclaims_an_id(server: Server, fake: FakeLLM) -> None:
    async with in_process_agent(server, server.agent_token("one"), fake, agent_id="gpu"):
        intruder = Agent(
            AgentConfig(
                server=server.url,
                token=server.agent_token("two"),
                backend_url=fake.url,
                agent_id="gpu",
            )
        )
        with pytest.raises(AgentRefused, match="belongs to another agent token's user"):
            await asyncio.wait_for(intruder.run(), DEADLINE)
        (listed,) = await connections(server)
        assert listed["user"] == "agent:one"
        # A token of the same user may take the id over (a worker reconnecting).
        async with in_process_agent(
            server, server.agent_token("one"), fake, agent_id="gpu"
        ) as heir:
            (listed,) = await wait_connections(server, "one agent is left", lambda c: len(c) == 1)
            assert listed["Id"] == "gpu" and heir.sessions == 1


# --- dispatch -----------------------------------------------------------------------------


async def test_least_busy_agent_then_queue_then_503(server: Server, fake: FakeLLM) -> None:
    hold = threading.Event()
    fake.script("one", Reply(chunks=["1"], hold=hold, hold_after=0))
    fake.script("two", Reply(chunks=["2"], hold=hold, hold_after=0))
    try:
        async with (
            in_process_agent(server, server.agent_token("a"), fake, agent_id="a"),
            in_process_agent(server, server.agent_token("b"), fake, agent_id="b"),
        ):
            first = asyncio.ensure_future(chat(server, "one"))
            second = asyncio.ensure_future(chat(server, "two"))
            listed = await wait_connections(
                server, "each agent runs one", lambda c: [a["in_flight"] for a in c] == [1, 1]
            )
            assert {a["Id"] for a in listed} == {"a", "b"}
            busy = await chat(server, "three")  # both busy: waits 0.5 s, then 503
            assert busy.status_code == 503
            assert "all 2 agents serving 'm' stayed busy for 0.5 s" in busy.json()["detail"]
            hold.set()
            assert [content(await first), content(await second)] == ["1", "2"]
            assert content(await chat(server, "four")) == "echo: four"
            assert await fake_models(server) == [{"model": "m", "owner": "agents"}]
    finally:
        hold.set()


async def fake_models(server: Server) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.url}/v1/models", headers=server.alice.headers)
    return [{"model": item["id"], "owner": item["owned_by"]} for item in response.json()["data"]]


async def test_a_client_that_leaves_cancels_the_agents_request(
    server: Server, fake: FakeLLM
) -> None:
    hold = threading.Event()
    fake.script("long", Reply(chunks=["first", "never"], hold=hold))
    try:
        async with (
            in_process_agent(server, server.agent_token("a"), fake) as agent,
            httpx.AsyncClient() as http,
        ):
            body = {"model": "m", "messages": [{"role": "user", "content": "long"}], "stream": True}
            async with http.stream(
                "POST", f"{server.url}/v1/chat/completions", headers=server.alice.headers, json=body
            ) as response:
                async for line in response.aiter_lines():
                    if "first" in line:
                        break
            await until(
                fake.disconnected("long").is_set,
                "the agent's local request was cancelled",
                DEADLINE,
            )
            await until(lambda: not agent.tasks, "the agent forgot the request", DEADLINE)
            await wait_connections(server, "the slot is free", lambda c: c[0]["in_flight"] == 0)
    finally:
        hold.set()


# --- agents that die, freeze or stop ------------------------------------------------------


async def test_an_agent_killed_mid_reply_leaves_the_partial_answer(
    server: Server, fake: FakeLLM, tmp_path: Path
) -> None:
    hold = threading.Event()
    fake.script("tell me", Reply(chunks=["Hel", "lo"], hold=hold, hold_after=1))
    try:
        with agent_process(
            server, server.agent_token("a"), fake, tmp_path / "agent.log", "--model", "m"
        ) as process:
            await wait_connections(server, "the agent process registered", lambda c: len(c) == 1)
            lines: list[str] = []
            async with httpx.AsyncClient(timeout=DEADLINE) as http:
                body = {
                    "model": "m",
                    "messages": [{"role": "user", "content": "tell me"}],
                    "stream": True,
                }
                async with http.stream(
                    "POST",
                    f"{server.url}/v1/chat/completions",
                    headers=server.alice.headers,
                    json=body,
                ) as response:
                    conversation = response.headers["X-Parley-Conversation-Id"]
                    async for line in response.aiter_lines():
                        lines.append(line)
                        if "Hel" in line:
                            process.send_signal(signal.SIGKILL)
            assert streamed_text(lines) == "Hel"
            (error,) = [e["error"] for e in events(lines) if "error" in e]
            assert "disconnected after part of the reply" in error["message"]
            async with httpx.AsyncClient() as http:
                stored = await http.get(
                    f"{server.url}/backend-api/conversation/{conversation}",
                    headers=server.alice.headers,
                )
            answers = [
                node["message"]
                for node in stored.json()["mapping"].values()
                if node.get("message") and node["message"]["author"]["role"] == "assistant"
            ]
            assert [a["content"]["parts"] for a in answers] == [["Hel"]]
            assert answers[0]["status"] == "finished_partial_completion"
            await wait_connections(server, "the dead agent is gone", lambda c: c == [])
    finally:
        hold.set()


async def test_an_agent_killed_before_answering_is_replaced(server: Server, tmp_path: Path) -> None:
    hold = threading.Event()
    with running(FakeLLM(models=("m",))) as stuck, running(FakeLLM(models=("m",))) as healthy:
        stuck.script("retry me", Reply(chunks=["never"], hold=hold, hold_after=0))
        try:
            with agent_process(
                server,
                server.agent_token("a"),
                stuck,
                tmp_path / "agent.log",
                "--agent-id",
                "first",
            ) as process:
                await wait_connections(server, "the first agent registered", lambda c: len(c) == 1)
                async with in_process_agent(
                    server, server.agent_token("b"), healthy, agent_id="second"
                ):
                    reply = asyncio.ensure_future(chat(server, "retry me"))
                    await until(
                        stuck.started("retry me").is_set,
                        "the first agent took the request",
                        DEADLINE,
                    )
                    process.send_signal(signal.SIGKILL)
                    assert content(await reply) == "echo: retry me"
                    (listed,) = await wait_connections(
                        server, "only the second is left", lambda c: len(c) == 1
                    )
                    assert listed["Id"] == "second"
        finally:
            hold.set()


async def test_a_frozen_agent_is_dropped_within_a_heartbeat(
    server: Server, fake: FakeLLM, tmp_path: Path
) -> None:
    with agent_process(
        server, server.agent_token("a"), fake, tmp_path / "agent.log", "--agent-id", "frozen"
    ) as process:
        await wait_connections(server, "the agent registered", lambda c: len(c) == 1)
        process.send_signal(signal.SIGSTOP)  # its socket stays open, it answers nothing
        try:
            await wait_connections(server, "the frozen agent was dropped", lambda c: c == [])
            busy = await chat(server, "anyone?")
            assert (
                busy.status_code == 503 and "no backend serves model 'm'" in busy.json()["detail"]
            )
        finally:
            process.send_signal(signal.SIGKILL)


async def test_ctrl_c_finishes_running_requests_first(
    server: Server, fake: FakeLLM, tmp_path: Path
) -> None:
    hold = threading.Event()
    fake.script("slow", Reply(chunks=["part, ", "rest"], hold=hold))
    log = tmp_path / "agent.log"
    try:
        with agent_process(server, server.agent_token("a"), fake, log, "--model", "m") as process:
            await wait_connections(server, "the agent registered", lambda c: len(c) == 1)
            reply = asyncio.ensure_future(chat(server, "slow"))
            await until(fake.started("slow").is_set, "the request runs", DEADLINE)
            process.send_signal(signal.SIGINT)
            await wait_connections(server, "the agent drains", lambda c: c[0]["draining"])
            assert process.poll() is None
            hold.set()
            assert content(await reply) == "part, rest"
            assert await asyncio.to_thread(process.wait, DEADLINE) == 0
            await wait_connections(server, "the agent left", lambda c: c == [])
        assert "finishing 1 running requests" in log.read_text()
    finally:
        hold.set()


# --- several server processes -------------------------------------------------------------


@needs_redis
async def test_an_agent_of_one_server_process_answers_on_another(
    web_settings: Settings, fake: FakeLLM
) -> None:
    """Two apps on one library and one Redis, as two ``--workers`` processes or replicas."""
    settings = web_settings.model_copy(
        update={
            "agent_heartbeat_interval": HEARTBEAT,
            "rate_ask": "100000/minute",
            "redis_url": REDIS_URL,
        }
    )
    first, second = create_app(settings), create_app(settings)
    admin, alice = make_caller(first, "root", is_admin=True), make_caller(first, "alice")
    fake.script("far away", Reply(chunks=["Hello ", "from ", "there"]))
    with serve(first) as first_url, serve(second) as second_url:
        here, there = (
            Server(app, url, admin, alice)
            for app, url in ((first, first_url), (second, second_url))
        )
        async with in_process_agent(here, here.agent_token("box"), fake) as agent:
            listed = await wait_connections(there, "the other process lists the agent", bool)
            assert [c["Id"] for c in listed] == [agent.agent_id]
            mine = await connections(here)
            assert (
                listed[0]["replica"] not in (None, "")
                and listed[0]["replica"] == mine[0]["replica"]
            )
            assert content(await chat(there, "far away")) == "Hello from there"
            async with httpx.AsyncClient(timeout=DEADLINE) as http:
                asked = await http.post(
                    f"{second_url}/api/ask", headers=alice.headers, json={"content": "far away"}
                )
            assert asked.status_code == 200, asked.text
            assert asked.json()["content"] == "Hello from there" and asked.json()["error"] == ""
