"""Transcript helpers: message selection, headings, branches, citations, metadata."""

from __future__ import annotations

from typing import Any

import pytest

from parley.formats.transcript import (
    Footnotes,
    conversation_model,
    heading,
    is_code_call,
    iso_time,
    other_branches,
    resolve_citations,
    shown,
    strip_citations,
)
from parley.tree import Tree

from .builders import LEGACY_TEXT, NEW_TEXT, Conv, msg, sample


def sample_messages() -> dict[str, dict[str, Any]]:
    return {n: node["message"] for n, node in sample()["mapping"].items() if node["message"]}


# --- Citations ----------------------------------------------------------------------------


def test_footnotes_number_by_url_then_by_title() -> None:
    notes = Footnotes()
    assert notes.ref("A", "https://a.com") == "[^1]"
    assert notes.ref("Other title", "https://a.com") == "[^1]"  # one URL keeps one number
    assert notes.ref(" T \n x ", None) == "[^2]"
    assert notes.ref("T x", "  ") == "[^2]"  # no URL: keyed by the cleaned title
    assert notes.ref(None, None) == "" and notes.ref("", "") == ""
    assert notes.ref(3, "ftp://x y") == "[^3]"
    assert notes.items == [("A", "https://a.com"), ("T x", None), ("ftp://x y", "ftp://x y")]


def test_footnote_definitions_escape_titles_and_encode_urls() -> None:
    notes = Footnotes()
    notes.ref("Paris [wiki] *x*", "https://e.com/a b (c)")
    notes.ref("plain", "javascript:alert(1)")
    notes.ref("no url", None)
    assert notes.definitions().split("\n") == [
        r"[^1]: [Paris \[wiki\] \*x\*](https://e.com/a%20b%20%28c%29)",
        "[^2]: plain",
        "[^3]: no url",
    ]
    assert Footnotes().definitions() == ""


def test_legacy_citations_resolve_in_order() -> None:
    meta = sample_messages()["a1b"]["metadata"]
    notes = Footnotes()
    out = resolve_citations(LEGACY_TEXT, meta, notes)
    assert out == "Paris is the capital[^1] and it is big[^2]."
    assert [url for _, url in notes.items] == [
        "https://en.wikipedia.org/wiki/Paris",
        "https://example.com/size (big)",
    ]


def test_legacy_citation_indices_in_utf16_units_are_accepted() -> None:
    text = "🎉🎉 Fact【3†source】."
    start = len(text[: text.index("【")].encode("utf-16-le")) // 2
    cite = {"start_ix": start, "end_ix": start + 10, "metadata": {"url": "https://e.com"}}
    notes = Footnotes()
    assert resolve_citations(text, {"citations": [cite]}, notes) == "🎉🎉 Fact[^1]."
    assert notes.definitions() == "[^1]: [https://e.com](https://e.com)"


@pytest.mark.parametrize(
    "cite",
    [
        {"start_ix": 2, "end_ix": 1},
        {"start_ix": "0", "end_ix": 5},
        {"start_ix": 0, "end_ix": 4},  # does not cover a marker
        "not a dict",
    ],
)
def test_unusable_legacy_citations_are_left_alone(cite: Any) -> None:
    notes = Footnotes()
    assert (
        resolve_citations("Fact【3†source】.", {"citations": [cite]}, notes) == "Fact【3†source】."
    )
    assert notes.items == []


def test_content_references_become_footnotes() -> None:
    meta = sample_messages()["a2"]["metadata"]
    notes = Footnotes()
    assert resolve_citations(NEW_TEXT, meta, notes) == "Rome is old [^1] and Milan too."
    assert notes.items == [("Rome history", "https://example.org/rome")]


def test_content_reference_without_items_uses_alt() -> None:
    marker = "\ue200cite\ue202turn0news1\ue201"
    refs = {"content_references": [{"matched_text": marker, "items": [], "alt": "(Reuters)"}]}
    assert resolve_citations(f"News {marker}.", refs, Footnotes()) == "News (Reuters)."
    assert resolve_citations(f"News {marker}.", None, Footnotes()) == "News ."


def test_strip_citations_keeps_entity_names_only() -> None:
    text = (
        "a \ue200cite\ue202turn0\ue201 b"
        ' \ue200entity\ue202["city","Milan"]\ue201'
        " \ue200entity\ue202not json\ue201 \ue203x"
    )
    assert strip_citations(text) == "a  b Milan  x"


