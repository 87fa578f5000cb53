"""The OpenAI proxy's memory: exchanges continue, diverge and branch one conversation tree."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from parley import tree
from parley.chat import proxy
from parley.chat.answering import Turn, TurnFailed, collect
from parley.chat.backends.openai import OpenAIBackend
from parley.chat.engine import ChatEngine
from parley.chat.router import BackendRegistry
from parley.errors import Unprocessable
from parley.store import conversations
from parley.store.db import transaction
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.anyio

SYSTEM = {"role": "system", "content": "You are terse."}


@pytest.fixture
def chat(factory: sessionmaker[Session], fake: FakeOpenAI) -> ChatEngine:
    return ChatEngine(factory, BackendRegistry([OpenAIBackend("fake", fake.url, backoff=0)]))


async def send(chat: ChatEngine, owner_id: str, messages: list[dict[str, Any]]) -> Turn:
    return await collect(
        proxy.exchange(chat, owner_id=owner_id, model="fake-model", messages=messages)
    )


def library(chat: ChatEngine, owner_id: str) -> list[dict[str, Any]]:
    with transaction(chat.factory) as session:
        pks = [s.pk for s in conversations.summaries(session, owner_id=owner_id)]
        return list(conversations.load_many(session, pks=pks))


def texts(data: dict[str, Any]) -> list[str]:
    shape = tree.Tree.build(data["mapping"])
    path = shape.visible_path(data["current_node"])
    return [tree.message_text(shape.nodes[n]["message"]) for n in path[1:]]


def test_content_text_and_identity() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert proxy.content_text(parts) == "a\nb"
    assert proxy.content_text([{"type": "image_url", "image_url": {"url": "x"}}]) == "[image_url]"
    assert proxy.content_text(None) == ""
    plain = {"role": "user", "content": "a\nb"}
    assert proxy.identity(plain) == proxy.identity({"role": "user", "content": parts})
    assert proxy.identity(plain) == proxy.identity({**plain, "name": None, "refusal": None})
    assert proxy.identity(plain) != proxy.identity({"role": "assistant", "content": "a\nb"})
    call = {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}
    assert proxy.identity(call) != proxy.identity({"role": "assistant", "content": None})


def test_chains_depend_on_every_earlier_message_and_the_owner() -> None:
    one = [SYSTEM, {"role": "user", "content": "hi"}]
    assert proxy.chain("o", one) == proxy.chain("o", one)
    assert proxy.chain("o", one)[1] != proxy.chain("p", one)[1]
    other = [{"role": "system", "content": "Be long."}, {"role": "user", "content": "hi"}]
    assert proxy.chain("o", one)[1] != proxy.chain("o", other)[1]
    longer = [*one, {"role": "assistant", "content": "yo"}]
    assert proxy.conversation_id_for(one, proxy.chain("o", one)) == proxy.conversation_id_for(
        longer, proxy.chain("o", longer)
    )


@pytest.mark.parametrize(
    ("messages", "detail"),
    [
        (None, "non-empty array"),
        ([], "non-empty array"),
        (["hi"], "messages[0] must be an object"),
        ([{"role": "wizard", "content": "x"}], "messages[0].role must be one of"),
        ([{"role": "user", "content": 3}], "messages[0].content must be a string or an array"),
    ],
)
async def test_bad_messages_are_422(
    chat: ChatEngine, owner_id: str, messages: Any, detail: str
) -> None:
    with pytest.raises(Unprocessable, match=detail.replace("[", r"\[").replace("]", r"\]")):
        await send(chat, owner_id, messages)


async def test_a_first_exchange_is_a_new_conversation(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    messages = [SYSTEM, {"role": "user", "content": "What is 2+2?\nQuickly."}]
    turn = await send(chat, owner_id, messages)
    assert turn.created and turn.text == "You said: What is 2+2?\nQuickly."
    assert fake.chat_requests()[0].body["messages"] == messages  # sent on as the client sent them
    (data,) = library(chat, owner_id)
    assert data["title"] == "What is 2+2?" and data["current_node"] == turn.node_id
    assert texts(data) == ["You are terse.", "What is 2+2?\nQuickly.", turn.text]
    with transaction(chat.factory) as session:
        (summary,) = conversations.summaries(session, owner_id=owner_id)
        assert summary.message_count == 3


async def test_extending_an_exchange_continues_its_conversation(
    chat: ChatEngine, owner_id: str
) -> None:
    first = [SYSTEM, {"role": "user", "content": "one"}]
    a1 = await send(chat, owner_id, first)
    second = [*first, {"role": "assistant", "content": a1.text}, {"role": "user", "content": "two"}]
    a2 = await send(chat, owner_id, second)
    assert a2.conversation_id == a1.conversation_id and not a2.created
    (data,) = library(chat, owner_id)
    assert texts(data) == ["You are terse.", "one", a1.text, "two", a2.text]
    assert len(data["mapping"]) == 1 + 5  # the root, then each message once
    assert data["mapping"][a2.prompt_id or ""]["parent"] == a1.node_id


async def test_a_diverging_request_branches_where_it_diverges(
    chat: ChatEngine, owner_id: str
) -> None:
    first = [{"role": "user", "content": "one"}]
    a1 = await send(chat, owner_id, first)
    a2 = await send(
        chat,
        owner_id,
        [*first, {"role": "assistant", "content": a1.text}, {"role": "user", "content": "two"}],
    )
    edited = await send(
        chat,
        owner_id,
        [*first, {"role": "assistant", "content": a1.text}, {"role": "user", "content": "TWO"}],
    )
    (data,) = library(chat, owner_id)
    assert data["mapping"][a1.node_id]["children"] == [a2.prompt_id, edited.prompt_id]
    assert texts(data) == ["one", a1.text, "TWO", edited.text]
    altered = await send(
        chat,
        owner_id,
        [
            *first,
            {"role": "assistant", "content": "an answer I wrote"},
            {"role": "user", "content": "three"},
        ],
    )
    (data,) = library(chat, owner_id)
    parent = data["mapping"][altered.prompt_id or ""]["parent"]
    assert data["mapping"][parent]["parent"] == a1.prompt_id  # a sibling of the stored answer
    assert texts(data) == ["one", "an answer I wrote", "three", altered.text]


async def test_asking_the_same_again_adds_sibling_answers(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    messages = [{"role": "user", "content": "pick a number"}]
    fake.script(Reply(text="4"), Reply(text="7"), Reply(text="4"))
    answers = [await send(chat, owner_id, messages) for _ in range(3)]
    (data,) = library(chat, owner_id)
    prompt = answers[0].prompt_id or ""
    assert data["mapping"][prompt]["children"] == [answers[0].node_id, answers[1].node_id]
    assert answers[2].node_id == answers[0].node_id  # the same answer is stored once
    assert data["current_node"] == answers[0].node_id


async def test_chats_sharing_only_a_system_prompt_stay_apart(
    chat: ChatEngine, owner_id: str
) -> None:
    await send(chat, owner_id, [SYSTEM, {"role": "user", "content": "first chat"}])
    await send(chat, owner_id, [SYSTEM, {"role": "user", "content": "second chat"}])
    assert len(library(chat, owner_id)) == 2


async def test_each_owner_has_their_own_tree(chat: ChatEngine, owner_id: str) -> None:
    from parley.store import users

    with transaction(chat.factory) as session:
        other = users.create(session, name="other").id
    messages = [{"role": "user", "content": "same words"}]
    mine, theirs = await send(chat, owner_id, messages), await send(chat, other, messages)
    assert mine.conversation_id != theirs.conversation_id
    assert len(library(chat, owner_id)) == 1 and len(library(chat, other)) == 1


async def test_a_failed_exchange_is_stored_with_its_error(
    chat: ChatEngine, owner_id: str, fake: FakeOpenAI
) -> None:
    fake.script(Reply(pieces=["par", "tial"], drop_after=1))
    with pytest.raises(TurnFailed) as caught:
        await send(chat, owner_id, [{"role": "user", "content": "fragile"}])
    (data,) = library(chat, owner_id)
    answer = data["mapping"][caught.value.turn.node_id]["message"]
    assert answer["status"] == "finished_partial_completion" and answer["content"]["parts"] == [
        "par"
    ]
    assert texts(data) == ["fragile", "par"]


async def test_non_text_content_is_kept_in_metadata(chat: ChatEngine, owner_id: str) -> None:
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}},
    ]
    turn = await send(chat, owner_id, [{"role": "user", "content": content}])
    (data,) = library(chat, owner_id)
    stored = data["mapping"][turn.prompt_id or ""]["message"]
    assert stored["content"]["parts"] == ["what is this?\n[image_url]"]
    assert stored["metadata"]["openai_content"] == content
