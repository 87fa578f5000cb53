"""One connected agent, as the hub sees it: its socket, its heartbeat, its running requests.

Invariants:

* one reader and one sender at a time per socket: :meth:`AgentConnection.run` is the only
  code that receives; frames are sent under one lock, in the order they were made, by
  the writer task that drains the queue or, when nothing is queued and the socket is
  free, by the coroutine that made the frame (:meth:`AgentConnection.send_now`: a
  request leaves at once instead of waiting for the writer's turn on a busy loop), so
  two requests never interleave bytes on the socket;
* requests are matched to responses by the ``id`` the hub chose (:class:`Call`); frames
  for an id that is no longer running (late chunks after a cancel) are ignored; the
  frames of a ``batch`` are handled one by one, in order, as if they had come alone;
* the hub sends ``ping`` every half heartbeat interval; any frame from the agent counts as
  a sign of life, and an agent silent for a whole interval is dropped, so a half-open
  socket is noticed within one interval of its last frame;
* when the connection ends, for whatever reason, every running call receives
  :class:`AgentGone` exactly once, so no consumer waits forever.

The hub owns dispatch and slot accounting (``in_flight``); this module knows nothing of
HTTP: the web layer hands it a :class:`Transport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from parley.agents import protocol
from parley.aio import stop
from parley.chat.backends.base import ChatRequest

log = logging.getLogger("parley.agents")

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
REPLACED = 4409  # another connection of the same user took over this agent id


class TransportClosed(Exception):
    """The socket is closed (by the peer, or broken)."""


class Transport(Protocol):
    """A WebSocket as the hub needs it; the web layer adapts its own to this."""

    async def receive(self) -> str | bytes:
        """The next text or binary message; raises TransportClosed once closed."""
        ...

    async def send(self, text: str) -> None:
        """Send one text message; raises TransportClosed once closed."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close the socket; a no-op when it is already closed."""
        ...


@dataclass(frozen=True)
class Owner:
    """The user an agent token belongs to; only that user may reclaim the agent's id."""

    user_id: str
    name: str


class AgentGone(Exception):
    """The agent disconnected or was dropped while a request was running on it."""


Event = protocol.Chunk | protocol.Done | protocol.Error | AgentGone


class Call:
    """One request running on one agent: the frames that arrive for its id, in order.

    :meth:`next` hands out chunks that are already waiting as one (their text joined), so
    a consumer that falls behind catches up in one step instead of one per frame.
    """

    def __init__(self, call_id: str) -> None:
        self.id = call_id
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.streamed = False  # some text was handed to the consumer
        self.finished = False  # done / error / gone was handed out
        self._held: Event | None = None

    async def next(self) -> Event:
        event = self._held if self._held is not None else await self.events.get()
        self._held = None
        if not isinstance(event, protocol.Chunk):
            self.finished = True
            return event
        texts = [event.text]
        while not self.events.empty():
            following = self.events.get_nowait()
            if not isinstance(following, protocol.Chunk):
                self._held = following
                break
            texts.append(following.text)
        return event if len(texts) == 1 else protocol.Chunk(id=event.id, text="".join(texts))


