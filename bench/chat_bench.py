"""Chat latency and throughput: Parley beside the same requests sent straight to the backend.

    .venv/bin/python bench/chat_bench.py [--streams 100] [--seconds 10] [--arrival spread,batched,herd]

What it does, in one run:

1. starts the fake OpenAI-compatible backend (``tests/support/fake_openai.py``) in a child
   process, recording its timings; it serves three models: ``paced`` (the first token
   after ``--first-delay`` seconds, then ``--pieces`` pieces ``--delay`` seconds apart,
   like an LLM streaming), ``batched`` (the same, every piece on the shared steps of
   ``--delay`` on the monotonic clock, like a server decoding all its requests in one
   batch) and ``instant`` (the same reply at once);
2. starts ``bench/_relay.py`` in front of the fake (a byte-for-byte relay: the scale) and
   the real Parley server in a child process (``create_app`` under uvicorn, with uvloop
   and httptools when installed; ``--workers`` processes sharing the port, with
   ``PARLEY_REDIS_URL`` from ``--redis``) on a fresh SQLite library, with
   ``PARLEY_OPENAI_BASE_URL`` pointing at the fake, and issues a user token;
3. if ``bench/_agent_target.py`` exists, lets it start worker agents (see
   :class:`AgentHook`): their column measures requests answered through an agent;
4. streaming: for each target, ``--streams`` concurrent keep-alive connections, each
   sending its next request as soon as the previous one ended, for ``--seconds`` after
   ``--warmup``; time to first token (first text event) and total time (last byte).
   Arrival patterns (:data:`ARRIVALS`): ``spread`` (first requests evenly spread over one
   reply's duration, as independent users' requests arrive), ``batched`` (spread, on the
   ``batched`` model) and ``herd`` (all started in the same instant; not judged). The
   warm-up begins once every connection has started:
   * direct: ``POST /v1/chat/completions`` on the fake itself (the baseline);
   * relay: the same through ``bench/_relay.py`` (not judged);
   * frame: the same relayed by Parley's server through its web stack alone (uvicorn,
     middleware, routing, ``EventStream``; ``_relay.add_frame_route``), not judged;
   * rest: ``POST /conversations/{id}/ask`` with ``"stream": true`` (each connection
     chats on in its own conversation, a new one every 8 turns);
   * v1: ``POST /v1/chat/completions`` on Parley, each request extending the
     connection's chat (so the proxy continues the stored conversation);
   * agent: as v1, with models only the agents serve;
5. throughput: the same without streaming on the ``instant`` model, ``--concurrency``
   connections, direct and v1 (and agent);
6. prints per target the requests/s, p50/p99 of both times, the added latency per
   request (``_chat_load.attribute``: each request's time minus the fake's own part of it, that
   percentile minus the direct requests'), where that time goes, the CPU used by the
   server and this load generator, the machine's CPU steal (a shared VM's hypervisor
   giving the CPUs to other guests), and the targets with PASS/FAIL: added p50 (first
   token and total) under 5 ms for rest and v1 and under 10 ms through an agent, under
   each judged pattern measured; at least 300 non-streaming requests/s through /v1; no
   failed request. Exit status 0 only when all pass.

Every figure printed comes from the measurement of this run. The load generator is
``bench/_chat_load.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil
from _chat_load import (  # bench/ is on the path: run as a script
    Group,
    Result,
    added_ms,
    openai_target,
    percentile_ms,
    rest_target,
    run,
)
from _relay import add_frame_route

ROOT = Path(__file__).resolve().parent.parent
TARGET_ADDED_MS = 5.0
TARGET_AGENT_ADDED_MS = 10.0
TARGET_V1_RPS = 300.0


# --- the hook for the agents' column -------------------------------------------------------


@dataclass(frozen=True)
class BenchContext:
    fake_url: str  # the fake backend's base URL (…/v1)
    parley_url: str  # http://127.0.0.1:PORT
    token: str  # a Parley user token
    admin_key: str
    home: Path  # the server's PARLEY_HOME
    python: str  # the interpreter to start child processes with


class AgentHook(Protocol):
    """What ``bench/_agent_target.py`` provides as ``HOOK`` (the agents' column).

    ``server_env`` adds environment variables to the Parley server before it starts;
    ``start`` connects agents to it (relaying to ``ctx.fake_url``), waits until they are
    ready and returns the model names they serve for the bench's ``paced`` and
    ``instant`` models (e.g. ``{"paced": "agent-paced", "instant": "agent-instant"}``);
    ``stop`` ends them.
    """

    def server_env(self, ctx: BenchContext) -> dict[str, str]: ...

    def start(self, ctx: BenchContext) -> dict[str, str]: ...

    def stop(self) -> None: ...


def load_agent_hook() -> AgentHook | None:
    path = Path(__file__).with_name("_agent_target.py")
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_agent_target", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hook: AgentHook = module.HOOK
    return hook


# --- child processes ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_fake(args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [
        sys.executable, "-m", "tests.support.fake_openai", "--port", str(port),
        "--pieces", str(args.pieces), "--first-delay", str(args.first_delay),
        "--delay", str(args.delay), "--paced-model", "paced", "--instant-model", "instant",
        "--batched-model", "batched", "--timings",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    wait_http(proc, f"http://127.0.0.1:{port}/v1/models", log)
    return proc, port


def start_relay(fake_port: int, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [
        sys.executable,
        str(Path(__file__).with_name("_relay.py")),
        str(port),
        str(fake_port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    wait_http(proc, f"http://127.0.0.1:{port}/v1/models", log)
    return proc, port


def serve(port: int) -> None:
    """Child process: the real app from PARLEY_* settings, under uvicorn. Its socket is
    bound with ``SO_REUSEPORT``: with ``--workers N`` N of these share the port and the
    kernel spreads the connections over them, as over ``parley serve --workers N``."""
    import uvicorn

    from parley.config import load_settings
    from parley.web.app import create_app

    options: dict[str, Any] = {"loop": "auto", "http": "auto"}
    if importlib.util.find_spec("uvloop"):
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools"):
        options["http"] = "httptools"
    print(f"server: uvicorn loop={options['loop']} http={options['http']}", flush=True)
    settings = load_settings()
    app = create_app(settings)
    add_frame_route(app, urllib.parse.urlsplit(settings.openai_base_url).port or 80)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, **options)
    uvicorn.Server(config).run(sockets=[sock])


def start_parley(
    home: Path, port: int, fake_url: str, admin_key: str, extra: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """One server process on ``port`` (see :func:`serve`); returns once it answers."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")},
        "PARLEY_HOME": str(home),
        "PARLEY_ADMIN_KEY": admin_key,
        "PARLEY_OPENAI_BASE_URL": fake_url,
        "PARLEY_DEFAULT_MODEL": "paced",
        "PARLEY_RATE_READ": "1000000000/minute",
        "PARLEY_RATE_ASK": "1000000000/minute",
        **extra,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_http(proc, f"http://127.0.0.1:{port}/healthz", log)
    return proc


