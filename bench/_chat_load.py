"""The load generator of ``chat_bench.py``: keep-alive connections that chat on, and what
they measured.

Each connection (:func:`worker`) sends its next request as soon as the previous one ended
and records the time to its first text and to its end (:func:`exchange`); :func:`run`
loads one :class:`Target` from many connections and measures the server's and its own CPU
and the machine's steal meanwhile; :func:`attribute` takes the fake's own part out of each
streamed request's time, so that what is left is the way there and back.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import psutil
from _relay import content_length  # bench/ is on the path: run as a script

TURNS_PER_CHAT = 8


@dataclass
class Group:
    """Several processes whose CPU times count as one (the server's ``--workers``)."""

    processes: list[psutil.Process]

    def cpu_times(self) -> Any:
        times = [p.cpu_times() for p in self.processes]
        return argparse.Namespace(
            user=sum(t.user for t in times), system=sum(t.system for t in times)
        )


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    ttft: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    server_cpu: float = float("nan")
    client_cpu: float = 0.0
    steal: float = float("nan")  # % of the machine's CPU time its hypervisor took (Linux VMs)
    scale: bool = False  # its target's (see ``Target.scale``)
    prompts: list[str] = field(default_factory=list)  # the prompt of each measured request
    sent: list[float] = field(default_factory=list)  # when each was sent (time.monotonic)
    # Per streamed request: its time minus the fake's own part of it (see ``attribute``).
    outside_ttft: list[float] = field(default_factory=list)
    outside_total: list[float] = field(default_factory=list)
    to_backend: list[float] = field(default_factory=list)  # sent -> the fake had read it
    unmatched: int = 0  # measured requests the fake has no timings for

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def failed(self) -> int:
        return sum(self.statuses.values()) - self.ok

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def fetch_timings(fake_port: int) -> dict[str, list[float]]:
    """The fake's timings of the streamed replies since the last call (and forget them)."""
    url = f"http://127.0.0.1:{fake_port}/fake/timings"
    with urllib.request.urlopen(url, timeout=10) as response:
        timings: dict[str, list[float]] = orjson.loads(response.read())
    return timings


def attribute(result: Result, timings: dict[str, list[float]]) -> None:
    """Subtract, from each measured request, the time the fake itself spent on it.

    The fake stamps when it had read the request and began to write the first text and the
    end; the client stamps when it sent the request and read the first text and the end;
    all on ``time.monotonic()``, one clock for every process of the machine. What is left of
    a request's time is what happened outside the fake: the way there and back, through
    Parley for the Parley targets. The fake's own pacing, and how late its timers fire
    when the machine is busy, cancel out.
    """
    samples = zip(result.prompts, result.sent, result.ttft, result.total, strict=True)
    for prompt, sent, ttft, total in samples:
        stamps = timings.get(prompt)
        if stamps is None:
            result.unmatched += 1
            continue
        read, first, end = stamps
        result.to_backend.append(read - sent)
        result.outside_ttft.append(ttft - (first - read))
        result.outside_total.append(total - (end - read))


def added_ms(result: Result, base: Result, q: float, which: str) -> float:
    """The latency ``result`` adds at percentile ``q``: its time outside the fake minus the
    direct requests' (``which`` is "ttft" or "total")."""
    mine, theirs = getattr(result, f"outside_{which}"), getattr(base, f"outside_{which}")
    return percentile_ms(mine, q) - percentile_ms(theirs, q)


def percentile_ms(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000


@dataclass
class Target:
    """How one column's requests are made and recognised."""

    name: str
    port: int
    first_marker: bytes  # bytes of the first event that carries text
    build: Callable[[Chat, bool], bytes]  # (the connection's chat, streaming) -> request
    server: psutil.Process | Group | None = None
    scale: bool = False  # a reference column: streaming only, never judged


@dataclass
class Chat:
    """One connection's conversation: grows by a turn per request, restarts every 8."""

    worker: int
    model: str
    nonce: str = field(default_factory=lambda: secrets.token_hex(4))
    history: list[dict[str, str]] = field(default_factory=list)
    conversation_id: str | None = None
    turns: int = 0

    def next_prompt(self) -> str:
        return f"bench {self.nonce} worker {self.worker} turn {self.turns}: tell me more"

    def advance(self, reply: str) -> None:
        self.history += [
            {"role": "user", "content": self.next_prompt()},
            {"role": "assistant", "content": reply},
        ]
        self.turns += 1
        if self.turns >= TURNS_PER_CHAT:
            self.history, self.turns, self.conversation_id = [], 0, None
            self.nonce = secrets.token_hex(4)


def http_request(port: int, path: str, body: dict[str, Any], token: str | None) -> bytes:
    data = orjson.dumps(body)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def openai_target(
    name: str,
    port: int,
    token: str | None,
    models: dict[str, str],
    prefix: str = "",
    *,
    scale: bool = False,
) -> Target:
    def build(chat: Chat, streaming: bool) -> bytes:
        messages = [*chat.history, {"role": "user", "content": chat.next_prompt()}]
        model = chat.model if streaming else models["instant"]
        return http_request(
            port,
            prefix + "/v1/chat/completions",
            {"model": model, "messages": messages, "stream": streaming},
            token,
        )

    return Target(name, port, b'"delta":{"content":"', build, scale=scale)


def rest_target(port: int, token: str) -> Target:
    def build(chat: Chat, streaming: bool) -> bytes:
        body = {
            "prompt": chat.next_prompt(),
            "stream": streaming,
            "model": chat.model if streaming else "instant",
        }
        path = (
            f"/conversations/{chat.conversation_id}/ask"
            if chat.conversation_id
            else "/conversations/new"
        )
        return http_request(port, path, body, token)

    return Target("rest", port, b"event: delta", build)


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, marker: bytes
) -> tuple[int, float, float, float, bytes]:
    """Send one request; (status, when it was sent, seconds to the first text, seconds to the
    end, first chunk)."""
    clock = time.monotonic  # the clock the fake stamps its timings with
    sent = clock()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    first: float | None = None
    opening = b""
    if b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            data = await reader.readexactly(size + 2)
            if first is None and marker in data:
                first = clock()
            if not opening:
                opening = data
    else:
        length = content_length(head)
        opening = await reader.readexactly(length) if length else b""
        first = clock()
    done = clock()
    return status, sent, (first or done) - sent, done - sent, opening


async def worker(
    target: Target,
    chat: Chat,
    reply: str,
    streaming: bool,
    start_at: float,
    measure_from: float,
    stop_at: float,
    result: Result,
) -> None:
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port, limit=1 << 22)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                status, sent, ttft, total, opening = await exchange(
                    reader, writer, target.build(chat, streaming), target.first_marker
                )
            except (ConnectionError, asyncio.IncompleteReadError):
                status, sent, ttft, total, opening = 0, 0.0, 0.0, 0.0, b""
                writer.close()
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", target.port, limit=1 << 22
                )
            if started >= measure_from and started < stop_at:
                result.statuses[status] += 1
                if 200 <= status < 300:
                    result.ttft.append(ttft)
                    result.total.append(total)
                    result.prompts.append(chat.next_prompt())
                    result.sent.append(sent)
            if 200 <= status < 300:
                if chat.conversation_id is None and target.name == "rest":
                    at = opening.find(b'"conversation_id":"')
                    chat.conversation_id = (
                        opening[at + 19 : opening.index(b'"', at + 19)].decode()
                        if at >= 0
                        else None
                    )
                chat.advance(reply)
    finally:
        writer.close()


