"""Web UI speed: the share page of a 100-message conversation and the explore page, beside a
bare page on the same stack, plus how many share views per second are recorded.

    .venv/bin/python bench/web_bench.py [--seconds 5] [--warmup 1] [--concurrency 8]

What it does:

1. builds a fresh SQLite library in a temporary folder through the core: a user, one
   conversation of 100 visible messages (Markdown with code, tables, lists, math) shared
   publicly, and ``--shares`` small public shares so the explore page lists a full page;
2. starts the real server in a child process (``create_app(settings)`` under uvicorn, with
   uvloop and httptools when installed) with three routes added to that app instance only:
   ``GET /bench/bare`` (a tiny HTML page through the same middleware, security headers and
   thread pool), ``GET /bench/view`` (only the share page's view-counting path: bot filter,
   visitor key, ``runtime.views.record``) and ``GET /bench/flushes`` (how many flushes wrote
   how many views, counted around ``runtime.views.flush``); views flush every second;
3. drives each page from an asyncio client in this process over keep-alive HTTP/1.1 with a
   browser's User-Agent and ``Accept: text/html``: first with one connection (latency:
   p50/p99), then with ``--concurrency`` connections (requests/s);
4. views: drives the share page, then ``/bench/view``, with a new visitor on every request
   (``X-Forwarded-For`` varies; the server trusts it here), and reports views recorded per
   second, counted in the database after a final flush, beside the number of database
   writes (flushes) that stored them.

Targets (PASS/FAIL): share page p50 < 15 ms at one connection; at least 1,000 views/s
recorded through ``/bench/view``; fewer database writes than views / 100. Figures depend
on the machine: the load average is printed before and after; compare quiet runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import HTMLResponse

TARGET_SHARE_P50_MS = 15.0
TARGET_VIEWS_PER_SECOND = 1000.0
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36"
MESSAGES = 100


# --- the library ------------------------------------------------------------------------


def long_conversation() -> dict[str, Any]:
    mapping: dict[str, Any] = {"root": {"id": "root", "parent": None, "message": None}}
    parent = "root"
    for index in range(MESSAGES):
        role = "user" if index % 2 == 0 else "assistant"
        if role == "user":
            text = (
                f"Question {index // 2 + 1}: how do I read a **JSON** file line by line?\nThanks!"
            )
        else:
            text = (
                f"Step {index}: open the file and parse each line.\n\n"
                "```python\nimport json\n\nwith open(path) as handle:\n"
                "    for line in handle:\n        item = json.loads(line)\n        print(item['id'])\n```\n\n"
                "| option | effect |\n|---|:---:|\n| `strict` | rejects control characters |\n\n"
                "- streams, so memory stays flat\n- works on huge files\n\n"
                f"The cost is $O(n)$ for $n$ lines (see [the docs](https://docs.python.org/3/library/json.html))."
            )
        node = f"m{index}"
        mapping[node] = {
            "id": node,
            "parent": parent,
            "message": {
                "id": node,
                "author": {"role": role, "name": None, "metadata": {}},
                "create_time": 1_700_000_000 + index * 30,
                "content": {"content_type": "text", "parts": [text]},
                "recipient": "all",
                "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
            },
        }
        parent = node
    return {
        "id": "bench-100",
        "title": "A hundred messages about JSON",
        "create_time": 1_700_000_000,
        "update_time": 1_700_000_000 + MESSAGES * 30,
        "current_node": parent,
        "default_model_slug": "gpt-4o",
        "mapping": mapping,
    }


def small_conversation(index: int) -> dict[str, Any]:
    return {
        "id": f"small-{index}",
        "title": f"Shared conversation {index}",
        "create_time": 1_690_000_000 + index,
        "update_time": 1_690_000_000 + index,
        "current_node": "a",
        "mapping": {
            "u": {
                "id": "u",
                "parent": None,
                "message": {
                    "id": "u",
                    "author": {"role": "user"},
                    "content": {"content_type": "text", "parts": [f"question {index}"]},
                },
            },
            "a": {
                "id": "a",
                "parent": "u",
                "message": {
                    "id": "a",
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["an answer " * 30]},
                },
            },
        },
    }


def build_library(home: Path, shares: int) -> str:
    """Store the conversations and share them; returns the long conversation's share id."""
    from parley import social
    from parley.config import Settings
    from parley.store import conversations, users
    from parley.store.db import open_engine, session_factory, transaction
    from parley.store.rows import explode

    engine = open_engine(Settings(home=home).sqlalchemy_url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        owner = users.create(session, name="bench").id
        conversations.save(session, owner_id=owner, item=explode(long_conversation()))
        long_share = social.share_conversation(
            session, owner_id=owner, conversation_id="bench-100", visibility="public"
        ).id
        for index in range(shares):
            conversations.save(session, owner_id=owner, item=explode(small_conversation(index)))
            social.share_conversation(
                session, owner_id=owner, conversation_id=f"small-{index}", visibility="public"
            )
    engine.dispose()
    return long_share


def views_in_db(home: Path, share_id: str) -> int:
    from parley.config import Settings
    from parley.store import shares
    from parley.store.db import create_db_engine, session_factory, transaction

    engine = create_db_engine(Settings(home=home).sqlalchemy_url)
    with transaction(session_factory(engine)) as session:
        found = shares.get(session, share_id=share_id)
    engine.dispose()
    return found.views if found else -1


# --- the server -------------------------------------------------------------------------


def serve(port: int) -> None:
    """Child process: the real app plus the three /bench routes, under uvicorn."""
    import uvicorn

    from parley import views
    from parley.config import load_settings
    from parley.web import deps
    from parley.web.app import create_app
    from parley.web.responses import FastJSON

    app = create_app(load_settings())
    rt = app.state.runtime
    counted = {"flushes": 0, "views": 0}
    real_flush = rt.views.flush

    def flush(factory: Any) -> int:
        written = int(real_flush(factory))
        if written:
            counted["flushes"] += 1
            counted["views"] += written
        return written

    rt.views.flush = flush

    def bare() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>bare</title><p>ok</p>")

    def view(request: Request, share: str) -> FastJSON:
        agent = request.headers.get("user-agent")
        recorded = False
        if not views.is_bot(agent):
            visitor = views.visitor_key(
                user_id=None, address=deps.client_address(request), user_agent=agent
            )
            recorded = rt.views.record(share, visitor)
        return FastJSON({"recorded": recorded})

    def flushes(now: bool = False) -> FastJSON:
        if now:
            rt.views.flush(rt.factory)
        return FastJSON(counted)

    for path, handler in (
        ("/bench/bare", bare),
        ("/bench/view", view),
        ("/bench/flushes", flushes),
    ):
        app.add_api_route(path, handler, methods=["GET"], include_in_schema=False)
    options: dict[str, Any] = {"loop": "auto", "http": "auto"}
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:
        pass
    try:
        import httptools  # noqa: F401

        options["http"] = "httptools"
    except ImportError:
        pass
    print(f"server: uvicorn loop={options['loop']} http={options['http']}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")},
        "PARLEY_HOME": str(home),
        "PARLEY_ADMIN_KEY": secrets.token_urlsafe(24),
        "PARLEY_RATE_READ": "1000000000/minute",
        "PARLEY_TRUST_FORWARDED_FOR": "true",
        "PARLEY_VIEW_FLUSH_SECONDS": "1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not answer within 60 s:\n{log.read_text()}")


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
        return orjson.loads(answer.read())


