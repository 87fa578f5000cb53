"""The chat engine over a real store (SQLite, PostgreSQL) and the fake backend on loopback."""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import pytest
from sqlalchemy.orm import Session, sessionmaker

from parley import tree
from parley.chat.answering import Delta, Started, Turn, TurnFailed, collect
from parley.chat.backends.openai import OpenAIBackend
from parley.chat.engine import ChatEngine
from parley.chat.router import BackendRegistry
from parley.chat.turns import CONTINUE_PROMPT
from parley.errors import BadRequest, NotFound, Unavailable
from parley.store import conversations
from parley.store.db import transaction
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.anyio


@pytest.fixture
def chat(factory: sessionmaker[Session], fake: FakeOpenAI) -> ChatEngine:
    backend = OpenAIBackend("fake", fake.url, backoff=0)
    return ChatEngine(factory, BackendRegistry([backend]), autocontinue_rounds=3)


def load(chat: ChatEngine, owner_id: str, cid: str) -> dict[str, Any]:
    with transaction(chat.factory) as session:
        return conversations.load(session, owner_id=owner_id, conversation_id=cid)


async def stored_soon(chat: ChatEngine, owner_id: str, cid: str) -> dict[str, Any]:
    """The conversation once its first write landed (it runs while the model answers)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return load(chat, owner_id, cid)
        except NotFound:
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.01)


def visible(data: dict[str, Any]) -> list[str]:
    return [tree.message_text(m) for m in tree.visible_messages(data)]


async def test_a_first_prompt_makes_a_titled_conversation(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    fake.script(Reply(pieces=["Hi", " there"], model="fake-model-2024"))
    events = [event async for event in chat.ask(owner_id=owner_id, prompt="Say hi\nplease")]
    started, *deltas, turn = events
    assert isinstance(started, Started) and started.created
    assert "".join(d.text for d in deltas if isinstance(d, Delta)) == "Hi there"
    assert isinstance(turn, Turn) and turn.text == "Hi there"
    assert (started.node_id, started.prompt_id) == (turn.node_id, turn.prompt_id)
    data = load(chat, owner_id, turn.conversation_id)
    assert data["title"] == "Say hi" and data["current_node"] == turn.node_id
    assert visible(data) == ["Say hi\nplease", "Hi there"]
    answer = data["mapping"][turn.node_id]["message"]
    assert answer == turn.message
    assert answer["status"] == "finished_successfully" and answer["end_turn"] is True
    meta = answer["metadata"]
    assert meta["model_slug"] == "fake-model-2024" and meta["parent_id"] == turn.prompt_id
    assert meta["finish_details"] == {"type": "stop"}
    assert meta["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert meta["timings"]["rounds"] == 1 and meta["timings"]["total"] >= 0
    assert fake.chat_requests()[0].body["messages"] == [
        {"role": "user", "content": "Say hi\nplease"}
    ]
    with transaction(chat.factory) as session:
        (summary,) = conversations.summaries(session, owner_id=owner_id)
    assert summary.message_count == 2


async def test_asking_again_sends_the_path_and_moves_the_current_node(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    first = await collect(chat.ask(owner_id=owner_id, prompt="one"))
    second = await collect(
        chat.ask(owner_id=owner_id, prompt="two", conversation_id=first.conversation_id)
    )
    assert second.parent_id == second.prompt_id and not second.created
    assert fake.chat_requests()[1].body["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "You said: one"},
        {"role": "user", "content": "two"},
    ]
    data = load(chat, owner_id, first.conversation_id)
    assert data["current_node"] == second.node_id
    assert data["mapping"][second.prompt_id]["parent"] == first.node_id
    assert visible(data) == ["one", "You said: one", "two", "You said: two"]


async def test_a_parent_id_branches_the_tree(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    first = await collect(chat.ask(owner_id=owner_id, prompt="one"))
    cid = first.conversation_id
    await collect(chat.ask(owner_id=owner_id, prompt="two", conversation_id=cid))
    side = await collect(
        chat.ask(
            owner_id=owner_id, prompt="other two", conversation_id=cid, parent_id=first.node_id
        )
    )
    data = load(chat, owner_id, cid)
    assert len(data["mapping"][first.node_id]["children"]) == 2
    assert data["mapping"][first.node_id]["children"][-1] == side.prompt_id
    assert visible(data) == ["one", "You said: one", "other two", "You said: other two"]
    assert fake.chat_requests()[-1].body["messages"][-1] == {"role": "user", "content": "other two"}


async def test_regenerate_adds_a_sibling_answer(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    first = await collect(chat.ask(owner_id=owner_id, prompt="one"))
    fake.script(Reply(text="another take"))
    again = await collect(
        chat.regenerate(
            owner_id=owner_id, conversation_id=first.conversation_id, node_id=first.node_id
        )
    )
    assert again.parent_id == first.prompt_id and again.prompt_id is None
    assert fake.chat_requests()[-1].body["messages"] == [{"role": "user", "content": "one"}]
    data = load(chat, owner_id, first.conversation_id)
    assert data["mapping"][first.prompt_id]["children"] == [first.node_id, again.node_id]
    assert visible(data) == ["one", "another take"]
    # regenerating from the prompt itself answers it again too
    third = await collect(
        chat.regenerate(
            owner_id=owner_id, conversation_id=first.conversation_id, node_id=first.prompt_id
        )
    )
    assert third.parent_id == first.prompt_id


async def test_edit_adds_a_sibling_prompt(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    first = await collect(chat.ask(owner_id=owner_id, prompt="one"))
    cid = first.conversation_id
    second = await collect(chat.ask(owner_id=owner_id, prompt="two", conversation_id=cid))
    edited = await collect(
        chat.edit(
            owner_id=owner_id, conversation_id=cid, node_id=second.prompt_id or "", prompt="2!"
        )
    )
    data = load(chat, owner_id, cid)
    assert data["mapping"][first.node_id]["children"] == [second.prompt_id, edited.prompt_id]
    assert visible(data) == ["one", "You said: one", "2!", "You said: 2!"]
    root = data["mapping"][first.prompt_id]["parent"]
    with pytest.raises(BadRequest, match="root"):
        await collect(chat.edit(owner_id=owner_id, conversation_id=cid, node_id=root, prompt="x"))


async def test_continue_carries_an_answer_on_as_a_whole_sibling(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    fake.script(Reply(text="The first half", finish_reason="length"), Reply(text=" and the rest."))
    cut = await collect(chat.ask(owner_id=owner_id, prompt="tell me"))
    assert cut.finish_reason == "length"
    assert cut.message["metadata"]["finish_details"] == {"type": "max_tokens"}
    assert cut.message["end_turn"] is False
    whole = await collect(
        chat.continue_(owner_id=owner_id, conversation_id=cut.conversation_id, node_id=cut.node_id)
    )
    assert whole.text == "The first half and the rest."
    assert whole.message["metadata"]["continued_from"] == cut.node_id
    assert whole.parent_id == cut.prompt_id
    assert fake.chat_requests()[-1].body["messages"] == [
        {"role": "user", "content": "tell me"},
        {"role": "assistant", "content": "The first half"},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]
    data = load(chat, owner_id, cut.conversation_id)
    assert visible(data) == ["tell me", "The first half and the rest."]
    assert data["mapping"][cut.node_id]["message"]["content"]["parts"] == ["The first half"]
    with pytest.raises(BadRequest, match="not an answer that can be continued"):
        await collect(
            chat.continue_(
                owner_id=owner_id, conversation_id=cut.conversation_id, node_id=cut.prompt_id or ""
            )
        )


async def test_autocontinue_joins_rounds_cut_by_the_length_limit(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    rounds = [
        Reply(text="Once upon", finish_reason="length"),
        Reply(text=" a time there", finish_reason="length"),
        Reply(text=" was a fox."),
    ]
    fake.script(*rounds)
    turn = await collect(chat.ask(owner_id=owner_id, prompt="a story", autocontinue=True))
    assert turn.text == "Once upon a time there was a fox."
    meta = turn.message["metadata"]
    assert meta["finish_details"] == {"type": "stop"} and meta["timings"]["rounds"] == 3
    assert meta["usage"]["completion_tokens"] == sum(len(r.parts()) for r in rounds)
    sent = [r.body["messages"] for r in fake.chat_requests()]
    assert sent[0] == [{"role": "user", "content": "a story"}]
    assert sent[1][1:] == [
        {"role": "assistant", "content": "Once upon"},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]
    assert sent[2][1] == {"role": "assistant", "content": "Once upon a time there"}
    data = load(chat, owner_id, turn.conversation_id)
    assert visible(data) == ["a story", "Once upon a time there was a fox."]


async def test_autocontinue_stops_at_its_bound(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    fake.default = Reply(text="more", finish_reason="length")
    turn = await collect(chat.ask(owner_id=owner_id, prompt="go on forever", autocontinue=True))
    assert len(fake.chat_requests()) == 1 + chat.autocontinue_rounds
    assert turn.text == "more" * 4
    assert turn.message["metadata"]["finish_details"] == {"type": "max_tokens"}


async def test_without_autocontinue_one_round_is_asked(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    fake.script(Reply(text="cut", finish_reason="length"))
    turn = await collect(chat.ask(owner_id=owner_id, prompt="x"))
    assert turn.text == "cut" and len(fake.chat_requests()) == 1


async def test_a_failure_before_any_text_keeps_the_prompt(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    fake.script(Reply(status=500, error="the model crashed"))
    with pytest.raises(TurnFailed) as caught:
        await collect(chat.ask(owner_id=owner_id, prompt="will it fail?"))
    failed = caught.value
    assert failed.status == 502 and "the model crashed" in failed.detail
    data = load(chat, owner_id, failed.turn.conversation_id)
    answer = data["mapping"][failed.turn.node_id]["message"]
    assert answer["status"] == "error" and "the model crashed" in answer["metadata"]["error"]
    assert data["current_node"] == failed.turn.node_id
    assert visible(data) == ["will it fail?"]


async def test_a_failure_mid_reply_keeps_the_partial_answer(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    fake.script(Reply(pieces=["It was ", "a dark"], drop_after=1))
    with pytest.raises(TurnFailed) as caught:
        await collect(chat.ask(owner_id=owner_id, prompt="story"))
    data = load(chat, owner_id, caught.value.turn.conversation_id)
    answer = data["mapping"][caught.value.turn.node_id]["message"]
    assert answer["status"] == "finished_partial_completion"
    assert answer["content"]["parts"] == ["It was "]
    assert answer["metadata"]["finish_details"] == {"type": "interrupted"}
    assert visible(data) == ["story", "It was "]


async def test_a_consumer_that_stops_listening_leaves_an_interrupted_answer(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    gate = threading.Event()
    fake.script(Reply(pieces=["first ", "second"], hold_after=1, gate=gate))
    events = chat.ask(owner_id=owner_id, prompt="long answer please")
    try:
        started = await events.__anext__()
        assert isinstance(started, Started)
        first = await events.__anext__()
        assert first == Delta("first ")
        holding = await stored_soon(chat, owner_id, started.conversation_id)
        assert holding["mapping"][started.node_id]["message"]["status"] == "in_progress"
        assert holding["current_node"] == started.node_id
        await events.aclose()
    finally:
        gate.set()
    data = load(chat, owner_id, started.conversation_id)
    answer = data["mapping"][started.node_id]["message"]
    assert answer["status"] == "finished_partial_completion"
    assert answer["content"]["parts"] == ["first "]
    assert answer["metadata"]["finish_details"] == {"type": "interrupted"}


async def test_no_backend_is_a_503_before_anything_is_stored(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    chat = ChatEngine(factory, BackendRegistry())
    with pytest.raises(Unavailable, match="PARLEY_OPENAI_BASE_URL"):
        await collect(chat.ask(owner_id=owner_id, prompt="anyone there?"))
    with transaction(factory) as session:
        assert conversations.count(session, owner_id=owner_id) == 0
    with pytest.raises(NotFound):  # someone else's (or no) conversation: 404 first
        await collect(chat.ask(owner_id=owner_id, prompt="x", conversation_id="nope"))


async def test_an_unknown_model_is_a_503_before_anything_is_stored(
    chat: ChatEngine, owner_id: str
) -> None:
    with pytest.raises(Unavailable, match="no backend serves model 'gpt-9'"):
        await collect(chat.ask(owner_id=owner_id, prompt="x", model="gpt-9"))
    with transaction(chat.factory) as session:
        assert conversations.count(session, owner_id=owner_id) == 0


async def test_the_model_asked_for_is_used(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    turn = await collect(chat.ask(owner_id=owner_id, prompt="x", model="other-model"))
    assert fake.chat_requests()[0].body["model"] == "other-model"
    assert turn.model == "other-model"


async def test_missing_things_are_404s(chat: ChatEngine, owner_id: str) -> None:
    first = await collect(chat.ask(owner_id=owner_id, prompt="one"))
    cid = first.conversation_id
    with pytest.raises(NotFound):
        await collect(chat.ask(owner_id="another-owner", prompt="x", conversation_id=cid))
    with pytest.raises(NotFound, match="'ghost'"):
        await collect(
            chat.ask(owner_id=owner_id, prompt="x", conversation_id=cid, parent_id="ghost")
        )
    with pytest.raises(NotFound, match="'ghost'"):
        await collect(chat.regenerate(owner_id=owner_id, conversation_id=cid, node_id="ghost"))
    with pytest.raises(BadRequest, match="conversation_id"):
        await collect(chat.ask(owner_id=owner_id, prompt="x", parent_id=first.node_id))


async def test_a_lost_current_node_falls_back_to_the_latest_leaf(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    first = await collect(chat.ask(owner_id=owner_id, prompt="one"))
    with transaction(chat.factory) as session:
        conversations.set_fields(session, owner_id=owner_id, conversation_id=first.conversation_id)
        from parley.store import turns as store

        pk = conversations.get_pk(session, owner_id=owner_id, conversation_id=first.conversation_id)
        store.set_current_node(session, pk=pk, node_id="gone", now=1.0)
    second = await collect(
        chat.ask(owner_id=owner_id, prompt="two", conversation_id=first.conversation_id)
    )
    data = load(chat, owner_id, first.conversation_id)
    assert data["mapping"][second.prompt_id]["parent"] == first.node_id
