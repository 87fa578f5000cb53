"""Training-data records: roles, visibility, merging, and the JSONL writer."""

from __future__ import annotations

import io
import itertools
from typing import Any

import orjson

from parley.formats.jsonl import to_openai, to_sharegpt, write_jsonl

from .builders import Conv, msg, sample


def chat() -> Conv:
    conv = Conv()
    conv.add("s", "client-created-root", msg("system", "You are ChatGPT."))
    conv.add(
        "us",
        "s",
        msg("system", "Always answer in French.", meta={"is_user_system_message": True}),
    )
    conv.add("u1", "us", msg("user", "Hello"))
    conv.add("u1b", "u1", msg("user", "Are you there?"))
    conv.add("a1", "u1b", msg("assistant", "Bonjour \ue200cite\ue202turn0search1\ue201!"))
    conv.add("call", "a1", msg("assistant", "print(1)", recipient="python"))
    conv.add("tool", "call", msg("tool", "1", name="python"))
    conv.add("a2", "tool", msg("assistant", "Voilà【4†source】."))
    conv.add("hid", "a2", msg("user", "ctx", meta={"is_visually_hidden_from_conversation": True}))
    return conv


def test_sharegpt_roles_merging_and_hidden_rules() -> None:
    record = to_sharegpt(chat().build("hid"))
    assert record == {
        "id": "conv-1",
        "conversations": [
            {"from": "system", "value": "Always answer in French."},
            {"from": "human", "value": "Hello\n\nAre you there?"},
            {"from": "gpt", "value": "Bonjour !\n\nVoilà."},
        ],
    }


def test_openai_roles() -> None:
    record = to_openai(chat().build("hid"))
    assert record == {
        "messages": [
            {"role": "system", "content": "Always answer in French."},
            {"role": "user", "content": "Hello\n\nAre you there?"},
            {"role": "assistant", "content": "Bonjour !\n\nVoilà."},
        ]
    }


def test_visible_branch_and_no_reasoning_or_tools() -> None:
    record = to_openai(sample())
    assert record is not None
    contents = [m["content"] for m in record["messages"]]
    roles = [m["role"] for m in record["messages"]]
    joined = "\n".join(contents)
    assert "OLD ANSWER" not in joined and "EDITED" not in joined
    assert "print(6 * 7)" not in joined and "I should run code" not in joined
    assert "\ue200" not in joined and "【" not in joined
    assert roles[0] == "user" and "system" not in roles
    assert all(a != b for a, b in itertools.pairwise(roles))  # merged
    assert contents[-1] == "FINAL ANSWER with `code`"


def test_none_without_a_user_assistant_pair() -> None:
    only_user = Conv()
    only_user.add("u", "client-created-root", msg("user", "hi"))
    assert to_sharegpt(only_user.build("u")) is None
    assert to_openai(only_user.build("u")) is None
    assistant_first = Conv()
    assistant_first.add("a", "client-created-root", msg("assistant", "hello"))
    assistant_first.add("u", "a", msg("user", "hi"))
    assert to_openai(assistant_first.build("u")) is None
    assert to_sharegpt({"id": "x", "mapping": {}, "current_node": None}) is None


def test_write_jsonl() -> None:
    out = io.BytesIO()
    records: list[dict[str, Any] | None] = [
        to_openai(chat().build("hid")),
        None,
        {"messages": [{"role": "user", "content": "bad \ud800 surrogate ü"}]},
    ]
    assert write_jsonl(records, out) == 2
    data = out.getvalue()
    assert data.endswith(b"\n") and data.count(b"\n") == 2
    lines = [orjson.loads(line) for line in data.splitlines()]
    assert lines[0] == records[0]
    assert lines[1]["messages"][0]["content"] == "bad \ufffd surrogate ü"
    assert write_jsonl(iter([]), io.BytesIO()) == 0