# --- the load generator -----------------------------------------------------------------


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    other: int = 0
    body_bytes: int = 0
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000


def request(path: str, port: int, visitor: int | None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"User-Agent: {UA}",
        "Accept: text/html,application/xhtml+xml",
        "Connection: keep-alive",
    ]
    if visitor is not None:
        lines.append(
            f"X-Forwarded-For: 10.{visitor >> 16 & 255}.{visitor >> 8 & 255}.{visitor & 255}"
        )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    at = lower.index(b"\r\ncontent-length:")
    length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
    if length:
        await reader.readexactly(length)
    return int(head[9:12]), length


async def one_connection(
    port: int,
    path: str,
    fresh_visitors: bool,
    counter: list[int],
    measure_from: float,
    stop_at: float,
    result: Result,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    fixed = request(path, port, None)
    try:
        while (sent := time.perf_counter()) < stop_at:
            if fresh_visitors:
                counter[0] += 1
                writer.write(request(path, port, counter[0]))
            else:
                writer.write(fixed)
            status, length = await read_response(reader)
            if sent >= measure_from:
                result.latencies.append(time.perf_counter() - sent)
                if 200 <= status < 300:
                    result.ok += 1
                else:
                    result.other += 1
                result.body_bytes += length
    finally:
        writer.close()


def drive(
    port: int,
    path: str,
    *,
    connections: int,
    warmup: float,
    seconds: float,
    fresh_visitors: bool = False,
    counter: list[int] | None = None,
) -> Result:
    result = Result(seconds=seconds)
    counter = counter if counter is not None else [0]

    async def run() -> None:
        start = time.perf_counter()
        await asyncio.gather(
            *(
                one_connection(
                    port,
                    path,
                    fresh_visitors,
                    counter,
                    start + warmup,
                    start + warmup + seconds,
                    result,
                )
                for _ in range(connections)
            )
        )

    asyncio.run(run())
    return result


# --- main -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--shares", type=int, default=120)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="parley-web-bench-") as folder:
        home = Path(folder)
        started = time.perf_counter()
        share_id = build_library(home, args.shares)
        print(
            f"library: 1 share of {MESSAGES} messages + {args.shares} public shares "
            f"({time.perf_counter() - started:.1f} s)"
        )
        port = free_port()
        proc = start_server(home, port, home / "server.log")
        try:
            return run_all(args, port, home, share_id)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def record_rate(count: int = 200_000) -> float:
    """How fast the in-memory counter itself records distinct visitors (no HTTP, no DB)."""
    from parley.views import MemoryViewCounter

    counter = MemoryViewCounter()
    started = time.perf_counter()
    for index in range(count):
        counter.record("bench01", f"a:{index}")
    return count / (time.perf_counter() - started)


def run_all(args: argparse.Namespace, port: int, home: Path, share_id: str) -> int:
    pages = {"bare": "/bench/bare", "share": f"/c/{share_id}", "explore": "/explore?type=top"}
    latency: dict[str, Result] = {}
    throughput: dict[str, Result] = {}
    for name, path in pages.items():
        latency[name] = drive(port, path, connections=1, warmup=args.warmup, seconds=args.seconds)
        throughput[name] = drive(
            port, path, connections=args.concurrency, warmup=args.warmup, seconds=args.seconds
        )
    print(
        f"\n{'page':<8} {'p50 ms':>8} {'p99 ms':>8} {'req/s @1':>9} "
        f"{'req/s @' + str(args.concurrency):>10} {'p50 @' + str(args.concurrency):>9} "
        f"{'KB':>6} {'non-2xx':>8}"
    )
    for name in pages:
        one, many = latency[name], throughput[name]
        print(
            f"{name:<8} {one.ms(0.5):>8.2f} {one.ms(0.99):>8.2f} {one.rps:>9.0f} "
            f"{many.rps:>10.0f} {many.ms(0.5):>9.2f} "
            f"{one.body_bytes / max(one.ok, 1) / 1024:>6.1f} {one.other + many.other:>8}"
        )
    bare = throughput["bare"].rps
    for name in ("share", "explore"):
        print(f"ratio {name}/bare req/s: {throughput[name].rps / bare:.2f}")

    # views: a new visitor on every request
    before = views_in_db(home, share_id)
    counter = [0]
    flushes_before = get_json(port, "/bench/flushes")
    page_views = drive(
        port,
        f"/c/{share_id}",
        connections=args.concurrency,
        warmup=0,
        seconds=args.seconds,
        fresh_visitors=True,
        counter=counter,
    )
    recorder = drive(
        port,
        f"/bench/view?share={share_id}",
        connections=args.concurrency,
        warmup=0,
        seconds=args.seconds,
        fresh_visitors=True,
        counter=counter,
    )
    flushed = get_json(port, "/bench/flushes?now=true")
    stored = views_in_db(home, share_id) - before
    writes = flushed["flushes"] - flushes_before["flushes"]
    sent = page_views.ok + recorder.ok
    page_rate = page_views.ok / args.seconds
    recorder_rate = recorder.ok / args.seconds
    print(
        f"\nviews through the share page: {page_views.ok} new visitors in {args.seconds:.0f} s "
        f"= {page_rate:.0f} views/s"
    )
    print(
        f"views through the counting path alone (/bench/view): {recorder.ok} in "
        f"{args.seconds:.0f} s = {recorder_rate:.0f} views/s"
    )
    print(f"runtime.views.record alone, in this process (no HTTP): {record_rate():,.0f} views/s")
    print(
        f"views stored after the final flush: {stored} of {sent} sent; database writes: "
        f"{writes} flushes (one UPDATE each) = {stored / max(writes, 1):.0f} views per write"
    )

    checks = [
        (
            f"share page p50 {latency['share'].ms(0.5):.2f} ms < {TARGET_SHARE_P50_MS:.0f} ms",
            latency["share"].ms(0.5) < TARGET_SHARE_P50_MS,
        ),
        (
            f"views recorded {recorder_rate:.0f}/s >= {TARGET_VIEWS_PER_SECOND:.0f}/s",
            recorder_rate >= TARGET_VIEWS_PER_SECOND,
        ),
        (f"views stored = views sent ({stored} = {sent})", stored == sent),
        (f"database writes {writes} < views / 100 ({sent / 100:.0f})", writes < sent / 100),
        (
            "no non-2xx responses",
            all(
                r.other == 0
                for r in [*latency.values(), *throughput.values(), page_views, recorder]
            ),
        ),
    ]
    print()
    for label, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {label}")
    print(f"machine: load average {os.getloadavg()[0]:.2f} after the run")
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