def run(
    target: Target,
    *,
    connections: int,
    streaming: bool,
    reply: str,
    models: dict[str, str],
    warmup: float,
    seconds: float,
    spread: float = 0.0,
    pace: str = "paced",
    fake_port: int | None = None,
) -> Result:
    """Load ``target`` from ``connections`` connections; the i-th starts ``i * spread /
    connections`` seconds in, and the warm-up begins once the last one has. With
    ``fake_port``, streamed requests are attributed with the fake's timings (``attribute``)."""
    result = Result(target.name, scale=target.scale)
    if fake_port is not None and streaming:
        fetch_timings(fake_port)  # forget the earlier runs' timings
    me = psutil.Process()

    async def main() -> None:
        start = time.perf_counter()
        measure_from = start + spread + warmup
        stop_at = measure_from + seconds
        model = models[pace if streaming else "instant"]
        tasks = [
            worker(
                target,
                Chat(i, model),
                reply,
                streaming,
                start + i * spread / connections,
                measure_from,
                stop_at,
                result,
            )
            for i in range(connections)
        ]
        gathered = asyncio.gather(*tasks)
        await asyncio.sleep(spread + warmup)
        cpu_server = target.server.cpu_times() if target.server else None
        cpu_me, machine, wall = me.cpu_times(), psutil.cpu_times(), time.perf_counter()
        await asyncio.sleep(seconds)
        result.steal = steal_percent(machine, psutil.cpu_times())
        elapsed = time.perf_counter() - wall
        if target.server and cpu_server:
            now = target.server.cpu_times()
            result.server_cpu = (
                100 * (now.user + now.system - cpu_server.user - cpu_server.system) / elapsed
            )
        now_me = me.cpu_times()
        result.client_cpu = (
            100 * (now_me.user + now_me.system - cpu_me.user - cpu_me.system) / elapsed
        )
        await gathered

    loop = new_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    result.seconds = seconds
    if fake_port is not None and streaming:
        attribute(result, fetch_timings(fake_port))
    return result


def steal_percent(before: Any, after: Any) -> float:
    """The share of the machine's CPU time between two ``psutil.cpu_times()`` that the
    hypervisor gave to other guests (NaN where the system does not count it)."""
    if not hasattr(before, "steal"):
        return float("nan")
    total = sum(after) - sum(before)
    return 100 * (after.steal - before.steal) / total if total > 0 else float("nan")


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()
