"""``parley agent``: the worker that bridges a local OpenAI-compatible server to a Parley hub.

Contracts:

* connects to ``ws(s)://SERVER/client/register`` with ``Authorization: Bearer <agent
  token>``, registers its models (``--model``, or every model the local server lists)
  and its concurrency, and keeps the id the hub gave it to reclaim it on reconnection;
  ``--model NAME=LOCAL`` announces NAME and asks the local server for LOCAL;
* answers every ``ping``; runs each ``request`` as its own task against the local server
  and streams ``chunk`` frames, then ``done`` (or ``error``); ``cancel`` stops the task
  (and so the local request); frames leave in the order they were made, through one
  writer, which joins the chunks of a request that queued up while it waited
  (:func:`coalesce`) and sends what queued up together as one ``batch`` message when
  the hub reads them (its ``registered`` says so): when a batching model server hands
  the agent the pieces of many replies at once, they cross as one message, not one
  each. With a hub that does not read batches, a request's chunks and its end go out
  at once from its task when nothing is queued or being sent;
* reconnects after any failure with capped exponential backoff and jitter; a hub that is
  silent for two heartbeat intervals counts as a failure; a refused token (HTTP 401/403)
  or a refused registration is fatal (:class:`AgentRefused`): retrying cannot fix it;
* :meth:`Agent.stop` (first Ctrl-C) sends ``drain``, finishes the running requests,
  sends their last frames, then closes; :meth:`Agent.abort` (second Ctrl-C) stops now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from parley import __version__
from parley.agents import protocol, upstream
from parley.agents.connection import REPLACED
from parley.agents.http1 import Client
from parley.agents.options import AgentConfig, backoff_delay, hub_uri, model_aliases
from parley.aio import stop

log = logging.getLogger("parley.agent")
MAX_FRAME_BYTES = 32 * 1024**2


class AgentRefused(Exception):
    """The hub refused this agent for a reason retrying cannot fix (token, id)."""


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.base = upstream.base_url(config.backend_url)
        self.uri = hub_uri(config.server)
        self.aliases = model_aliases(config.models)
        self.agent_id = config.agent_id
        self.registered = asyncio.Event()  # set while registered with the hub
        self.sessions = 0  # how many times it registered
        self.attempts = 0  # how many times it tried to connect
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[protocol.Batched] = asyncio.Queue()
        self._sending = asyncio.Lock()
        self._ws: ClientConnection | None = None  # the hub socket while registered
        self._batch = False  # the hub reads batch frames

    def stop(self) -> None:
        """Graceful: take no new work, finish the running requests, then close."""
        self._stopping.set()

    def abort(self) -> None:
        """Stop now: running requests are cut (the hub retries or keeps their partials)."""
        self._stopping.set()
        if self._main is not None:
            self._main.cancel()

    async def run(self) -> None:
        """Serve until :meth:`stop` completes; raises :class:`AgentRefused` when refused."""
        self._main = asyncio.current_task()
        failures = 0
        http = upstream.client(self.base, connections=max(10, self.config.concurrency))
        try:
            while not self._stopping.is_set():
                try:
                    await self._session(http)
                except AgentRefused:
                    raise
                except (
                    OSError,
                    TimeoutError,
                    ConnectionClosed,
                    InvalidHandshake,
                    protocol.ProtocolError,
                    upstream.UpstreamError,
                ) as error:
                    log.warning("connection to %s lost or failed: %s", self.uri, _describe(error))
                if self.sessions and self.registered.is_set():
                    failures = 0
                self.registered.clear()
                if self._stopping.is_set():
                    break
                delay = backoff_delay(
                    failures, self.config.backoff_initial, self.config.backoff_max
                )
                failures += 1
                log.info("reconnecting in %.1f s", delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
        finally:
            await http.aclose()

    async def _session(self, http: Client) -> None:
        models = list(self.aliases) or await upstream.list_models(http, self.config.api_key)
        if not models:
            raise upstream.UpstreamError(f"{self.base}/models lists no model; pass --model")
        self.attempts += 1
        try:
            ws = await connect(
                self.uri,
                additional_headers={"Authorization": f"Bearer {self.config.token}"},
                max_size=MAX_FRAME_BYTES,
                open_timeout=10,
                ping_interval=None,  # the protocol's own ping/pong is the heartbeat
                compression=None,  # small frames, on the latency path: not worth deflating
                close_timeout=5,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            if status in (401, 403):
                raise AgentRefused(f"the hub refused the agent token: {_detail(error)}") from None
            raise
        async with ws:
            registered = await self._register(ws, models)
            self.agent_id = registered.agent_id
            self.sessions += 1
            self._outbox = asyncio.Queue()
            self._sending = asyncio.Lock()
            self._ws = ws
            self._batch = registered.batch
            self.registered.set()
            log.info("registered as %s serving %s", registered.agent_id, ", ".join(models))
            helpers = [
                asyncio.create_task(self._write(ws, self._outbox)),
                asyncio.create_task(self._drain_on_stop(ws)),
            ]
            try:
                await self._read(ws, http, silence=2 * registered.heartbeat_interval)
            finally:
                self._ws = None
                await stop([*helpers, *self.tasks.values()])

    async def _register(self, ws: ClientConnection, models: list[str]) -> protocol.Registered:
        hello = protocol.Register(
            models=models,
            concurrency=self.config.concurrency,
            agent_id=self.agent_id,
            version=f"parley {__version__}",
        )
        await ws.send(protocol.encode(hello))
        try:
            async with asyncio.timeout(30):
                reply = protocol.from_hub(await ws.recv())
        except ConnectionClosed as closed:
            if closed.rcvd is not None and closed.rcvd.code == 1008:
                raise AgentRefused(
                    f"the hub refused the registration: {closed.rcvd.reason}"
                ) from None
            raise
        if isinstance(reply, protocol.Error):
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(10):  # the hub closes right after; its close
                    while True:  # code says whether to retry
                        await ws.recv()
            if ws.close_code == 1008:
                raise AgentRefused(f"the hub refused the registration: {reply.detail}")
            raise ConnectionError(f"the hub did not take the registration: {reply.detail}")
        if not isinstance(reply, protocol.Registered):
            raise protocol.ProtocolError(f"expected 'registered', got {reply.type!r}")
        return reply

    async def _read(self, ws: ClientConnection, http: Client, *, silence: float) -> None:
        while True:
            try:
                async with asyncio.timeout(silence):
                    raw = await ws.recv()
            except TimeoutError:
                raise TimeoutError(f"no frame from the hub for {silence:g} s") from None
            except ConnectionClosed as closed:
                if self._stopping.is_set():
                    return
                if closed.rcvd is not None and closed.rcvd.code == REPLACED:
                    raise AgentRefused(
                        f"another agent connected with the same id ({self.agent_id}) and the "
                        "same token's user and took over; give each worker its own --agent-id"
                    ) from None
                raise
            try:
                frame = protocol.from_hub(raw)
            except protocol.ProtocolError as error:
                log.warning("ignored an invalid frame from the hub: %s", error.detail)
                continue
            if isinstance(frame, protocol.Ping):
                self._send(protocol.Pong(ts=frame.ts))
            elif isinstance(frame, protocol.Request):
                if frame.id not in self.tasks:
                    task = asyncio.create_task(self._serve(http, frame))
                    self.tasks[frame.id] = task
                    task.add_done_callback(self._forget)
            elif isinstance(frame, protocol.Cancel):
                running = self.tasks.get(frame.id)
                if running is not None:
                    running.cancel()
            elif isinstance(frame, protocol.Error):
                log.warning("the hub says: %s", frame.detail)

    async def _serve(self, http: Client, request: protocol.Request) -> None:
        local = self.aliases.get(request.model, request.model)
        try:
            async for delta in upstream.stream_chat(
                http,
                self.config.api_key,
                model=local,
                messages=request.messages,
                params=request.params,
            ):
                if delta.text:
                    await self._send_now(protocol.Chunk(id=request.id, text=delta.text))
                if delta.final:
                    await self._send_now(
                        protocol.Done(
                            id=request.id,
                            finish_reason=delta.finish_reason,
                            usage=delta.usage,
                            model=delta.model if local == request.model else request.model,
                        )
                    )
        except upstream.UpstreamError as error:
            self._send(protocol.Error(id=request.id, detail=error.detail))
        except Exception as error:  # a bug here must not kill the connection
            log.exception("request %s failed", request.id)
            self._send(protocol.Error(id=request.id, detail=f"the agent failed: {error!r}"))

    def _forget(self, task: asyncio.Task[None]) -> None:
        for request_id, running in list(self.tasks.items()):
            if running is task:
                del self.tasks[request_id]

    def _send(self, frame: protocol.Batched) -> None:
        """Queue ``frame`` for the writer."""
        self._outbox.put_nowait(frame)

    async def _send_now(self, frame: protocol.Batched) -> None:
        """Send ``frame`` here if nothing is queued or being sent and the hub does not
        read batches, else queue it (behind the others, to leave with them)."""
        ws = self._ws
        if ws is None or self._batch or not self._outbox.empty() or self._sending.locked():
            self._send(frame)
            return
        # ConnectionClosed: the session is ending, and the hub fails the call itself
        async with self._sending:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(protocol.encode(frame))

    async def _write(self, ws: ClientConnection, outbox: asyncio.Queue[protocol.Batched]) -> None:
        """The one writer: sends what queued up, in order, its chunks joined per request;
        as one ``batch`` message when the hub reads them."""
        while True:
            batch = [await outbox.get()]
            while not outbox.empty():
                batch.append(outbox.get_nowait())
            try:
                frames = coalesce(batch)
                async with self._sending:
                    if self._batch and len(frames) > 1:
                        await ws.send(protocol.encode(protocol.Batch(frames=frames)))
                    else:
                        for frame in frames:
                            await ws.send(protocol.encode(frame))
            finally:
                for _ in batch:
                    outbox.task_done()

    async def _drain_on_stop(self, ws: ClientConnection) -> None:
        await self._stopping.wait()
        log.info("stopping: finishing %d running requests first", len(self.tasks))
        self._send(protocol.Drain())
        while self.tasks:
            await asyncio.wait(list(self.tasks.values()))
        await self._outbox.join()
        await ws.close(1000, "the agent is shutting down")


def coalesce(frames: list[protocol.Batched]) -> list[protocol.Batched]:
    """The same frames, with the chunks of each request joined up to its next other frame.

    Order is kept within each request (a request's chunks never pass its ``done``);
    requests may interleave differently, which the hub does not mind.
    """
    out: list[protocol.Batched] = []
    pending: dict[str, list[str]] = {}

    def flush(request_id: str) -> None:
        texts = pending.pop(request_id, None)
        if texts:
            out.append(protocol.Chunk(id=request_id, text="".join(texts)))

    for frame in frames:
        if isinstance(frame, protocol.Chunk):
            pending.setdefault(frame.id, []).append(frame.text)
            continue
        if isinstance(frame, protocol.Done | protocol.Error) and frame.id is not None:
            flush(frame.id)
        out.append(frame)
    for request_id in list(pending):
        flush(request_id)
    return out


def _detail(error: InvalidStatus) -> str:
    body = error.response.body or b""
    try:
        detail = orjson.loads(body).get("detail")
        if isinstance(detail, str):
            return detail
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return f"HTTP {error.response.status_code}"


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
