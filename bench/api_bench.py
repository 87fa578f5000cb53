"""HTTP API throughput and latency of the real server, against a bare endpoint on the same stack.

    .venv/bin/python bench/api_bench.py [--conversations 2500] [--concurrency 50] [--seconds 6]

What it does:

1. builds a fresh SQLite library in a temporary folder and imports ``--conversations``
   generated conversations (:func:`parley.synth.generate`) with
   :class:`parley.importer.Importer`, plus one conversation with exactly 30 visible
   messages; issues a user token;
2. starts the real server in a child process (``create_app(settings)`` under uvicorn, with
   uvloop and httptools when installed) on a free port of 127.0.0.1, with one extra route
   added to that app instance only: ``GET /bench/bare`` (an ``async def`` returning a tiny
   JSON object through the same routing, middleware and response class as the API routes,
   which run on the event loop too, without auth or database);
3. drives each endpoint with ``--concurrency`` keep-alive HTTP/1.1 connections for
   ``--seconds`` (after ``--warmup`` seconds) from a small asyncio client in this process
   (prebuilt request bytes, one request in flight per connection), and measures:
   bare ``/bench/bare``, list ``/backend-api/conversations?offset=0&limit=100``, detail
   ``/backend-api/conversation/<the 30-message id>``;
4. prints requests/s, p50 and p99 latency and non-2xx responses per endpoint, the CPU
   used by the server and by the load generator (to show which side was saturated), the
   ratios list/bare and detail/bare, and the targets with PASS/FAIL.

Every figure printed comes from the measurement of this run.
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

TARGET_LIST_RATIO = 0.25
TARGET_DETAIL_RATIO = 0.2
TARGET_P99_MS = 50.0
DETAIL_ID = "bench-30-visible-messages"
DETAIL_MESSAGES = 30


# --- the library ------------------------------------------------------------------------


def thirty_message_conversation(now: float) -> dict[str, Any]:
    """A linear conversation: a null root, then 30 alternating user/assistant messages."""
    mapping: dict[str, Any] = {
        "root": {"id": "root", "message": None, "parent": None, "children": ["m0"]}
    }
    for index in range(DETAIL_MESSAGES):
        node = f"m{index}"
        role = "user" if index % 2 == 0 else "assistant"
        text = (
            f"Question {index // 2 + 1}: how does step {index} of the pipeline work?"
            if role == "user"
            else f"Step {index} reads the input, checks it and writes the result. " * 6
        )
        mapping[node] = {
            "id": node,
            "parent": "root" if index == 0 else f"m{index - 1}",
            "children": [f"m{index + 1}"] if index < DETAIL_MESSAGES - 1 else [],
            "message": {
                "id": node,
                "author": {"role": role, "name": None, "metadata": {}},
                "create_time": now - 3600 + index * 60,
                "update_time": None,
                "content": {"content_type": "text", "parts": [text]},
                "status": "finished_successfully",
                "end_turn": role == "assistant" or None,
                "weight": 1.0,
                "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
                "recipient": "all",
            },
        }
    return {
        "id": DETAIL_ID,
        "conversation_id": DETAIL_ID,
        "title": "Thirty visible messages",
        "create_time": now - 3600,
        "update_time": now - 3600 + DETAIL_MESSAGES * 60,
        "mapping": mapping,
        "current_node": f"m{DETAIL_MESSAGES - 1}",
        "default_model_slug": "gpt-4o",
        "is_archived": False,
    }


def fallback_generate(count: int, *, seed: int, start: float) -> Any:
    """Used only if parley.synth.generate is missing: short two-message conversations."""
    for index in range(count):
        cid = f"fallback-{seed}-{index:06d}"
        when = start + index * 600
        yield {
            "id": cid,
            "title": f"Conversation {index}",
            "create_time": when,
            "update_time": when + 60,
            "current_node": "a",
            "mapping": {
                "root": {"id": "root", "message": None, "parent": None, "children": ["u"]},
                "u": {
                    "id": "u",
                    "parent": "root",
                    "children": ["a"],
                    "message": {
                        "id": "u",
                        "author": {"role": "user"},
                        "content": {"content_type": "text", "parts": [f"question {index}"]},
                    },
                },
                "a": {
                    "id": "a",
                    "parent": "u",
                    "children": [],
                    "message": {
                        "id": "a",
                        "author": {"role": "assistant"},
                        "content": {"content_type": "text", "parts": ["an answer " * 40]},
                    },
                },
            },
        }


def build_library(home: Path, count: int) -> tuple[str, dict[str, Any]]:
    """Import the conversations; returns a user token and the import report."""
    from parley import synth
    from parley.config import Settings
    from parley.formats.chatgpt import RawConversation
    from parley.importer import Importer
    from parley.store import users
    from parley.store.db import open_engine, session_factory, transaction

    settings = Settings(home=home)
    engine = open_engine(settings.sqlalchemy_url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        user = users.create(session, name="bench")
        token = users.issue_token(session, user_id=user.id, label="api_bench")
    now = time.time()
    start = now - 365 * 86400
    generate = getattr(synth, "generate", None) or fallback_generate
    importer = Importer(factory, owner_id=user.id)
    for index, item in enumerate(generate(count, seed=0, start=start)):
        importer.add(RawConversation(orjson.dumps(item), item, f"bench[{index}]"))
    special = thirty_message_conversation(now)
    importer.add(RawConversation(orjson.dumps(special), special, "bench[30-messages]"))
    report = importer.finish().as_json()
    engine.dispose()
    return token, report


# --- the server -------------------------------------------------------------------------


def bench_app() -> Any:
    """The real app from PARLEY_* settings, plus /bench/bare (and /bench/auth)."""
    from parley.config import load_settings
    from parley.web.app import create_app
    from parley.web.responses import FastJSON

    app = create_app(load_settings())

    async def bare() -> FastJSON:
        return FastJSON({"ok": True})

    app.add_api_route("/bench/bare", bare, methods=["GET"], include_in_schema=False)
    if os.environ.get("PARLEY_BENCH_BREAKDOWN"):
        from fastapi import Depends

        from parley.store.users import User
        from parley.web import deps

        async def bare_auth(user: User = Depends(deps.current_user)) -> FastJSON:
            return FastJSON({"ok": True})

        app.add_api_route(
            "/bench/auth",
            bare_auth,
            methods=["GET"],
            include_in_schema=False,
            dependencies=[Depends(deps.rate_limit("read"))],
        )
    return app


def serve(port: int, workers: int) -> None:
    """Child process: :func:`bench_app` under uvicorn, in ``workers`` processes."""
    import uvicorn

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
    print(
        f"server: uvicorn loop={options['loop']} http={options['http']} workers={workers}",
        flush=True,
    )
    if workers > 1:
        options.update(factory=True, workers=workers, app_dir=str(Path(__file__).parent))
        app: Any = "api_bench:bench_app"
    else:
        app = bench_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **options)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    home: Path, port: int, log: Path, breakdown: bool, workers: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PARLEY_BENCH_BREAKDOWN": "1" if breakdown else "",
        "PARLEY_HOME": str(home),
        "PARLEY_ADMIN_KEY": secrets.token_urlsafe(24),
        "PARLEY_RATE_READ": "1000000000/minute",
        "PARLEY_RATE_ASK": "1000000000/minute",
    }
    for key in ("PARLEY_DATABASE_URL", "PARLEY_REDIS_URL"):
        env.pop(key, None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not answer within 60 s:\n{log.read_text()}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- the load generator -----------------------------------------------------------------


@dataclass
class Result:
    name: str
    path: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    body_bytes: int = 0
    server_cpu: float = 0.0  # percent of one core, averaged over the run
    client_cpu: float = 0.0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.ok

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pooled(self, other: Result) -> Result:
        """This round and another of the same endpoint, as one measurement (CPU averaged
        by time)."""
        seconds = self.seconds + other.seconds
        return Result(
            self.name,
            self.path,
            seconds,
            self.latencies + other.latencies,
            self.statuses + other.statuses,
            self.body_bytes + other.body_bytes,
            (self.server_cpu * self.seconds + other.server_cpu * other.seconds) / seconds,
            (self.client_cpu * self.seconds + other.client_cpu * other.seconds) / seconds,
        )

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
        return ordered[index] * 1000


def request_bytes(path: str, port: int, token: str | None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Accept: application/json",
        "Connection: keep-alive",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int, bool]:
    """(status, body length, server closes) of one Content-Length response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    end = lower.index(b"\r\n", at + 2)
    length = int(lower[at + 17 : end])
    if length:
        await reader.readexactly(length)
    return status, length, b"\r\nconnection: close" in lower


