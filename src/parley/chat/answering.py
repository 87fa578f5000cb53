"""Answering a prepared turn: call the model, stream the text, store the answer.

:class:`Answerer` is the half of the engine every door shares (the chat operations in
:mod:`parley.chat.engine` and the OpenAI proxy in :mod:`parley.chat.proxy`): given a
:class:`Plan` whose prompt is already stored, :meth:`Answerer.answer` yields
:class:`Started`, a :class:`Delta` per piece of text and the final :class:`Turn`.

Invariants:

* the answer is stored once, at the end, whatever happens: complete
  (``finished_successfully``), failed (``finished_partial_completion`` with what arrived,
  or ``error`` when nothing did, ``metadata.error`` saying why; then :class:`TurnFailed`
  carrying the stored turn is raised) or cut short by cancellation or the consumer
  leaving (stored as interrupted, in a shielded scope, and the cancellation goes on);
* ``autocontinue``: while a round ends with ``finish_reason == "length"``, up to
  ``autocontinue_rounds`` more rounds are asked for (:func:`parley.chat.turns.continuation`)
  and joined into one message whose ``finish_details`` are the last round's;
* database work runs off the event loop (:mod:`parley.chat.writer`: on SQLite, one
  thread commits queued turns together).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from parley.chat.backends.base import BackendError, ChatRequest
from parley.chat.router import BackendRegistry
from parley.chat.turns import Answer, continuation
from parley.chat.writer import Writer
from parley.errors import ParleyError, Unavailable
from parley.store import turns as store
from parley.store.direct import Db, Reader

T = TypeVar("T")


@dataclass(frozen=True)
class Started:
    conversation_id: str
    prompt_id: str | None
    parent_id: str | None
    node_id: str | None  # None when the id depends on the answer (the OpenAI proxy)
    created: bool
    model: str


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Turn:
    """A stored answer: complete, cut short or failed."""

    conversation_id: str
    node_id: str
    parent_id: str | None
    prompt_id: str | None
    message: dict[str, Any]
    created: bool
    finish_reason: str | None  # OpenAI's vocabulary; None when interrupted or failed

    @property
    def text(self) -> str:
        return str(self.message["content"]["parts"][0])

    @property
    def model(self) -> str | None:
        return self.message["metadata"].get("model_slug")

    @property
    def usage(self) -> dict[str, Any]:
        return dict(self.message["metadata"].get("usage") or {})


Event = Started | Delta | Turn


class TurnFailed(ParleyError):
    """The model call failed; ``turn`` is what was stored (prompt kept, partial answer)."""

    def __init__(self, detail: str, *, turn: Turn, status: int) -> None:
        super().__init__(detail)
        self.turn = turn
        self.status = status


# Stores a turn in one transaction at its end: (session, answer id, answer, now) -> created.
Persist = Callable[[Db, str, dict[str, Any], float], bool]


@dataclass
class Plan:
    """Everything a turn needs to be answered.

    Either the prompt and an ``in_progress`` answer are stored before the answer is
    (``node_id`` names it; it is completed in place in conversation ``pk``, which
    ``pending`` gives when that write runs while the model is already being called), or
    nothing is stored yet and ``persist`` stores the whole turn at the end under the id
    ``answer_id`` gives the answer's text (the OpenAI proxy: one write per exchange).
    """

    conversation_id: str
    parent_id: str | None  # the answer's parent
    prompt_id: str | None
    messages: list[dict[str, Any]]
    model: str
    pk: int = 0
    node_id: str | None = None
    pending: asyncio.Future[int] | None = None  # the prompt's write, when still running
    persist: Persist | None = None
    answer_id: Callable[[str], str] = field(default=lambda _text: new_id())
    created: bool = False
    autocontinue: bool = False
    prefix: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # other OpenAI parameters


def new_id() -> str:
    return str(uuid.uuid4())


class Answerer:
    def __init__(
        self,
        factory: sessionmaker[Session],
        backends: BackendRegistry,
        *,
        autocontinue_rounds: int = 5,
        reader: Reader | None = None,
    ) -> None:
        self.factory = factory
        self.backends = backends
        self.autocontinue_rounds = autocontinue_rounds
        self.writer = Writer(factory)
        self.reader = reader or Reader(factory.kw["bind"])

    async def run_db(self, work: Callable[[Db], T]) -> T:
        """Run ``work`` in a write transaction off the event loop (see :mod:`.writer`)."""
        return await self.writer.run(work)

    def write_soon(self, work: Callable[[Db], int]) -> asyncio.Future[int]:
        """Start ``work`` in a write transaction now; await the future for its result."""
        return asyncio.ensure_future(self.writer.run(work))

    async def read_db(self, work: Callable[[Db], T]) -> T:
        """Run read-only ``work`` in one snapshot: right here on SQLite (cheap reads, see
        ``store.direct.Reader``), in a worker thread elsewhere."""
        if self.reader.inline:
            return self.reader.run(work)
        return await anyio.to_thread.run_sync(self.reader.run, work)

    async def model_for(self, model: str | None) -> str:
        """The model to use; 503 (before anything is stored) when no backend serves it."""
        chosen = await self.backends.resolve_model(model)
        await self.backends.candidates(chosen)
        return chosen

    async def answer(self, plan: Plan) -> AsyncGenerator[Event, None]:
        """Call the model for a prepared plan, stream it, and store the answer."""
        answer = Answer(started=time.perf_counter(), prefix=plan.prefix)
        try:
            yield Started(
                plan.conversation_id,
                plan.prompt_id,
                plan.parent_id,
                plan.node_id,
                plan.created,
                plan.model,
            )
            async with aclosing(self._rounds(plan, answer)) as texts:
                async for text in texts:
                    yield Delta(text)
        except (BackendError, Unavailable) as error:
            turn = await self._store(plan, answer, error=error.detail)
            raise TurnFailed(error.detail, turn=turn, status=error.status) from error
        except Exception as error:
            with anyio.CancelScope(shield=True):
                await self._store(plan, answer, error=f"internal error: {type(error).__name__}")
            raise
        except BaseException:  # cancelled, or the consumer stopped listening
            with anyio.CancelScope(shield=True):
                await self._store(plan, answer, interrupted=True)
            raise
        yield await self._store(plan, answer)

    async def _rounds(self, plan: Plan, answer: Answer) -> AsyncGenerator[str, None]:
        messages = continuation(plan.messages, plan.prefix) if plan.prefix else plan.messages
        options = dict(plan.options)
        max_tokens = options.pop("max_tokens", None)
        temperature = options.pop("temperature", None)
        while True:
            answer.rounds += 1
            answer.finish_reason = None
            request = ChatRequest(
                model=plan.model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                extra=options,
            )
            async with aclosing(self.backends.stream(request)) as chunks:
                async for chunk in chunks:
                    if chunk.model:
                        answer.model = chunk.model
                    if chunk.usage:
                        answer.add_usage(chunk.usage)
                    if chunk.finish_reason:
                        answer.finish_reason = chunk.finish_reason
                    if chunk.text:
                        if answer.first_token is None:
                            answer.first_token = time.perf_counter()
                        answer.pieces.append(chunk.text)
                        yield chunk.text
            if answer.finish_reason is None:
                answer.finish_reason = "stop"  # the stream ended without saying why
            if (
                answer.finish_reason == "length"
                and plan.autocontinue
                and answer.rounds <= self.autocontinue_rounds
            ):
                messages = continuation(plan.messages, answer.text)
                continue
            return

    async def _store(
        self, plan: Plan, answer: Answer, *, error: str | None = None, interrupted: bool = False
    ) -> Turn:
        ended, now = time.perf_counter(), time.time()
        done = error is None and not interrupted
        node_id = plan.node_id or plan.answer_id(answer.text)
        stored = answer.stored(
            node_id,
            parent_id=plan.parent_id,
            model=plan.model,
            now=now,
            ended=ended,
            error=error,
            interrupted=interrupted,
            extra=plan.metadata,
        )

        if plan.pending is not None:  # the prompt first (its error, if any, is this turn's)
            with anyio.CancelScope(shield=True):
                plan.pk = await plan.pending

        def finish(db: Db) -> bool:
            if plan.persist is not None:
                return plan.persist(db, node_id, stored, now)
            store.set_current_node(db, pk=plan.pk, node_id=node_id, now=now)
            store.update_message(db, pk=plan.pk, node_id=node_id, message=stored)
            return plan.created

        try:
            created = await self.run_db(finish)
        except IntegrityError:  # the same nodes, stored at this moment by another request
            if plan.persist is None:
                raise
            created = await self.run_db(finish)
        return Turn(
            conversation_id=plan.conversation_id,
            node_id=node_id,
            parent_id=plan.parent_id,
            prompt_id=plan.prompt_id,
            message=stored,
            created=created,
            finish_reason=answer.finish_reason if done else None,
        )


async def collect(events: AsyncIterator[Event]) -> Turn:
    """Run a turn to its end and return it (TurnFailed and other errors propagate)."""
    async for event in events:
        if isinstance(event, Turn):
            return event
    raise RuntimeError("a turn ended without its Turn event")


async def prime(events: AsyncGenerator[Event, None]) -> tuple[list[Event], Rest]:
    """Pull events up to the first text (or the end): errors before any text surface here,
    while a response can still carry a status code. Returns those events, which a stream
    sends together, and the :class:`Rest` of them.
    """
    head: list[Event] = []
    async for event in events:
        head.append(event)
        if not isinstance(event, Started):
            break
    return head, Rest(events)


class Rest:
    """The events after :func:`prime`'s head. Closing it closes the turn's events,
    shielded from cancellation and whether or not it was iterated: an abandoned turn
    stores what it had, as interrupted."""

    def __init__(self, events: AsyncGenerator[Event, None]) -> None:
        self._events = events

    def __aiter__(self) -> Rest:
        return self

    def __anext__(self) -> Awaitable[Event]:
        return anext(self._events)  # the generator's own awaitable: no extra frame per event

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._events.aclose()
