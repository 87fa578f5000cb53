"""Answering a prepared turn: events, collect, prime, storing whatever happens."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from parley.chat.answering import Answerer, Delta, Plan, Started, Turn, TurnFailed, collect, prime
from parley.chat.backends.openai import OpenAIBackend
from parley.chat.router import BackendRegistry
from parley.chat.turns import message, new_conversation
from parley.store import conversations
from parley.store import turns as store
from parley.store.db import transaction
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.anyio


@pytest.fixture
def answerer(factory: sessionmaker[Session], fake: FakeOpenAI) -> Answerer:
    return Answerer(factory, BackendRegistry([OpenAIBackend("fake", fake.url, backoff=0)]))


def stored_plan(answerer: Answerer, owner_id: str) -> Plan:
    """A plan whose prompt and in_progress answer are stored (as the engine makes them)."""
    conversation = new_conversation(
        "c1",
        title="t",
        model="fake-model",
        now=1.0,
        nodes=[
            ("u", message("u", "user", "hi", now=1.0)),
            ("a", message("a", "assistant", "", now=1.0, status="in_progress")),
        ],
    )
    with transaction(answerer.factory) as session:
        pk = store.create_conversation(session, owner_id=owner_id, conversation=conversation)
    return Plan(
        conversation_id="c1",
        parent_id="u",
        prompt_id="u",
        messages=[{"role": "user", "content": "hi"}],
        model="fake-model",
        pk=pk,
        node_id="a",
    )


def answer_of(answerer: Answerer, owner_id: str) -> dict[str, Any]:
    with transaction(answerer.factory) as session:
        data = conversations.load(session, owner_id=owner_id, conversation_id="c1")
    message_: dict[str, Any] = data["mapping"]["a"]["message"]
    return message_


async def test_collect_returns_the_stored_turn(answerer: Answerer, owner_id: str) -> None:
    turn = await collect(answerer.answer(stored_plan(answerer, owner_id)))
    assert turn.text == "You said: hi" and turn.node_id == "a"
    assert answer_of(answerer, owner_id) == turn.message


async def test_prime_pulls_up_to_the_first_text(
    answerer: Answerer, owner_id: str, fake: FakeOpenAI
) -> None:
    gate = threading.Event()
    fake.script(Reply(pieces=["a", "b", "c"], hold_after=1, gate=gate))
    try:
        head, rest = await prime(answerer.answer(stored_plan(answerer, owner_id)))
    finally:
        gate.set()
    assert isinstance(head[0], Started) and head[1:] == [Delta("a")]
    events = [event async for event in rest]
    after = events[:-1]  # what came after the head, once: none of the head again
    assert all(isinstance(e, Delta) for e in after)
    assert "".join(e.text for e in after if isinstance(e, Delta)) == "bc"
    assert isinstance(events[-1], Turn) and events[-1].text == "abc"


async def test_a_failure_before_text_surfaces_in_prime(
    answerer: Answerer, owner_id: str, fake: FakeOpenAI
) -> None:
    fake.script(Reply(status=503, error="overloaded"))
    with pytest.raises(TurnFailed) as caught:
        await prime(answerer.answer(stored_plan(answerer, owner_id)))
    assert caught.value.status == 503
    assert answer_of(answerer, owner_id)["status"] == "error"


async def test_an_abandoned_replay_stores_an_interrupted_answer(
    answerer: Answerer, owner_id: str, fake: FakeOpenAI
) -> None:
    gate = threading.Event()
    fake.script(Reply(pieces=["x", "y"], hold_after=1, gate=gate))
    try:
        _head, rest = await prime(answerer.answer(stored_plan(answerer, owner_id)))
        await rest.aclose()  # the consumer stops after the first text
    finally:
        gate.set()
    stored = answer_of(answerer, owner_id)
    assert stored["status"] == "finished_partial_completion"
    assert stored["content"]["parts"] == ["x"]


async def test_a_persisted_plan_stores_everything_at_the_end(
    answerer: Answerer, owner_id: str
) -> None:
    calls: list[tuple[str, str]] = []

    def persist(session: Session, answer_id: str, answer: dict[str, Any], now: float) -> bool:
        conversation = new_conversation(
            "c2",
            title=None,
            model="fake-model",
            now=now,
            nodes=[("u", message("u", "user", "hi", now=now)), (answer_id, answer)],
        )
        store.create_conversation(session, owner_id=owner_id, conversation=conversation)
        calls.append((answer_id, answer["content"]["parts"][0]))
        return True

    plan = Plan(
        conversation_id="c2",
        parent_id="u",
        prompt_id="u",
        messages=[{"role": "user", "content": "hi"}],
        model="fake-model",
        persist=persist,
        answer_id=lambda text: f"id-of-{len(text)}",
    )
    turn = await collect(answerer.answer(plan))
    assert calls == [("id-of-12", "You said: hi")]
    assert turn.created and turn.node_id == "id-of-12"
