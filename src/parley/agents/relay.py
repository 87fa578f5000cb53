"""Agents across server processes: requests for an agent connected elsewhere, via Redis.

An agent's WebSocket ends in one server process (a ``parley serve --workers`` process or a
replica behind a load balancer). With ``PARLEY_REDIS_URL`` set, each process's hub runs a
:class:`Relay`, and every process can answer with every agent.

Contracts:

* **Offers.** A relay keeps what its hub's agents offer (id, models, concurrency, in
  flight, draining, times) under ``{prefix}agents:{replica}``, expiring after three
  heartbeat intervals (a process that dies disappears on its own), rewritten every
  ``refresh`` seconds and soon after any change. Each write is also published on
  ``{prefix}offers``, so the others see a new agent at once; they re-read every key every
  ``refresh`` seconds too (a lost message or a new process is caught up there).
* **Where a request goes.** :meth:`pick`: when no local agent serving the model has a free
  slot, the request goes to the process whose agents serving it have the most free slots
  by their last offer (one free slot is reserved locally for each request sent there
  until the next offer). When only the local agents serve the model, it waits for them,
  as without Redis. There the other hub runs it with its own rules: least busy agent,
  bounded wait, retry on another agent before any text.
* **Messages.** Each process listens on ``{prefix}relay:{replica}``. The frames of one
  call are published one after the other, so they arrive in order. A request that nobody
  hears (the process died since its offer) goes to the next process, and finally waits
  locally.
* **Ends.** A consumer that stops reading makes the origin publish ``cancel``; the serving
  process closes its stream, which cancels the agent's request. A serving process that
  shuts down ends the calls it runs for others with an error frame (503). The serving process sends
  ``alive`` for its running calls every half heartbeat interval: an origin that hears
  nothing of a call for a whole interval fails it (partial when text was streamed), and
  a serving process whose frames reach nobody (the origin died) stops the call.
* **Agent ids** are bound to their owner in Redis (``{prefix}agent-owner:{id}``) while an
  agent with that id is connected somewhere (the binding expires with the offers), so
  only that owner's tokens may reclaim a live id on any process; a reclaim replaces the
  older connection wherever it is. Each process also remembers the ids it has seen, as
  without Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from parley.aio import stop
from parley.chat.backends.base import BackendError, ChatRequest, Chunk
from parley.errors import Unavailable

if TYPE_CHECKING:
    from parley.agents.hub import Hub

log = logging.getLogger("parley.agents")

RETRY_SECONDS = 1.0  # between attempts to listen again after Redis went away


@dataclass(frozen=True)
class Offer:
    """One agent of another process, as its last offer described it."""

    replica: str
    id: str
    models: tuple[str, ...]
    concurrency: int
    in_flight: int
    draining: bool
    fields: dict[str, Any]  # everything /api/connections lists

    @property
    def free(self) -> int:
        return 0 if self.draining else max(0, self.concurrency - self.in_flight)


class Relay:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "parley:",
        replica: str | None = None,
        heartbeat_interval: float = 15.0,
        refresh: float = 1.0,
        debounce: float = 0.05,
    ) -> None:
        import redis.asyncio

        self.redis: Any = redis.asyncio.Redis.from_url(url)
        self.prefix = prefix
        self.replica = replica or uuid.uuid4().hex[:12]
        self.heartbeat_interval = heartbeat_interval
        self.refresh = refresh
        self.debounce = debounce
        self.hub: Hub | None = None
        self.offers: dict[str, list[Offer]] = {}  # the other processes' agents
        self._reserved: dict[str, int] = {}  # slots taken by requests sent since their offer
        self._calls: dict[str, asyncio.Queue[dict[str, Any]]] = {}  # sent from here
        self._serving: dict[str, tuple[str, asyncio.Task[None]]] = {}  # id -> (origin, task)
        self._tasks: list[asyncio.Task[Any]] = []
        self._spare: set[asyncio.Task[Any]] = set()  # fire-and-forget publishes
        self._announce: asyncio.TimerHandle | None = None
        self._listening = asyncio.Event()
        self._closing = False

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, hub: Hub) -> None:
        """Listen, offer the hub's agents and read the others' offers, in the background
        (Redis being away delays that, it does not stop the server)."""
        self.hub = hub
        self._tasks = [
            asyncio.create_task(self._listen(), name="relay-listen"),
            asyncio.create_task(self._keep_offering(), name="relay-offers"),
            asyncio.create_task(self._keep_alive(), name="relay-alive"),
        ]

    async def ready(self) -> None:
        """Wait until the relay listens and has read the others' offers once."""
        await self._listening.wait()
        await self._read_offers()

    async def close(self) -> None:
        """Withdraw this process's offer and stop; the calls served for others end with an
        error frame that says so (503, partial when text was sent)."""
        self._closing = True
        if self._announce is not None:
            self._announce.cancel()
        await stop([task for _origin, task in self._serving.values()])
        await stop([*self._tasks, *self._spare])
        with contextlib.suppress(Exception):
            await self.redis.delete(self._key("agents", self.replica))
            await self._publish_offer([])
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # -- offers --------------------------------------------------------------------------

    def changed(self, *, now: bool = False) -> None:
        """The hub's agents changed: offer them again soon (``now``: at the next turn)."""
        if self.hub is None:
            return
        if self._announce is not None:
            if not now:
                return
            self._announce.cancel()
        loop = asyncio.get_running_loop()
        self._announce = loop.call_later(0 if now else self.debounce, self._offer_soon)

    def _offer_soon(self) -> None:
        self._announce = None
        self._spawn(self._offer())

    @property
    def _ttl(self) -> int:
        """Seconds an offer (and the id bindings of its agents) outlives its last write."""
        return max(1, round(3 * self.heartbeat_interval))

    async def _offer(self) -> None:
        assert self.hub is not None
        agents = self.hub.offer()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self._key("agents", self.replica), orjson.dumps(agents), ex=self._ttl)
            for agent in agents:
                pipe.expire(self._key("agent-owner", agent["id"]), self._ttl)
            await pipe.execute()
        await self._publish_offer(agents)

    async def _publish_offer(self, agents: list[dict[str, Any]]) -> None:
        await self.redis.publish(
            self._key("offers"), orjson.dumps({"replica": self.replica, "agents": agents})
        )

    async def _keep_offering(self) -> None:
        while True:
            try:
                await self._offer()
                await self._read_offers()
            except Exception as error:  # Redis away: keep the last view, try again
                log.warning("agent relay: could not exchange offers: %s", error)
            await asyncio.sleep(self.refresh)

    async def _read_offers(self) -> None:
        keys = [k async for k in self.redis.scan_iter(match=self._key("agents", "*"))]
        values = await self.redis.mget(keys) if keys else []
        seen: dict[str, list[Offer]] = {}
        for key, value in zip(keys, values, strict=True):
            replica = (key.decode() if isinstance(key, bytes) else key).rpartition(":")[2]
            if value is not None and replica != self.replica:
                seen[replica] = _offers(replica, orjson.loads(value))
        self.offers = seen
        self._reserved.clear()
        self._joined()

    def _take_offer(self, replica: str, agents: list[dict[str, Any]]) -> None:
        if replica == self.replica:
            return
        if agents:
            self.offers[replica] = _offers(replica, agents)
        else:
            self.offers.pop(replica, None)
        self._reserved.pop(replica, None)
        self._joined()

    def _joined(self) -> None:
        if self.hub is not None and self.offers:
            self.hub.joined()

    def remote(self) -> list[Offer]:
        """The other processes' agents, by their last offers."""
        return [offer for offers in self.offers.values() for offer in offers]

    def remote_models(self) -> set[str]:
        return {m for offer in self.remote() if not offer.draining for m in offer.models}

    def pick(self, model: str, *, local_serves: bool, exclude: Iterable[str] = ()) -> str | None:
        """The process to send a request for ``model`` to, or None to run it here (see the
        module contract: the caller knows that no local agent has a free slot for it). A
        process picked counts one slot fewer until its next offer."""
        skip = set(exclude)
        best: tuple[int, str] | None = None
        for replica, offers in self.offers.items():
            serving = [o for o in offers if model in o.models and not o.draining]
            if replica in skip or not serving:
                continue
            free = sum(o.free for o in serving) - self._reserved.get(replica, 0)
            if best is None or free > best[0]:
                best = (free, replica)
        if best is None or (local_serves and best[0] <= 0):
            return None
        self._reserved[best[1]] = self._reserved.get(best[1], 0) + 1  # until its next offer
        return best[1]

    # -- agent ids -----------------------------------------------------------------------

    async def claim(self, agent_id: str, user_id: str) -> str:
        """Bind ``agent_id`` to ``user_id`` unless it is bound already; the binding's user."""
        key = self._key("agent-owner", agent_id)
        await self.redis.set(key, user_id, nx=True, ex=self._ttl)
        holder = await self.redis.get(key)
        if holder is None:  # expired in between: bind it now
            await self.redis.set(key, user_id, ex=self._ttl)
            return user_id
        holder = holder.decode()
        if holder == user_id:
            await self.redis.expire(key, self._ttl)
            await self.redis.publish(
                self._key("offers"), orjson.dumps({"replica": self.replica, "replace": agent_id})
            )
        return str(holder)

    # -- requests sent to another process ------------------------------------------------

    async def forward(self, replica: str, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        """Stream ``request`` from the agents of ``replica`` (or the next process, or here,
        when nobody hears it there)."""
        call = uuid.uuid4().hex
        frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._calls[call] = frames
        finished = streamed = False
        tried = [replica]
        try:
            while not await self._send_request(replica, call, request):
                log.warning("agent relay: process %s is gone; trying another", replica)
                self.offers.pop(replica, None)
                following = self.pick(request.model, local_serves=True, exclude=tried)
                if following is None:
                    assert self.hub is not None
                    finished = True  # nothing runs elsewhere
                    async with aclosing(self.hub.here(request)) as chunks:
                        async for chunk in chunks:
                            yield chunk
                    return
                replica = following
                tried.append(replica)
            while True:
                try:
                    async with asyncio.timeout(self.heartbeat_interval):
                        frame = await frames.get()
                except TimeoutError:
                    raise BackendError(
                        f"the server process {replica} serving this request through one of "
                        f"its agents went silent for {self.heartbeat_interval:g} s",
                        partial=streamed,
                    ) from None
                kind = frame["t"]
                if kind == "chunk":
                    streamed = True
                    yield Chunk(text=frame["text"])
                elif kind == "done":
                    finished = True
                    yield Chunk(
                        finish_reason=frame.get("finish_reason"),
                        model=frame.get("model"),
                        usage=frame.get("usage"),
                    )
                    return
                elif kind == "error":
                    finished = True
                    if frame.get("unavailable") and not streamed:
                        raise Unavailable(frame["detail"])
                    raise BackendError(
                        frame["detail"],
                        partial=streamed or bool(frame.get("partial")),
                        status=int(frame.get("status") or 502),
                    )
        finally:
            del self._calls[call]
            if not finished:
                self._spawn(self._send(replica, {"t": "cancel", "id": call}))

    async def _send_request(self, replica: str, call: str, request: ChatRequest) -> bool:
        frame = {
            "t": "request",
            "id": call,
            "from": self.replica,
            "model": request.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "extra": request.extra,
        }
        try:
            return await self._send(replica, frame)
        except Exception as error:
            raise BackendError(
                f"could not reach the agent relay (Redis): {error}", status=503
            ) from None

    async def _send(self, replica: str, frame: dict[str, Any]) -> bool:
        """Publish ``frame`` to ``replica``; whether any process heard it."""
        heard = await self.redis.publish(self._key("relay", replica), orjson.dumps(frame))
        return bool(heard)

    # -- requests served here for another process ----------------------------------------

    def _serve(self, frame: dict[str, Any]) -> None:
        request = ChatRequest(
            model=str(frame["model"]),
            messages=list(frame["messages"]),
            max_tokens=frame.get("max_tokens"),
            temperature=frame.get("temperature"),
            extra=dict(frame.get("extra") or {}),
        )
        call, origin = str(frame["id"]), str(frame["from"])
        task = asyncio.create_task(self._run(origin, call, request), name=f"relay-{call}")
        self._serving[call] = (origin, task)
        self.changed()

    async def _run(self, origin: str, call: str, request: ChatRequest) -> None:
        assert self.hub is not None
        streamed = False
        try:
            async with aclosing(self.hub.here(request)) as chunks:
                async for chunk in chunks:
                    if chunk.text:
                        streamed = True
                        frame: dict[str, Any] = {"t": "chunk", "id": call, "text": chunk.text}
                    else:
                        frame = {
                            "t": "done",
                            "id": call,
                            "finish_reason": chunk.finish_reason,
                            "model": chunk.model,
                            "usage": chunk.usage,
                        }
                    if not await self._send(origin, frame):
                        log.info("agent relay: process %s is gone; its request stops", origin)
                        return
        except Unavailable as error:
            await self._send_error(origin, call, error.detail, status=503, unavailable=True)
        except BackendError as error:
            partial = streamed or error.partial
            await self._send_error(origin, call, error.detail, status=error.status, partial=partial)
        except Exception as error:  # Redis away, or a bug: the origin times out on its own
            log.warning("agent relay: a request for process %s failed: %r", origin, error)
        except asyncio.CancelledError:
            if self._closing:  # say so, rather than leave the origin to time out
                detail = f"the server process {self.replica} serving this request stopped"
                # shielded: close() cancels again those that take longer than a moment
                await asyncio.shield(
                    self._send_error(origin, call, detail, status=503, partial=streamed)
                )
            raise
        finally:
            self._serving.pop(call, None)

    async def _send_error(self, origin: str, call: str, detail: str, **extra: Any) -> None:
        with contextlib.suppress(Exception):
            await self._send(origin, {"t": "error", "id": call, "detail": detail, **extra})

    async def _keep_alive(self) -> None:
        """Tell each origin which of its calls still run here; stop those of gone origins."""
        while True:
            await asyncio.sleep(self.heartbeat_interval / 2)
            running: dict[str, list[str]] = {}
            for call, (origin, _task) in self._serving.items():
                running.setdefault(origin, []).append(call)
            for origin, calls in running.items():
                try:
                    heard = await self._send(origin, {"t": "alive", "ids": calls})
                except Exception as error:
                    log.warning("agent relay: could not reach Redis: %s", error)
                    continue
                if not heard:
                    for call in calls:
                        self._halt(call)

    # -- the listener --------------------------------------------------------------------

    async def _listen(self) -> None:
        channels = (self._key("relay", self.replica), self._key("offers"))
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(*channels)
                    self._listening.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._receive(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("agent relay: lost Redis (%s); listening again", error)
                await asyncio.sleep(RETRY_SECONDS)

    def _receive(self, channel: bytes, data: bytes) -> None:
        try:
            frame = orjson.loads(data)
            if channel.decode().endswith(":offers"):
                if "replace" in frame:
                    if frame["replica"] != self.replica and self.hub is not None:
                        self.hub.replaced_elsewhere(str(frame["replace"]))
                else:
                    self._take_offer(str(frame["replica"]), list(frame["agents"]))
                return
            kind = frame["t"]
            if kind == "request":
                self._serve(frame)
            elif kind == "cancel":
                self._halt(frame["id"])
            elif kind == "alive":
                for call in frame["ids"]:
                    queue = self._calls.get(call)
                    if queue is not None:
                        queue.put_nowait({"t": "alive"})  # resets the silence deadline
            else:
                queue = self._calls.get(frame["id"])
                if queue is not None:
                    queue.put_nowait(frame)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            log.warning("agent relay: ignored an unreadable message: %r", error)

    def _halt(self, call: str) -> None:
        """Stop serving ``call`` (for sure: see :mod:`parley.aio`)."""
        served = self._serving.get(call)
        if served is not None:
            self._spawn(stop([served[1]]))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._spare.add(task)
        task.add_done_callback(self._spent)

    def _spent(self, task: asyncio.Task[Any]) -> None:
        self._spare.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("agent relay: %r", task.exception())


def _offers(replica: str, agents: list[dict[str, Any]]) -> list[Offer]:
    return [
        Offer(
            replica=replica,
            id=str(a["id"]),
            models=tuple(a["models"]),
            concurrency=int(a["concurrency"]),
            in_flight=int(a["in_flight"]),
            draining=bool(a["draining"]),
            fields=a,
        )
        for a in agents
    ]
