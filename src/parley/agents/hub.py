"""The hub: the registry of connected agents and the dispatcher of requests to them.

Contracts:

* :meth:`Hub.serve` runs one agent's socket from its first frame (``register``) to its
  end. An agent may ask for an id; an id is bound to the user its agent token belongs
  to, so only that user's tokens may reclaim it (a newer connection replaces an older one
  with the same id, whose running requests are then retried or reported as partial);
  another user's token is refused and cannot evict it. Ids stay bound after their agent
  left (the oldest of those are forgotten past ``max_remembered_ids``).
* :meth:`Hub.stream` picks, among the agents serving the model that are not draining and
  have a free slot (``in_flight < concurrency``), the one with the fewest requests in
  flight. When all are busy the request waits in a FIFO queue for at most
  ``queue_timeout`` seconds, then fails with :class:`~parley.errors.Unavailable` (503).
  When no agent serves the model at all it fails at once.
* An agent that disconnects before streaming any text for a request: the request is
  retried on another agent (up to ``max_attempts`` agents in all). After some text was
  streamed: :class:`~parley.chat.backends.base.BackendError` with ``partial=True``, so
  the engine keeps the text it already has.
* A consumer that stops reading (closes the stream or is cancelled) makes the hub send
  ``cancel`` to the agent and free the slot; slots are also freed as soon as the final
  frame arrives, before the final chunk is handed out.

No locks: all state changes happen on the event loop between awaits, and every slot
taken is given back in a ``finally``. With a :class:`~parley.agents.relay.Relay` (Redis),
a request that no local agent can take at once goes to the agents of another server
process (see that module); without one, agents serve the process they are connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from parley.agents import protocol
from parley.agents.connection import (
    GOING_AWAY,
    POLICY_VIOLATION,
    REPLACED,
    AgentConnection,
    Call,
    Owner,
    Transport,
    TransportClosed,
)
from parley.agents.relay import Relay
from parley.chat.backends.base import BackendError, ChatRequest, Chunk
from parley.errors import Unavailable

log = logging.getLogger("parley.agents")


@dataclass
class _Waiter:
    model: str
    excluded: set[AgentConnection]
    future: asyncio.Future[AgentConnection]


class Hub:
    def __init__(
        self,
        *,
        heartbeat_interval: float = 15.0,
        queue_timeout: float = 30.0,
        register_timeout: float | None = None,
        max_attempts: int = 3,
        max_waiting: int = 1000,
        max_remembered_ids: int = 10_000,
        relay: Relay | None = None,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.queue_timeout = queue_timeout
        self.register_timeout = register_timeout or heartbeat_interval
        self.max_attempts = max_attempts
        self.max_waiting = max_waiting
        self.max_remembered_ids = max_remembered_ids
        self._agents: dict[str, AgentConnection] = {}
        self._id_owners: dict[str, str] = {}  # agent id -> user id of the tokens that own it
        self._waiters: deque[_Waiter] = deque()
        self._dispatches = 0
        self._closing = False
        self.relay = relay
        self.joined: Callable[[], None] = lambda: None  # called when agents become known

    def open(self) -> None:
        """Start the relay, if any (on the running loop)."""
        if self.relay is not None:
            self.relay.start(self)

    # -- the registry --------------------------------------------------------------------

    def connections(self) -> list[AgentConnection]:
        return sorted(self._agents.values(), key=lambda a: a.connected_at)

    def offer(self) -> list[dict[str, Any]]:
        """The connected agents as plain data (what /api/connections and the relay show)."""
        return [
            {
                "id": agent.id,
                "heartbeat": agent.heartbeat,
                "last_message_time": agent.last_message_time,
                "models": list(agent.models),
                "in_flight": agent.in_flight,
                "concurrency": agent.concurrency,
                "user": agent.owner.name,
                "version": agent.version,
                "draining": agent.draining,
                "connected_at": agent.connected_at,
            }
            for agent in self.connections()
        ]

    def get(self, agent_id: str) -> AgentConnection | None:
        return self._agents.get(agent_id)

    def models(self) -> list[str]:
        """Every model some connected, non-draining agent serves (here or, through the
        relay, in another process)."""
        found = {m for a in self._agents.values() if not a.draining for m in a.models}
        if self.relay is not None:
            found |= self.relay.remote_models()
        return sorted(found)

    def replaced_elsewhere(self, agent_id: str) -> None:
        """Another process took over ``agent_id``: drop this process's connection of it."""
        agent = self._agents.get(agent_id)
        if agent is not None:
            agent.stop("replaced by a new connection with the same agent id", code=REPLACED)

    async def serve(self, transport: Transport, owner: Owner) -> None:
        """Run one agent connection to its end (the caller has authenticated ``owner``)."""
        try:
            async with asyncio.timeout(self.register_timeout):
                raw = await transport.receive()
            frame = protocol.from_agent(raw)
            if not isinstance(frame, protocol.Register):
                raise protocol.ProtocolError(
                    f"the first frame must be 'register', not {frame.type!r}"
                )
        except TimeoutError:
            await _refuse(transport, f"no 'register' frame within {self.register_timeout:g} s")
            return
        except protocol.ProtocolError as error:
            await _refuse(transport, error.detail)
            return
        except TransportClosed:
            return
        if self._closing:
            await _refuse(transport, "the server is shutting down", code=GOING_AWAY)
            return
        agent_id = frame.agent_id or uuid.uuid4().hex
        holder = self._id_owners.get(agent_id)
        if self.relay is not None and (holder is None or holder == owner.user_id):
            try:
                holder = await self.relay.claim(agent_id, owner.user_id)
            except Exception as error:  # Redis away: this process's own bindings decide
                log.warning("agent relay: could not check agent id %r: %s", agent_id, error)
        if holder is not None and holder != owner.user_id:
            await _refuse(
                transport,
                f"agent id {agent_id!r} belongs to another agent token's user; choose another "
                "id or leave 'agent_id' out to get a new one",
            )
            return
        self._remember_owner(agent_id, owner.user_id)
        agent = AgentConnection(
            transport,
            owner=owner,
            agent_id=agent_id,
            register=frame,
            heartbeat_interval=self.heartbeat_interval,
        )
        previous = self._agents.get(agent_id)
        self._agents[agent_id] = agent
        if previous is not None:
            previous.stop("replaced by a new connection with the same agent id", code=REPLACED)
        agent.send(
            protocol.Registered(
                agent_id=agent_id, heartbeat_interval=self.heartbeat_interval, batch=True
            )
        )
        log.info("agent %s connected (%s): %s", agent_id, owner.name, ", ".join(agent.models))
        self.joined()
        self._hand_off()
        self._changed(now=True)
        reason = "connection ended"
        try:
            reason = await agent.run()
        finally:
            if self._agents.get(agent_id) is agent:
                del self._agents[agent_id]
            self._changed(now=True)
            log.info("agent %s disconnected: %s", agent_id, reason)

    def _remember_owner(self, agent_id: str, user_id: str) -> None:
        """Bind the id to its user; forget the oldest ids of gone agents past the limit."""
        self._id_owners.pop(agent_id, None)
        self._id_owners[agent_id] = user_id  # most recent last
        excess = len(self._id_owners) - self.max_remembered_ids
        gone = [i for i in self._id_owners if i not in self._agents and i != agent_id]
        for old in gone[: max(0, excess)]:
            del self._id_owners[old]

    async def close(self) -> None:
        """Stop every connection (the server is going away) and fail the queued requests."""
        self._closing = True
        for agent in list(self._agents.values()):
            agent.stop("the server is shutting down", code=GOING_AWAY)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(Unavailable("the server is shutting down"))
        if self.relay is not None:
            await self.relay.close()

    # -- dispatch ------------------------------------------------------------------------

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Stream the reply from an agent serving ``request.model``: here when a local one
        has a free slot (or only local ones serve it), else through the relay."""
        relay = self.relay
        if relay is not None:
            model = request.model
            serving = [a for a in self._agents.values() if _open(a) and a.serves(model)]
            if not any(a.in_flight < a.concurrency for a in serving):
                replica = relay.pick(model, local_serves=bool(serving))
                if replica is not None:
                    return relay.forward(replica, request)
        return self.here(request)

    async def here(self, request: ChatRequest) -> AsyncGenerator[Chunk, None]:
        """Stream the reply from this process's agents (see the module contract)."""
        excluded: set[AgentConnection] = set()
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            agent = await self._acquire(request.model, excluded, retrying=attempt > 1)
            call = agent.open_call(request)
            ended = False
            try:
                await agent.dispatch(call, request)
                while True:
                    event = await call.next()
                    if isinstance(event, protocol.Chunk):
                        if event.text:
                            call.streamed = True
                            yield Chunk(text=event.text)
                        continue
                    ended = True
                    self._end(agent, call)
                    if isinstance(event, protocol.Done):
                        yield Chunk(
                            finish_reason=event.finish_reason, model=event.model, usage=event.usage
                        )
                        return
                    if isinstance(event, protocol.Error):
                        raise BackendError(
                            f"agent {agent.id}: {event.detail}", partial=call.streamed
                        )
                    if call.streamed:
                        raise BackendError(
                            f"agent {agent.id} disconnected after part of the reply was "
                            f"streamed ({event}); the partial answer is kept",
                            partial=True,
                        )
                    last = f"agent {agent.id}: {event}"
                    log.warning("retrying a request on another agent: %s", last)
                    excluded.add(agent)
                    break
            finally:
                if not ended:  # the consumer stopped reading, or was cancelled
                    self._end(agent, call)
        raise BackendError(
            f"{self.max_attempts} agents serving {request.model!r} disconnected before "
            f"answering; last: {last}",
            status=503,
        )

    def _end(self, agent: AgentConnection, call: Call) -> None:
        agent.end_call(call)
        agent.in_flight -= 1
        self._hand_off()
        self._changed()

    def _changed(self, *, now: bool = False) -> None:
        if self.relay is not None:
            self.relay.changed(now=now)

    def _pick(self, model: str, excluded: set[AgentConnection]) -> AgentConnection | None:
        free = [
            a
            for a in self._agents.values()
            if a.serves(model) and _open(a) and a.in_flight < a.concurrency and a not in excluded
        ]
        if not free:
            return None
        best = min(free, key=lambda a: (a.in_flight, a.in_flight / a.concurrency, a.last_dispatch))
        self._dispatches += 1
        best.last_dispatch = self._dispatches
        best.in_flight += 1
        self._changed()
        return best

    async def _acquire(
        self, model: str, excluded: set[AgentConnection], *, retrying: bool
    ) -> AgentConnection:
        if self._closing:
            raise Unavailable("the server is shutting down")
        agent = self._pick(model, excluded)
        if agent is not None:
            return agent
        serving = [a for a in self._agents.values() if a.serves(model) and not a.draining]
        if not serving and not retrying:
            served = ", ".join(self.models()) or "none (no agent is connected)"
            raise Unavailable(f"no connected agent serves model {model!r}; models served: {served}")
        if len(self._waiters) >= self.max_waiting:
            raise Unavailable(
                f"{len(self._waiters)} requests are already waiting for an agent; try again later"
            )
        waiter = _Waiter(model, excluded, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await asyncio.wait((waiter.future,), timeout=self.queue_timeout)
        except BaseException:
            self._abandon(waiter)
            raise
        if waiter.future.done():
            return waiter.future.result()  # an agent, or the shutdown's Unavailable
        self._abandon(waiter)
        busy = f"all {len(serving)} agents serving {model!r} stayed busy"
        if not serving:
            busy = f"no other agent serving {model!r} connected"
        raise Unavailable(f"{busy} for {self.queue_timeout:g} s; try again later")

    def _abandon(self, waiter: _Waiter) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        if not waiter.future.done():
            waiter.future.cancel()
        elif not waiter.future.cancelled() and waiter.future.exception() is None:
            agent = waiter.future.result()  # handed a slot just as its wait ended: give it back
            agent.in_flight -= 1
            self._hand_off()
            self._changed()

    def _hand_off(self) -> None:
        """Give free slots to waiting requests, oldest first."""
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            agent = self._pick(waiter.model, waiter.excluded)
            if agent is not None:
                self._waiters.remove(waiter)
                waiter.future.set_result(agent)


def _open(agent: AgentConnection) -> bool:
    """Whether ``agent`` takes new requests."""
    return not agent.draining and not agent.closed


async def _refuse(transport: Transport, detail: str, *, code: int = POLICY_VIOLATION) -> None:
    """Tell the agent why it is refused, then close (1008, policy violation, by default)."""
    with contextlib.suppress(TransportClosed):
        await transport.send(protocol.encode(protocol.Error(detail=detail)))
    with contextlib.suppress(Exception):
        await transport.close(code, detail[:120])
