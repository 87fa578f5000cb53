"""The "through an agent" column of ``bench/chat_bench.py`` (its :class:`AgentHook`).

``chat_bench.py`` loads this file and uses :data:`HOOK`:

* ``server_env``: the Parley server's agent settings (a normal heartbeat; a queue wait
  long enough that a burst of requests waits for a slot instead of failing);
* ``start``: issues an agent token through ``POST /admin/agents/add`` (with the bench's
  admin key), starts ``PARLEY_BENCH_AGENTS`` (default 1) real ``parley agent`` processes
  relaying to the bench's fake backend, each with ``--concurrency``
  ``PARLEY_BENCH_AGENT_CONCURRENCY`` (default 256, above the bench's connection counts)
  and the models ``agent-paced=paced`` and ``agent-instant=instant`` (so only agents
  serve them), waits until ``GET /api/connections`` lists them all, and returns those
  model names;
* ``stop``: Ctrl-C (SIGINT) to each agent, which finishes its running requests and exits;
  killed after 10 s.

The agents' CPU is not in the server's CPU column: they are separate processes, as they
would be on the machines that run the models.

Run on its own, it measures what the agent path alone adds, without the chat engine:

    .venv/bin/python bench/_agent_target.py [--streams 100] [--seconds 10]

It starts the same fake backend, a server that carries only the agents' routes and a bare
``POST /v1/chat/completions`` streaming straight from the hub (no storage, no auth), and
the same agent processes; then it measures direct vs. that route with chat_bench's load
generator (streams arriving spread, as chat_bench's ``spread``; the added latency per
request, with the fake's timings) and prints the added latency p50/p99 with PASS/FAIL
against 10 ms at p50 for the streams, and the non-streaming requests/s against 300 (with
closed-loop connections on the instant model the server is saturated, and a request's
latency there is the connections over the throughput).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

MODELS = {"paced": "agent-paced", "instant": "agent-instant", "batched": "agent-batched"}


class AgentTarget:
    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.count = int(os.environ.get("PARLEY_BENCH_AGENTS", "1"))
        self.concurrency = int(os.environ.get("PARLEY_BENCH_AGENT_CONCURRENCY", "256"))

    def server_env(self, ctx: Any) -> dict[str, str]:
        return {"PARLEY_AGENT_HEARTBEAT_INTERVAL": "15", "PARLEY_AGENT_QUEUE_TIMEOUT": "30"}

    def start(self, ctx: Any) -> dict[str, str]:
        issued = _post(
            f"{ctx.parley_url}/admin/agents/add", {"admin_key": ctx.admin_key, "name": "bench"}
        )
        env = {**os.environ, "PARLEY_AGENT_TOKEN": issued["token"]}
        for index in range(self.count):
            log = Path(ctx.home).parent / f"agent-{index}.log"
            command = [
                ctx.python, "-m", "parley.cli.main", "agent",
                "--server", ctx.parley_url, "--backend-url", ctx.fake_url,
                "--agent-id", f"bench-{index}", "--concurrency", str(self.concurrency),
                *(f"--model={name}={local}" for local, name in MODELS.items()),
            ]  # fmt: skip
            with log.open("wb") as out:
                self.processes.append(
                    subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
                )
        self._wait_registered(ctx)
        print(f"agents: {self.count} `parley agent` processes, concurrency {self.concurrency}")
        return dict(MODELS)

    def _wait_registered(self, ctx: Any) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise SystemExit(f"an agent exited with {process.returncode}; see its log")
            request = urllib.request.Request(
                f"{ctx.parley_url}/api/connections",
                headers={"Authorization": f"Bearer {ctx.admin_key}"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                listed = json.loads(response.read())["connections"]
            if len(listed) >= self.count:
                return
            time.sleep(0.1)
        raise SystemExit("the agents did not register within 60 s")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def _post(url: str, body: dict[str, str]) -> dict[str, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, str] = json.loads(response.read())
    return result


HOOK = AgentTarget()


# --- on its own: the agent path without the engine ------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def _chat_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "chat_bench", Path(__file__).with_name("chat_bench.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["chat_bench"] = module
    spec.loader.exec_module(module)
    return module


def serve_hub(port: int) -> None:
    """Child process: the agents' routes and a bare completions route over the hub."""
    import uvicorn
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse

    from parley.chat.backends.base import ChatRequest
    from parley.config import load_settings
    from parley.web import errors
    from parley.web.api import agent_admin, agents
    from parley.web.runtime import Runtime

    runtime = Runtime.start(load_settings())
    app = FastAPI()
    app.state.runtime = runtime
    errors.install(app)
    app.include_router(agents.router)
    app.include_router(agent_admin.router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def complete(request: Request) -> Response:  # a Starlette endpoint: no injection
        body = json.loads(await request.body())
        chat = ChatRequest(model=body["model"], messages=body["messages"])
        stream = agents.hub_of(runtime).stream(chat)
        if not body.get("stream"):
            text = "".join([chunk.text async for chunk in stream])
            message = {"role": "assistant", "content": text}
            return Response(
                json.dumps({"choices": [{"index": 0, "message": message}]}),
                media_type="application/json",
            )

        async def events() -> Any:
            async for chunk in stream:
                if chunk.text:
                    event = {"choices": [{"index": 0, "delta": {"content": chunk.text}}]}
                    delta = json.dumps(event, separators=(",", ":"))
                    yield f"data: {delta}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    app.router.add_route("/v1/chat/completions", complete, methods=["POST"])

    options: dict[str, Any] = {}
    if importlib.util.find_spec("uvloop"):
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools"):
        options["http"] = "httptools"
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **options)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve-hub", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--streams", type=int, default=100, help="Concurrent streams (default 100)."
    )
    parser.add_argument(
        "--concurrency", type=int, default=100, help="Connections for the non-streaming run."
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per target.")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="Unmeasured seconds first, per target."
    )
    parser.add_argument("--pieces", type=int, default=20, help="Pieces per reply.")
    parser.add_argument(
        "--first-delay", type=float, default=0.5, help="The paced model's time to first token (s)."
    )
    parser.add_argument(
        "--delay", type=float, default=0.05, help="Seconds between the paced model's pieces."
    )
    args = parser.parse_args()
    if args.serve_hub:
        serve_hub(args.serve_hub)
        return
    bench = _chat_bench()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    workdir = Path(tempfile.mkdtemp(prefix="parley-agent-bench-"))
    home, admin_key = workdir / "home", secrets.token_urlsafe(24)
    fake, fake_port = bench.start_fake(args, workdir / "fake.log")
    port = bench.free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")},
        "PARLEY_HOME": str(home),
        "PARLEY_ADMIN_KEY": admin_key,
        **HOOK.server_env(None),
    }
    log = workdir / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve-hub", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    processes = [fake, server]
    try:
        bench.wait_http(server, f"http://127.0.0.1:{port}/healthz", log)
        ctx = bench.BenchContext(
            f"http://127.0.0.1:{fake_port}/v1",
            f"http://127.0.0.1:{port}",
            "",
            admin_key,
            home,
            sys.executable,
        )
        models = HOOK.start(ctx)
        import psutil

        direct = bench.openai_target(
            "direct", fake_port, None, {"paced": "paced", "instant": "instant"}
        )
        direct.server = psutil.Process(fake.pid)
        hub = bench.openai_target("agent-only", port, None, models)
        hub.server = psutil.Process(server.pid)
        reply = "".join(f"tok{i} " for i in range(args.pieces))
        results = []
        agents = [psutil.Process(p.pid) for p in HOOK.processes]
        for streaming, connections in ((True, args.streams), (False, args.concurrency)):
            for target in (direct, hub):
                names = models if target is hub else {"paced": "paced", "instant": "instant"}
                before = [a.cpu_times() for a in agents]
                wall = time.perf_counter()
                result = bench.run(
                    target,
                    connections=connections,
                    streaming=streaming,
                    reply=reply,
                    models=names,
                    warmup=args.warmup,
                    seconds=args.seconds,
                    spread=(args.first_delay + args.pieces * args.delay) if streaming else 0.0,
                    fake_port=fake_port,
                )
                wall = time.perf_counter() - wall
                used = sum(
                    now.user + now.system - then.user - then.system
                    for now, then in zip([a.cpu_times() for a in agents], before, strict=True)
                )
                result.agent_cpu = 100 * used / wall if target is hub else float("nan")
                results.append((streaming, result))
    finally:
        HOOK.stop()
        for proc in reversed(processes):
            bench.stop(proc)
    print(f"machine after: load average {os.getloadavg()[0]:.2f}")
    passed = _report(bench, results, args)
    raise SystemExit(0 if passed else 1)