async def connection(
    port: int, request: bytes, stop_at: float, measure_from: float, result: Result
) -> None:
    """One keep-alive connection, one request in flight.

    Like an HTTP client, a request whose reused connection turns out closed by the server
    (uvicorn closes it after a 500 from an unhandled error) is sent again once on a new
    one; a request that fails on a fresh connection counts as status 0.
    """
    clock = time.perf_counter
    writer: asyncio.StreamWriter | None = None
    try:
        while True:
            sent = clock()
            if sent >= stop_at:
                return
            for attempt in (1, 2):
                fresh = writer is None
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
                writer.write(request)
                try:
                    status, length, closing = await read_response(reader)
                    break
                except (ConnectionError, asyncio.IncompleteReadError):
                    writer.close()
                    writer = None
                    status, length, closing = 0, 0, False
                    if fresh or attempt == 2:
                        break
            if sent >= measure_from:
                result.latencies.append(clock() - sent)
                result.statuses[status] += 1
                result.body_bytes += length
            if closing and writer is not None:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def drive(
    port: int, request: bytes, concurrency: int, warmup: float, seconds: float, result: Result
) -> None:
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    await asyncio.gather(
        *(connection(port, request, stop_at, measure_from, result) for _ in range(concurrency))
    )
    # Requests sent before stop_at finish after it; count the window they were sent in.
    result.seconds = seconds


