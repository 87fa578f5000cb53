"""``parley ask`` and ``parley chat`` against the fake backend, on the test store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from parley import tree
from parley.cli.main import app
from parley.store import conversations, users
from parley.store.db import open_engine, session_factory, transaction
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.live_server import free_port

runner = CliRunner()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=("fake-model", "other-model")) as server:
        yield server


@pytest.fixture(autouse=True)
def _library(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PARLEY_DATABASE_URL", store_url)
    return store_url


@pytest.fixture
def backend(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    monkeypatch.setenv("PARLEY_OPENAI_BASE_URL", fake.url)
    return fake


def invoke(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def library(store_url: str) -> list[dict[str, Any]]:
    engine = open_engine(store_url)
    try:
        with transaction(session_factory(engine)) as session:
            owner = users.local_owner(session).id
            pks = [s.pk for s in conversations.summaries(session, owner_id=owner)]
            return list(conversations.load_many(session, pks=pks))
    finally:
        engine.dispose()


def visible(data: dict[str, Any]) -> list[str]:
    return [tree.message_text(m) for m in tree.visible_messages(data)]


def test_ask_streams_the_answer_and_stores_the_turn(_library: str, backend: FakeOpenAI) -> None:
    result = invoke("ask", "hello there")
    assert result.exit_code == 0, result.output
    assert result.stdout == "You said: hello there\n"
    (data,) = library(_library)
    assert f"conversation {data['id']}" in result.stderr
    assert visible(data) == ["hello there", "You said: hello there"]
    again = invoke("ask", "more", "--conversation", data["id"], "--model", "other-model")
    assert again.exit_code == 0, again.output
    assert backend.chat_requests()[-1].body["model"] == "other-model"
    assert backend.chat_requests()[-1].body["messages"][0] == {
        "role": "user",
        "content": "hello there",
    }
    (data,) = library(_library)
    assert visible(data)[-2:] == ["more", "You said: more"]


def test_ask_json(_library: str, backend: FakeOpenAI) -> None:
    backend.script(Reply(text="cut", finish_reason="length"), Reply(text=" short"))
    result = invoke("ask", "q", "--json", "--autocontinue")
    assert result.exit_code == 0, result.output
    record = orjson.loads(result.stdout)
    assert set(record) == {
        "conversation_id",
        "id",
        "parent_id",
        "model",
        "finish_details",
        "message",
    }
    assert (record["message"], record["finish_details"], record["model"]) == (
        "cut short",
        "stop",
        "fake-model",
    )


def test_ask_without_a_backend_says_how_to_configure_one(_library: str) -> None:
    result = invoke("ask", "anyone?")
    assert result.exit_code == 1
    assert "PARLEY_OPENAI_BASE_URL" in result.stderr
    assert library(_library) == []


def test_ask_with_the_backend_down_says_so_once(
    _library: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARLEY_OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    result = invoke("ask", "anyone?")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: no model was named")
    assert "could not connect" in result.stderr
    assert "could not list models" not in result.stderr  # no warning before the error


def test_a_failed_ask_keeps_the_partial_answer(_library: str, backend: FakeOpenAI) -> None:
    backend.script(Reply(pieces=["so far ", "no further"], drop_after=1))
    result = invoke("ask", "try")
    assert result.exit_code == 1
    assert result.stdout.startswith("so far ") and "broke off" in result.stderr
    (data,) = library(_library)
    assert visible(data) == ["try", "so far "]


def test_terminal_control_sequences_from_models_are_removed(
    _library: str, backend: FakeOpenAI
) -> None:
    backend.script(Reply(pieces=["\x1b]0;pwned\x07safe", " text"]))
    result = invoke("ask", "x")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "safe text" in result.stdout


def test_chat_is_an_interactive_conversation(_library: str, backend: FakeOpenAI) -> None:
    backend.script(Reply(text="first answer"), Reply(text="second answer"), Reply(text="again"))
    result = invoke("chat", input="hi\n\nhow are you?\n/regenerate\n/quit\n")
    assert result.exit_code == 0, result.output
    for text in ("first answer", "second answer", "again"):
        assert text in result.stdout
    (data,) = library(_library)
    assert visible(data) == ["hi", "first answer", "how are you?", "again"]
    shape = tree.Tree.build(data["mapping"])
    prompt = shape.parent[data["current_node"]]
    assert len(shape.children[prompt or ""]) == 2  # the regenerated answer is a sibling


def test_chat_resumes_a_conversation_and_can_start_anew(_library: str, backend: FakeOpenAI) -> None:
    assert invoke("ask", "remember me").exit_code == 0
    (data,) = library(_library)
    result = invoke("chat", data["id"], input="and then?\n/new\nsomething else\n")
    assert result.exit_code == 0, result.output
    assert "remember me" in result.stdout  # the last messages are shown first
    assert "You said: and then?" in result.stdout
    chats = library(_library)
    assert len(chats) == 2
    resumed = next(c for c in chats if c["id"] == data["id"])
    assert visible(resumed)[-2:] == ["and then?", "You said: and then?"]


def test_chat_reports_errors_and_stays_open(_library: str, backend: FakeOpenAI) -> None:
    backend.script(Reply(status=500, error="model down"))
    result = invoke("chat", input="one\n/model nope\ntwo\n/model\nthree\n/unknown\n/help\n")
    assert result.exit_code == 0, result.output
    assert "model down" in result.stderr
    assert "no backend serves model 'nope'" in result.stderr
    assert "You said: three" in result.stdout
    assert "unknown command /unknown; the commands: /new" in result.stdout
    assert "/regenerate     answer your last message again" in result.stdout  # /help
    missing = invoke("chat", "no-such-conversation", input="")
    assert missing.exit_code == 2 and "not found" in missing.stderr