def _added(
    bench: ModuleType, r: Any, q: float, which: str = "total", *, base: Any, streaming: bool
) -> float:
    """What ``r`` adds to ``base`` at percentile ``q``: per request with the fake's timings
    when streaming (``_chat_load.attribute``), else the difference of the percentiles."""
    if streaming:
        return float(bench.added_ms(r, base, q, which))
    ms = bench.percentile_ms
    return float(ms(getattr(r, which), q) - ms(getattr(base, which), q))


def _report(bench: ModuleType, results: list[tuple[bool, Any]], args: argparse.Namespace) -> bool:
    ms = bench.percentile_ms
    checks = []
    for streaming in (True, False):
        rows = [r for s, r in results if s is streaming]
        base = rows[0]
        kind = (
            f"streaming, {args.streams} streams"
            if streaming
            else f"non-streaming, {args.concurrency} connections"
        )
        print(f"\n{kind}: direct to the fake vs. through hub + agent (no engine)")
        print(
            f"{'target':12}{'req/s':>8}{'ttft p50':>11}{'ttft p99':>11}{'total p50':>11}{'total p99':>11}{'added total p50/p99':>24}{'failed':>8}{'server cpu':>12}{'agent cpu':>11}"
        )
        added = functools.partial(_added, bench, base=base, streaming=streaming)
        for r in rows:
            added_text = f"{added(r, 0.5):.2f}/{added(r, 0.99):.2f} ms" if r is not base else ""
            print(
                f"{r.name:12}{r.rps:8.1f}{ms(r.ttft, 0.5):9.2f}ms{ms(r.ttft, 0.99):9.2f}ms{ms(r.total, 0.5):9.2f}ms{ms(r.total, 0.99):9.2f}ms{added_text:>24}{r.failed:8d}{r.server_cpu:11.0f}%{getattr(r, 'agent_cpu', float('nan')):10.0f}%"
            )
        hub = rows[1]
        if streaming:
            added_ttft, added_total = added(hub, 0.5, "ttft"), added(hub, 0.5)
            checks += [
                (
                    f"agent path: added first token latency p50 {added_ttft:.2f} ms < 10 ms",
                    added_ttft < 10,
                ),
                (
                    f"agent path: added total latency p50 {added_total:.2f} ms < 10 ms",
                    added_total < 10,
                ),
            ]
        else:  # closed-loop and saturated: its latency is connections / throughput
            checks.append(
                (
                    f"agent path: {hub.rps:.0f} non-streaming requests/s >= "
                    f"{bench.TARGET_V1_RPS:.0f}",
                    hub.rps >= bench.TARGET_V1_RPS,
                )
            )
        checks.append((f"agent path ({kind}): failed requests {hub.failed} == 0", hub.failed == 0))
    print("\ntargets:")
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    return all(ok for _, ok in checks)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