def run_endpoint(
    name: str,
    path: str,
    *,
    port: int,
    token: str | None,
    concurrency: int,
    warmup: float,
    seconds: float,
    server: psutil.Process,
) -> Result:
    result = Result(name, path)
    request = request_bytes(path, port, token)
    me = psutil.Process()
    loop = new_loop()
    try:
        server_before, me_before = None, None

        async def sample_after_warmup() -> None:
            nonlocal server_before, me_before
            await asyncio.sleep(warmup)
            server_before = (time.perf_counter(), _cpu(server, children=True))
            me_before = _cpu(me)

        async def both() -> None:
            await asyncio.gather(
                drive(port, request, concurrency, warmup, seconds, result),
                sample_after_warmup(),
            )

        loop.run_until_complete(both())
        assert server_before is not None and me_before is not None
        wall = time.perf_counter() - server_before[0]
        result.server_cpu = 100 * (_cpu(server, children=True) - server_before[1]) / wall
        result.client_cpu = 100 * (_cpu(me) - me_before) / wall
    finally:
        loop.close()
    return result


def _cpu(process: psutil.Process, *, children: bool = False) -> float:
    """CPU seconds of the process, and of its live children (the server's workers)."""
    total = 0.0
    for each in (process, *(process.children(recursive=True) if children else ())):
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


# --- checks and report ------------------------------------------------------------------