def wait_http(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"{url}: the process exited with {proc.returncode}:\n{log.read_text()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{url} did not answer within 60 s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_user(home: Path) -> str:
    from parley.config import Settings
    from parley.store import users
    from parley.store.db import open_engine, session_factory, transaction

    engine = open_engine(Settings(home=home).sqlalchemy_url)
    with transaction(session_factory(engine)) as session:
        user = users.create(session, name="bench")
        token = users.issue_token(session, user_id=user.id, label="chat_bench")
    engine.dispose()
    return token


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """How the streams of one measurement start, and how the fake paces them."""

    description: str
    spread: bool  # first requests spread over one reply's duration (else all at once)
    pace: str  # the fake's model: "paced" (each reply on its own timers) or "batched"
    judged: bool  # the latency targets hold for it


ARRIVALS = {
    "spread": Arrival(
        "independent users: first requests spread over one reply's duration", True, "paced", True
    ),
    "batched": Arrival(
        "spread, and the fake sends the pieces of all replies on shared 50 ms steps, as a batching server does",
        True,
        "batched",
        True,
    ),
    "herd": Arrival(
        "all started at once, so each round of requests arrives together; not a target",
        False,
        "paced",
        False,
    ),
}


def report(
    streams: dict[str, list[Result]],
    plain: list[Result],
    args: argparse.Namespace,
    agent_note: str | None,
) -> bool:
    header = f"{'target':<8} {'req/s':>6} {'ttft p50':>9} {'ttft p99':>9} {'total p50':>10} {'total p99':>10} {'added ttft p50/p99':>19} {'added total p50/p99':>20} {'p50 diff ttft/total':>20} {'failed':>6} {'server cpu':>10} {'client cpu':>10} {'steal':>6}"
    for arrival, results in streams.items():
        print(f"\nstreaming, {arrival}: {args.streams} concurrent streams ({ARRIVALS[arrival].description}); the fake's first token after {args.first_delay * 1000:.0f} ms, "
              f"then {args.pieces} pieces {args.delay * 1000:.0f} ms apart; {args.seconds:g} s measured after {args.warmup:g} s warm-up")  # fmt: skip
        print(header)
        base = results[0]
        for r in results:
            added = ""
            if r is not base:
                added = (
                    f"{added_ms(r, base, 0.5, 'ttft'):>8.2f}/{added_ms(r, base, 0.99, 'ttft'):<7.2f}ms "
                    f"{added_ms(r, base, 0.5, 'total'):>9.2f}/{added_ms(r, base, 0.99, 'total'):<7.2f}ms "
                    f"{percentile_ms(r.ttft, 0.5) - percentile_ms(base.ttft, 0.5):>9.2f}/{percentile_ms(r.total, 0.5) - percentile_ms(base.total, 0.5):<7.2f}ms"
                )
            print(
                f"{r.name:<8} {r.rps:>6.1f} {percentile_ms(r.ttft, 0.5):>7.2f}ms {percentile_ms(r.ttft, 0.99):>7.2f}ms {percentile_ms(r.total, 0.5):>8.2f}ms {percentile_ms(r.total, 0.99):>8.2f}ms {added:>60} {r.failed:>6} {r.server_cpu:>9.0f}% {r.client_cpu:>9.0f}% {r.steal:>5.1f}%"
            )
    for arrival, results in streams.items():
        print(f"\nwhere a request's time outside the fake goes, {arrival} (p50, ms):")
        print(f"{'target':<8} {'to the backend':>15} {'first text back':>16} {'end back':>9}")
        for r in results:
            back_first = [o - b for o, b in zip(r.outside_ttft, r.to_backend, strict=True)]
            back_end = [o - b for o, b in zip(r.outside_total, r.to_backend, strict=True)]
            print(
                f"{r.name:<8} {percentile_ms(r.to_backend, 0.5):>15.2f} {percentile_ms(back_first, 0.5):>16.2f} {percentile_ms(back_end, 0.5):>9.2f}"
            )
    print(
        "\nadded: per request, its time minus the fake's own part of it (from the fake's timings), "
        "then that percentile minus the direct requests'; p50 diff: the target's p50 minus direct's "
        "(it also moves with the fake's own timing); relay: a byte-for-byte relay (bench/_relay.py), "
        "the scale; frame: that relay inside Parley's web stack (uvicorn, middleware, routing, "
        "EventStream), without the chat engine; neither is judged; steal: the share of the "
        "machine's CPU time its hypervisor gave to other guests while the target was measured "
        "(on a shared VM it slows every figure of that row, the baseline's included)"
    )
    print(
        f"\nnon-streaming: {args.concurrency} connections, the 'instant' model, {args.seconds:g} s measured"
    )
    print(
        f"{'target':<8} {'req/s':>8} {'p50':>9} {'p99':>9} {'added p50/p99':>17} {'failed':>7} {'server cpu':>10} {'client cpu':>10} {'steal':>6}"
    )
    for r in plain:
        added = (
            ""
            if r is plain[0]
            else f"{percentile_ms(r.total, 0.5) - percentile_ms(plain[0].total, 0.5):>7.2f}/{percentile_ms(r.total, 0.99) - percentile_ms(plain[0].total, 0.99):<7.2f}ms"
        )
        print(
            f"{r.name:<8} {r.rps:>8.1f} {percentile_ms(r.total, 0.5):>7.2f}ms {percentile_ms(r.total, 0.99):>7.2f}ms {added:>17} {r.failed:>7} {r.server_cpu:>9.0f}% {r.client_cpu:>9.0f}% {r.steal:>5.1f}%"
        )
    if agent_note:
        print(f"\nagent: {agent_note}")
    checks: list[tuple[str, bool]] = []
    for arrival, results in streams.items():
        if not ARRIVALS[arrival].judged:
            continue
        base = results[0]
        for r in results[1:]:
            if r.scale:
                continue
            bound = TARGET_AGENT_ADDED_MS if r.name == "agent" else TARGET_ADDED_MS
            for label, which in (("first token", "ttft"), ("total", "total")):
                p50 = added_ms(r, base, 0.5, which)
                checks.append(
                    (
                        f"{r.name} ({arrival}): added {label} latency p50 {p50:.2f} ms"
                        f" < {bound:g} ms",
                        p50 < bound,
                    )
                )
    v1 = next((r for r in plain if r.name == "v1"), None)
    if v1 is not None:
        checks.append(
            (
                f"v1: {v1.rps:.0f} non-streaming requests/s >= {TARGET_V1_RPS:g}",
                v1.rps >= TARGET_V1_RPS,
            )
        )
    measured = [result for results in streams.values() for result in results] + plain
    failed = sum(r.failed for r in measured)
    checks.append((f"failed requests: {failed} == 0", failed == 0))
    unmatched = sum(r.unmatched for results in streams.values() for r in results)
    checks.append(
        (f"streamed requests without the fake's timings: {unmatched} == 0", unmatched == 0)
    )
    print("\ntargets:")
    for label, passed in checks:
        print(f"  {'PASS' if passed else 'FAIL'}  {label}")
    return all(passed for _, passed in checks)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
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
    parser.add_argument(
        "--arrival",
        default="spread,batched",
        help="Comma-separated arrival patterns to measure (default: spread,batched, the "
        "judged ones): " + "; ".join(f"'{name}': {a.description}" for name, a in ARRIVALS.items()),
    )
    parser.add_argument(
        "--only", default="", help="Comma-separated targets to run (direct always runs)."
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Parley server processes sharing the port, as `parley serve --workers N` "
        "(default 1). With more than one, the agent column needs --redis.",
    )
    parser.add_argument(
        "--redis",
        default="",
        help="PARLEY_REDIS_URL for the server processes (rate limits, view counters, agents "
        "across processes), e.g. redis://127.0.0.1:6379/0. Default: none.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder and logs.")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.workers < 1:
        raise SystemExit("--workers: at least 1")
    if args.workers > 1 and not args.redis and (not args.only or "agent" in args.only.split(",")):
        raise SystemExit(
            "--workers > 1: the agent column needs --redis (an agent connects to one server "
            "process; the others reach it through Redis), or leave it out with --only"
        )
    arrivals = [name for name in args.arrival.split(",") if name]
    unknown = [name for name in arrivals if name not in ARRIVALS]
    if unknown:
        raise SystemExit(f"--arrival: unknown {unknown}; choose from {list(ARRIVALS)}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    redis = f", PARLEY_REDIS_URL={args.redis}" if args.redis else ", no Redis"
    print(f"parley: {args.workers} server process{'es' if args.workers > 1 else ''}{redis}")
    workdir = Path(tempfile.mkdtemp(prefix="parley-chat-bench-"))
    home, admin_key = workdir / "home", secrets.token_urlsafe(24)
    fake, fake_port = start_fake(args, workdir / "fake.log")
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    token = make_user(home)
    port = free_port()
    ctx = BenchContext(fake_url, f"http://127.0.0.1:{port}", token, admin_key, home, sys.executable)
    hook = load_agent_hook()
    processes = [fake]
    agent_note: str | None = (
        "not measured: bench/_agent_target.py is not there" if hook is None else None
    )
    try:
        extra = hook.server_env(ctx) if hook else {}
        if args.redis:
            extra["PARLEY_REDIS_URL"] = args.redis
        servers = [
            start_parley(home, port, fake_url, admin_key, extra, workdir / f"server-{i}.log")
            for i in range(args.workers)
        ]
        processes.extend(servers)
        server_process = Group([psutil.Process(server.pid) for server in servers])
        fake_process = psutil.Process(fake.pid)
        names = {"paced": "paced", "instant": "instant", "batched": "batched"}
        relay, relay_port = start_relay(fake_port, workdir / "relay.log")
        processes.append(relay)
        targets = [
            openai_target("direct", fake_port, None, names),
            openai_target("relay", relay_port, None, names, scale=True),
            openai_target("frame", port, None, names, prefix="/bench/frame", scale=True),
            rest_target(port, token),
            openai_target("v1", port, token, names),
        ]
        targets[0].server = fake_process
        targets[1].server = psutil.Process(relay.pid)  # frame and the rest: the server
        for target in targets[2:]:
            target.server = server_process
        if hook is not None:
            agent_models = hook.start(ctx)
            agent = openai_target("agent", port, token, agent_models)
            agent.server = server_process
            targets.append(agent)
        only = {name for name in args.only.split(",") if name}
        if only:
            targets = [t for t in targets if t.name == "direct" or t.name in only]
        reply = "".join(f"tok{i} " for i in range(args.pieces))
        duration = args.first_delay + args.pieces * args.delay  # one paced reply
        streams = {
            arrival: [
                run(
                    t,
                    connections=args.streams,
                    streaming=True,
                    reply=reply,
                    models=names if t.name != "agent" else agent_models,
                    warmup=args.warmup,
                    seconds=args.seconds,
                    spread=duration if ARRIVALS[arrival].spread else 0.0,
                    pace=ARRIVALS[arrival].pace,
                    fake_port=fake_port,
                )
                for t in targets
            ]
            for arrival in arrivals
        }
        plain = [
            run(
                t,
                connections=args.concurrency,
                streaming=False,
                reply=reply,
                models=names if t.name != "agent" else agent_models,
                warmup=min(args.warmup, 2.0),
                seconds=args.seconds,
            )
            for t in targets
            if t.name != "rest" and not t.scale
        ]
    finally:
        if hook is not None:
            hook.stop()
        for proc in reversed(processes):
            stop(proc)
    print(f"machine after: load average {os.getloadavg()[0]:.2f}")
    passed = report(streams, plain, args, agent_note)
    if args.keep:
        print(f"kept {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