# --- Messages -----------------------------------------------------------------------------


def test_shown_and_code_calls() -> None:
    messages = sample_messages()
    assert is_code_call(messages["call"])  # hidden, but code sent to a tool always shows
    assert shown(messages["call"])
    assert not any(is_code_call(messages[n]) for n in ("u1", "a1b", "out", "th"))
    for reasoning in ("th", "rc"):
        assert not shown(messages[reasoning])
        assert not shown(messages[reasoning], include_hidden=True)
        assert shown(messages[reasoning], include_reasoning=True)
    assert not shown(messages["sys"], include_hidden=True)  # no text: never shown
    assert not shown(None) and not shown("text")


def test_hidden_messages_only_with_include_hidden() -> None:
    hidden = msg("assistant", "x", meta={"is_visually_hidden_from_conversation": True})
    text_call = msg("assistant", 'search("x")', recipient="browser")
    hidden_code = msg(
        "assistant",
        content={"content_type": "code", "language": "python", "text": "1"},
        recipient="python",
        meta={"is_visually_hidden_from_conversation": True},
    )
    for message in (hidden, text_call, hidden_code, msg("system", "You are ChatGPT.")):
        assert not is_code_call(message)
        assert not shown(message)
        assert shown(message, include_hidden=True)


def test_headings() -> None:
    messages = sample_messages()
    assert heading(messages["u1"]) == "User"
    assert heading(messages["a1b"]) == "Assistant (gpt-4o)"
    assert heading(messages["call"]) == "Assistant (o3) → python"
    assert heading(messages["out"]) == "Tool (python)"
    assert heading(messages["th"]) == heading(messages["rc"]) == "Reasoning"
    assert heading(messages["sys"]) == "System"
    assert heading(msg("assistant", "x", recipient="browser")) == "Assistant → browser"
    assert heading(msg("tool", "x")) == "Tool"
    assert heading({"content": {"content_type": "text", "parts": ["x"]}}) == "Unknown"


# --- Conversation: metadata and branches --------------------------------------------------


def test_other_branches_start_at_their_fork() -> None:
    conv = sample()
    tree = Tree.build(conv["mapping"])
    visible = tree.visible_path(conv["current_node"])
    assert other_branches(tree, visible) == [("u1", ["a1"]), ("a1b", ["u2b", "a2b"])]
    assert other_branches(tree, tree.path_to("a2b")) == [
        ("u1", ["a1"]),
        ("a1b", ["u2", "th", "rc", "call", "out", "a2", "w", "u3", "a3"]),
    ]


def test_other_branches_nested_and_separate_threads() -> None:
    conv = Conv()
    conv.add("u", "client-created-root", msg("user", "q"))
    conv.add("a", "u", msg("assistant", "a"))
    conv.add("b", "u", msg("assistant", "b"))
    conv.add("b1", "b", msg("user", "b1"))
    conv.add("b2", "b", msg("user", "b2"))
    mapping = conv.build("a")["mapping"]
    mapping["lone"] = {"id": "lone", "message": None, "parent": None, "children": []}
    tree = Tree.build(mapping)
    branches = other_branches(tree, tree.path_to("a"))
    assert branches[:2] == [("u", ["b", "b1"]), ("b", ["b2"])]  # b is listed once
    assert branches[2:] == [(None, ["lone"])]


def test_conversation_model() -> None:
    messages = list(sample_messages().values())
    assert conversation_model({"default_model_slug": "gpt-4o"}, messages) == "gpt-4o"
    assert conversation_model({"default_model_slug": ""}, messages) == "o3"  # most used
    assert conversation_model({}, [msg("user", "x", model="u")]) is None  # assistants only
    assert conversation_model({}, []) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000.5, "2023-11-14T22:13:20Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20Z"),
        ("2023-11-14T23:13:20+01:00", "2023-11-14T22:13:20Z"),
        ("2023-11-14 22:13:20", "2023-11-14T22:13:20Z"),  # naive: UTC
        (True, None),
        ("nope", None),
        ("", None),
        (None, None),
        (1e20, None),
    ],
)
def test_iso_time(value: Any, expected: str | None) -> None:
    assert iso_time(value) == expected