def fetch_json(port: int, path: str, token: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return orjson.loads(response.read())


def check_library(port: int, token: str, count: int) -> None:
    from parley import tree

    page = fetch_json(port, "/backend-api/conversations?offset=0&limit=100", token)
    if len(page["items"]) != 100 or page["total"] < count:
        raise SystemExit(f"unexpected list page: {len(page['items'])} items of {page['total']}")
    detail = fetch_json(port, f"/backend-api/conversation/{DETAIL_ID}", token)
    visible = len(tree.visible_messages(detail))
    if visible != DETAIL_MESSAGES:
        raise SystemExit(f"the detail conversation has {visible} visible messages, not 30")
    print(
        f"library: {page['total']:,} conversations; list page 100 items; "
        f"detail {DETAIL_ID} has {visible} visible messages"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(results: dict[str, Result], concurrency: int, seconds: float) -> bool:
    print()
    print(f"{concurrency} keep-alive connections, {seconds:g} s per endpoint")
    header = (
        f"{'endpoint':<8} {'path':<46} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'non-2xx':>8} {'KB/resp':>8} {'srv CPU':>8} {'gen CPU':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results.values():
        size = result.body_bytes / max(1, sum(result.statuses.values())) / 1024
        print(
            f"{result.name:<8} {result.path[:46]:<46} {result.rps:>9,.0f} "
            f"{result.percentile_ms(0.50):>8.2f} {result.percentile_ms(0.99):>8.2f} "
            f"{result.errors:>8} {size:>8.1f} {result.server_cpu:>7.0f}% {result.client_cpu:>7.0f}%"
        )
    for result in results.values():
        if result.errors:
            seen = ", ".join(
                f"{'dropped connection' if status == 0 else status} x{count}"
                for status, count in sorted(result.statuses.items())
                if not 200 <= status < 300
            )
            print(f"{result.name}: non-2xx responses: {seen}")
    bare, listing, detail = results["bare"], results["list"], results["detail"]
    list_ratio = listing.rps / bare.rps if bare.rps else 0.0
    detail_ratio = detail.rps / bare.rps if bare.rps else 0.0
    checks = [
        (
            f"list/bare   = {list_ratio:.3f}  (target >= {TARGET_LIST_RATIO})",
            list_ratio >= TARGET_LIST_RATIO,
        ),
        (
            f"detail/bare = {detail_ratio:.3f}  (target >= {TARGET_DETAIL_RATIO})",
            detail_ratio >= TARGET_DETAIL_RATIO,
        ),
        (
            f"list p99    = {listing.percentile_ms(0.99):.2f} ms  (target < {TARGET_P99_MS:g} ms)",
            listing.percentile_ms(0.99) < TARGET_P99_MS,
        ),
        (
            f"detail p99  = {detail.percentile_ms(0.99):.2f} ms  (target < {TARGET_P99_MS:g} ms)",
            detail.percentile_ms(0.99) < TARGET_P99_MS,
        ),
        (
            f"non-2xx     = {sum(r.errors for r in results.values())}  (target 0)",
            all(r.errors == 0 for r in results.values()),
        ),
    ]
    print()
    print("targets")
    for text, ok in checks:
        print(f"  {verdict(ok)}  {text}")
    passed = all(ok for _, ok in checks)
    print(f"overall: {verdict(passed)}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=2500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="Measured seconds per endpoint, all rounds."
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="Seconds before measuring.")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="Measure the endpoints in turn this many times (each for seconds/rounds).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary library.")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="Also measure /bench/auth: the bare route plus the API routes' token and "
        "rate-limit dependencies (shows what auth costs; not part of the targets).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Server processes (`parley serve --workers`); default 1, the default of "
        "`parley serve`.",
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.workers)
        return 0

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (other work skews the figures)")
    folder = Path(tempfile.mkdtemp(prefix="parley-api-bench-"))
    home = folder / "home"
    print(f"library: {home}")
    started = time.perf_counter()
    token, imported = build_library(home, args.conversations)
    print(
        f"import: {imported['imported']:,} imported, {len(imported['failed'])} failed "
        f"in {time.perf_counter() - started:.1f} s"
    )
    port = free_port()
    proc = start_server(home, port, folder / "server.log", args.breakdown, args.workers)
    try:
        print((folder / "server.log").read_text().strip())
        check_library(port, token, args.conversations)
        server = psutil.Process(proc.pid)
        endpoints = [
            ("bare", "/bench/bare", None),
            ("list", "/backend-api/conversations?offset=0&limit=100", token),
            ("detail", f"/backend-api/conversation/{DETAIL_ID}", token),
        ]
        if args.breakdown:
            endpoints.append(("auth", "/bench/auth", token))
        results: dict[str, Result] = {}
        # Rounds of every endpoint in turn, so that a slow spell of the machine is shared
        # by all of them instead of falling on one; each endpoint's figures pool its rounds.
        for round_ in range(1, args.rounds + 1):
            for name, path, auth in endpoints:
                measured = run_endpoint(
                    name,
                    path,
                    port=port,
                    token=auth,
                    concurrency=args.concurrency,
                    warmup=args.warmup,
                    seconds=args.seconds / args.rounds,
                    server=server,
                )
                print(
                    f"round {round_}: {name} {measured.rps:,.0f} req/s "
                    f"p99 {measured.percentile_ms(0.99):.1f} ms",
                    flush=True,
                )
                if os.environ.get("HIST"):
                    print(
                        "   ",
                        " ".join(
                            f"p{int(q * 100)}={measured.percentile_ms(q):.1f}"
                            for q in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
                        ),
                    )
                results[name] = results[name].pooled(measured) if name in results else measured
    finally:
        stop_server(proc)
        log = (folder / "server.log").read_text().strip().splitlines()
        errors = [line for line in log if "Error" in line or "Traceback" in line]
        if errors:
            print(f"server log ({folder / 'server.log'}), first errors:")
            for line in errors[:5]:
                print(f"  {line}")
    passed = report(results, args.concurrency, args.seconds)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average after the run: {load}")
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