def request_params(request: ChatRequest) -> dict[str, object]:
    """OpenAI parameters of a request, ``None`` values left out."""
    params: dict[str, object] = dict(request.extra)
    if request.max_tokens is not None:
        params["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        params["temperature"] = request.temperature
    return params


class AgentConnection:
    """A registered agent. Hashable by identity: a reconnection is a new object."""

    def __init__(
        self,
        transport: Transport,
        *,
        owner: Owner,
        agent_id: str,
        register: protocol.Register,
        heartbeat_interval: float,
    ) -> None:
        now = time.time()
        self.transport = transport
        self.owner = owner
        self.id = agent_id
        self.models = tuple(register.models)
        self.concurrency = register.concurrency
        self.version = register.version
        self.heartbeat_interval = heartbeat_interval
        self.connected_at = now
        self.heartbeat = now  # wall clock of the last pong (or registration)
        self.last_message_time = now  # wall clock of the last request traffic
        self.last_seen = time.monotonic()  # any frame received
        self.in_flight = 0  # slots taken, counted by the hub
        self.last_dispatch = 0  # hub's dispatch counter when it last got a request
        self.draining = False
        self.closed = False
        self.calls: dict[str, Call] = {}
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._sending = asyncio.Lock()
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._close_code = NORMAL_CLOSURE

    def serves(self, model: str) -> bool:
        return model in self.models

    def send(self, frame: protocol.HubFrame) -> None:
        """Queue ``frame`` for the writer task."""
        if not self.closed:
            self._outbox.put_nowait(protocol.encode(frame))

    async def send_now(self, frame: protocol.HubFrame) -> None:
        """Send ``frame`` here if nothing is queued or being sent, else queue it behind."""
        if self.closed:
            return
        if not self._outbox.empty() or self._sending.locked():
            self.send(frame)
            return
        async with self._sending:
            try:
                await self.transport.send(protocol.encode(frame))
            except TransportClosed:
                self.stop("the socket closed while sending")

    def open_call(self, request: ChatRequest) -> Call:
        """A call for ``request``, expecting frames; :meth:`dispatch` sends the request."""
        call = Call(uuid.uuid4().hex)
        if self.closed:  # it died between being picked and being used
            call.events.put_nowait(AgentGone(self._stop_reason or "the agent disconnected"))
            return call
        self.calls[call.id] = call
        self.last_message_time = time.time()
        return call

    async def dispatch(self, call: Call, request: ChatRequest) -> None:
        """Send the call's request frame (at once when the socket is free)."""
        if call.id in self.calls:
            await self.send_now(
                protocol.Request(
                    id=call.id,
                    model=request.model,
                    messages=request.messages,
                    params=request_params(request),
                )
            )

    def end_call(self, call: Call) -> None:
        """Forget the call; tell the agent to stop it if it is still running there."""
        self.calls.pop(call.id, None)
        if not call.finished:
            self.send(protocol.Cancel(id=call.id))

    def stop(self, reason: str, *, code: int = NORMAL_CLOSURE) -> None:
        """End :meth:`run` (from outside): the socket is closed with ``code`` and ``reason``."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._close_code = code
            self._stop.set()

    async def run(self) -> str:
        """Serve the socket until it closes, fails its heartbeat or is stopped; why it ended."""
        tasks = [
            asyncio.create_task(self._read(), name=f"agent-{self.id}-reader"),
            asyncio.create_task(self._write(), name=f"agent-{self.id}-writer"),
            asyncio.create_task(self._beat(), name=f"agent-{self.id}-heartbeat"),
            asyncio.create_task(self._stopped(), name=f"agent-{self.id}-stop"),
        ]
        reason = "connection ended"
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            first = done.pop()
            error = first.exception()
            reason = f"connection failed: {error!r}" if error else first.result()
        finally:
            self.closed = True
            await stop(tasks)
            self.fail_all(reason)
            with contextlib.suppress(Exception):
                await self.transport.close(self._close_code, reason[:120])
        return reason

    def fail_all(self, reason: str) -> None:
        for call in self.calls.values():
            if not call.finished:
                call.events.put_nowait(AgentGone(reason))
        self.calls.clear()

    async def _stopped(self) -> str:
        await self._stop.wait()
        return self._stop_reason

    async def _write(self) -> str:
        while True:
            text = await self._outbox.get()
            async with self._sending:
                try:
                    await self.transport.send(text)
                except TransportClosed:
                    return "the socket closed while sending"

    async def _beat(self) -> str:
        interval = self.heartbeat_interval
        next_ping = time.monotonic() + interval / 2
        while True:
            now = time.monotonic()
            await asyncio.sleep(max(0.0, min(next_ping, self.last_seen + interval) - now))
            now = time.monotonic()
            if now - self.last_seen >= interval:
                self._close_code = GOING_AWAY
                return f"no frame from the agent for {interval:g} s (heartbeat missed)"
            if now >= next_ping:
                self.send(protocol.Ping(ts=time.time()))
                next_ping = now + interval / 2

    async def _read(self) -> str:
        while True:
            try:
                raw = await self.transport.receive()
            except TransportClosed:
                return "the agent closed the connection"
            self.last_seen = time.monotonic()
            try:
                frame = protocol.from_agent(raw)
            except protocol.ProtocolError as error:
                log.warning("agent %s sent an invalid frame: %s", self.id, error.detail)
                self.send(protocol.Error(detail=f"invalid frame ignored: {error.detail}"))
                continue
            if isinstance(frame, protocol.Batch):
                for inner in frame.frames:
                    self._handle(inner)
            else:
                self._handle(frame)

    def _handle(self, frame: protocol.Register | protocol.Batched) -> None:
        if isinstance(frame, protocol.Pong):
            self.heartbeat = time.time()
        elif isinstance(frame, protocol.Chunk | protocol.Done | protocol.Error):
            self.last_message_time = time.time()
            call = self.calls.get(frame.id) if frame.id is not None else None
            if call is not None:
                call.events.put_nowait(frame)
            elif frame.id is None and isinstance(frame, protocol.Error):
                log.warning("agent %s reported: %s", self.id, frame.detail)
        elif isinstance(frame, protocol.Drain):
            self.draining = True
            log.info("agent %s is draining: no new requests", self.id)
        else:  # register again
            self.send(protocol.Error(detail="already registered; reconnect to register again"))
