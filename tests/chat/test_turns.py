"""The pieces of a turn: stored messages, prompts for the model, titles."""

from __future__ import annotations

import pytest

from parley import tree
from parley.chat.turns import (
    CONTINUE_PROMPT,
    Answer,
    continuation,
    finish_details,
    message,
    placeholder,
    prompt_messages,
    title_from_prompt,
)
from parley.store.turns import NodeInfo

EXPORT_KEYS = {
    "id",
    "author",
    "create_time",
    "update_time",
    "content",
    "status",
    "end_turn",
    "weight",
    "metadata",
    "recipient",
    "channel",
}


def test_messages_have_the_export_shape() -> None:
    stored = message("n1", "user", "hi", now=12.5)
    assert set(stored) == EXPORT_KEYS
    assert stored["author"] == {"role": "user", "name": None, "metadata": {}}
    assert stored["content"] == {"content_type": "text", "parts": ["hi"]}
    assert (stored["recipient"], stored["channel"], stored["weight"]) == ("all", None, 1.0)
    assert tree.message_text(stored) == "hi" and not tree.is_hidden(stored)


def test_an_answer_in_progress_is_hidden() -> None:
    stub = placeholder("a", parent_id="u", model="m", now=1.0)
    assert stub["status"] == "in_progress" and tree.is_hidden(stub)
    assert stub["metadata"] == {"model_slug": "m", "parent_id": "u"}


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("stop", "stop"),
        ("length", "max_tokens"),
        (None, "interrupted"),
        ("content_filter", "content_filter"),
    ],
)
def test_finish_details(reason: str | None, kind: str) -> None:
    assert finish_details(reason) == {"type": kind}


def answer(**fields: object) -> Answer:
    result = Answer(started=100.0, pieces=["Hello", " world"], model="m-2024", first_token=100.25)
    for key, value in fields.items():
        setattr(result, key, value)
    return result


def test_a_complete_answer() -> None:
    done = answer(finish_reason="stop", rounds=1)
    done.add_usage({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
    stored = done.stored("a", parent_id="u", model="asked", now=5.0, ended=101.0)
    assert set(stored) == EXPORT_KEYS
    assert stored["content"]["parts"] == ["Hello world"]
    assert (stored["status"], stored["end_turn"]) == ("finished_successfully", True)
    assert stored["metadata"] == {
        "model_slug": "m-2024",
        "finish_details": {"type": "stop"},
        "parent_id": "u",
        "timings": {"first_token": 0.25, "total": 1.0, "rounds": 1},
        "citations": [],
        "is_complete": True,
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def test_rounds_add_up_their_usage() -> None:
    joined = answer(finish_reason="stop")
    for _ in range(3):
        joined.add_usage({"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14})
    assert joined.usage == {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}


def test_a_cut_off_answer_does_not_end_the_turn() -> None:
    stored = answer(finish_reason="length").stored("a", parent_id="u", model="m", now=1, ended=101)
    assert stored["metadata"]["finish_details"] == {"type": "max_tokens"}
    assert stored["end_turn"] is False and stored["status"] == "finished_successfully"


def test_failed_and_interrupted_answers_keep_what_arrived() -> None:
    failed = answer().stored("a", parent_id="u", model="m", now=1, ended=101, error="boom")
    assert failed["status"] == "finished_partial_completion"
    assert failed["metadata"]["error"] == "boom"
    assert failed["metadata"]["finish_details"] == {"type": "interrupted"}
    assert failed["content"]["parts"] == ["Hello world"]
    empty = Answer(started=1.0).stored("a", parent_id="u", model="m", now=1, ended=2, error="boom")
    assert empty["status"] == "error" and empty["metadata"]["model_slug"] == "m"
    assert empty["metadata"]["timings"]["first_token"] is None
    cut = answer().stored("a", parent_id="u", model="m", now=1, ended=101, interrupted=True)
    assert cut["status"] == "finished_partial_completion" and "error" not in cut["metadata"]


def node(role: str | None, text: str, **fields: object) -> NodeInfo:
    values: dict[str, object] = {
        "node_id": text or "root",
        "parent_id": None,
        "role": role,
        "content_type": "text",
        "recipient": "all",
        "hidden": False,
        "text": text,
    }
    values.update(fields)
    return NodeInfo(**values)  # type: ignore[arg-type]


def test_prompts_keep_what_the_model_should_see() -> None:
    path = [
        node(None, ""),
        node("system", "", hidden=True),
        node("system", "Be brief.", hidden=True),
        node("user", "question"),
        node("assistant", "print(1)", recipient="python", hidden=True),
        node("tool", "1"),
        node("assistant", "thinking", content_type="thoughts", hidden=True),
        node("user", "custom instructions", content_type="user_editable_context", hidden=True),
        node("assistant", "answer"),
    ]
    assert prompt_messages(path) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "question"},
        {"role": "assistant", "content": "answer"},
    ]


def test_a_continuation_shows_the_partial_answer_then_asks_to_go_on() -> None:
    asked = [{"role": "user", "content": "q"}]
    assert continuation(asked, "half an ans") == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "half an ans"},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]
    assert asked == [{"role": "user", "content": "q"}]


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        ("How do I sort a list in Python?", "How do I sort a list in Python?"),
        ("\n\n  # Fix this\ncode here", "Fix this"),
        ("  many   spaces\tand\ttabs ", "many spaces and tabs"),
        ("", "New chat"),
        ("\x1b[31mred\x07", "[31mred"),
        (
            "Explain the difference between processes and threads in operating systems, with examples",
            "Explain the difference between processes and threads in…",
        ),
        ("x" * 100, "x" * 60 + "…"),
    ],
)
def test_titles_come_from_the_first_prompt(prompt: str, title: str) -> None:
    assert title_from_prompt(prompt) == title
    assert len(title_from_prompt(prompt)) <= 61
