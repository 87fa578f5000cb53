"""Markdown export: visible branch, front matter, citations, tools, reasoning, branches, names."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from parley.formats.markdown import filename_for, to_markdown

from .builders import HOSTILE_TITLE, Conv, msg, sample


def front_matter(text: str) -> dict[str, Any]:
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, text[:200]
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict)
    return data


def test_visible_branch_is_current_node_not_first_child() -> None:
    out = to_markdown(sample())
    assert "OLD ANSWER" not in out
    assert "EDITED" not in out
    assert "Paris is the capital" in out
    assert out.index("Hello") < out.index("Paris") < out.index("FINAL ANSWER")
    assert "## User" in out
    assert "## Assistant (gpt-4o)" in out


def test_front_matter_parses_with_hostile_title() -> None:
    conv = sample(title=HOSTILE_TITLE, gizmo_id="g-abc", conversation_template_id="g-p-123")
    data = front_matter(to_markdown(conv))
    assert data["title"] == HOSTILE_TITLE
    assert data["id"] == "conv-1"
    assert data["created"] == "2023-11-14T22:13:20Z"
    assert data["updated"] == "2023-11-14T22:29:59Z"
    assert data["gizmo_id"] == "g-abc"
    assert data["conversation_template_id"] == "g-p-123"
    assert data["model"] == "o3"  # most used model_slug when no default


@pytest.mark.parametrize(
    "title", [None, "", "a: b", "- list", "'single'", "null", "yes", "1e3", "{x: [1]}", "\t\r\n"]
)
def test_front_matter_titles_round_trip(title: str | None) -> None:
    assert front_matter(to_markdown(sample(title=title)))["title"] == title


def test_model_prefers_default_and_optional_keys_absent() -> None:
    data = front_matter(to_markdown(sample(default_model_slug="gpt-4o")))
    assert data["model"] == "gpt-4o"
    assert "gizmo_id" not in data and "conversation_template_id" not in data


def test_tool_call_and_output_are_fenced() -> None:
    out = to_markdown(sample())
    assert "## Assistant (o3) → python" in out
    assert "````python\nprint(6 * 7)\ns = '```'\n````" in out
    assert "## Tool (python)" in out
    assert "```output\n42\n```" in out
    assert "![image](file-service://file-plot)" in out


def test_multimodal_image_placeholder_and_unknown_type() -> None:
    out = to_markdown(sample())
    assert "![image](file-service://file-abc)\n\nWhat is in this picture?" in out
    assert "[unsupported content type: mystery_widget]" in out
    assert "widget body" in out


def test_citations_become_footnotes() -> None:
    out = to_markdown(sample())
    assert "【" not in out and "\ue200" not in out and "\ue202" not in out
    assert "Paris is the capital[^1] and it is big[^2]." in out
    assert "Rome is old [^3] and Milan too." in out
    defs = dict(re.findall(r"^\[\^(\d+)\]: (.*)$", out, re.M))
    assert defs["1"] == r"[Paris \[wiki\]](https://en.wikipedia.org/wiki/Paris)"
    assert defs["2"] == "[Size](https://example.com/size%20%28big%29)"
    assert defs["3"] == "[Rome history](https://example.org/rome)"
    assert out.rstrip().endswith("[^3]: [Rome history](https://example.org/rome)")


def test_reasoning_only_on_request() -> None:
    plain = to_markdown(sample())
    assert "Reasoning" not in plain and "I should run code" not in plain
    out = to_markdown(sample(), include_reasoning=True)
    assert "## Reasoning\n\n> Planning\n>\n> I should run code." in out
    assert "> Thought for 3s" in out
    assert "Reasoning" not in to_markdown(sample(), include_hidden=True)


def test_hidden_messages_only_on_request() -> None:
    conv = Conv()
    conv.add("s", "client-created-root", msg("system", "You are ChatGPT."))
    conv.add("u", "s", msg("user", "hi"))
    conv.add("b", "u", msg("assistant", 'search("x")', recipient="browser"))
    conv.add(
        "a", "b", msg("assistant", "hello", meta={"is_visually_hidden_from_conversation": True})
    )
    conv.add("a2", "a", msg("assistant", "shown"))
    plain = to_markdown(conv.build("a2"))
    assert "You are ChatGPT" not in plain and 'search("x")' not in plain and "hello" not in plain
    full = to_markdown(conv.build("a2"), include_hidden=True)
    assert "## System\n\nYou are ChatGPT." in full
    assert "## Assistant → browser" in full and "hello" in full


def test_all_branches_sections() -> None:
    out = to_markdown(sample(), all_branches=True)
    visible_end = out.index("FINAL ANSWER")
    two = out.index("## Branch 2 of 3 (from message u1)")
    three = out.index("## Branch 3 of 3 (from message a1b)")
    assert visible_end < two < out.index("OLD ANSWER") < three < out.index("EDITED QUESTION")
    assert "### Assistant (gpt-4) " not in out  # headings carry no trailing junk
    assert "### Assistant (gpt-4)\n\nOLD ANSWER" in out
    assert "### User\n\nEDITED QUESTION" in out
    assert out.count("Paris is the capital") == 1  # shared prefix is not repeated


def test_missing_current_node_falls_back_to_latest_leaf() -> None:
    conv = sample()
    conv["current_node"] = "nope"
    out = to_markdown(conv)
    assert "EDITED ANSWER" in out  # a2b is the most recent leaf


def test_empty_conversation() -> None:
    out = to_markdown({"id": "x", "title": None, "mapping": {}, "current_node": None})
    assert front_matter(out)["title"] is None
    assert "# Untitled" in out


# --- filename_for -------------------------------------------------------------------------

FORBIDDEN = set('<>:"/\\|?*') | {chr(c) for c in range(32)}


def name_of(title: Any, template: str = "{date}-{title}", **extra: Any) -> str:
    return filename_for(
        {"id": "abc-123", "title": title, "create_time": 1_700_000_000.5, **extra}, template
    )


def assert_portable(name: str) -> None:
    assert name.endswith(".md")
    assert not FORBIDDEN & set(name)
    assert len(name) <= 120 and len(name.encode()) <= 255
    stem = name[:-3]
    assert stem and stem == stem.strip(" .")
    assert stem.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}


@pytest.mark.parametrize(
    "title",
    [
        'a/b\\c:d*e?f"g<h>i|j',
        "trailing dots... ",
        "line\nbreak\ttab\x00nul\x1fend",
        "é" * 300,
        "🎉" * 200,
        "..",
        "   ",
        "\u202eevil\u202c.exe",
        HOSTILE_TITLE,
    ],
)
def test_filenames_are_portable(title: str) -> None:
    for template in ("{date}-{title}", "{title}", "{id}/{title}", "{title}..."):
        assert_portable(name_of(title, template))


def test_filename_substitution() -> None:
    assert name_of("My chat: part 1") == "2023-11-14-My chat- part 1.md"
    assert name_of(None) == "2023-11-14-untitled.md"
    assert name_of("") == "2023-11-14-untitled.md"
    assert name_of("x", "{id}_{title}") == "abc-123_x.md"
    assert name_of("{date}", "{title}") == "{date}.md"
    assert name_of("x", "{title}", create_time=None) == "x.md"
    assert filename_for({"title": "x"}, "{date} {title}") == "undated x.md"


@pytest.mark.parametrize(
    "title", ["CON", "con", "Nul", "aux.txt", "COM1", "lpt9", "PRN ", "con." + "x" * 200]
)
def test_windows_reserved_names(title: str) -> None:
    name = name_of(title, "{title}")
    assert_portable(name)
    assert name.startswith("_")


def test_long_titles_are_cut_on_characters() -> None:
    name = name_of("ü" * 500, "{title}")
    assert name == "ü" * 117 + ".md"
    name = name_of("🎉" * 500, "{title}")
    assert len(name.encode()) <= 255 and name.endswith("🎉.md")


def test_collisions_get_numbered_suffixes() -> None:
    taken: set[str] = {"existing.md"}
    conv = {"title": "Same", "create_time": 1_700_000_000}
    names = [filename_for(conv, "{title}", taken) for _ in range(3)]
    assert names == ["Same.md", "Same-2.md", "Same-3.md"]
    assert taken == {"existing.md", "Same.md", "Same-2.md", "Same-3.md"}
    long_conv = {"title": "x" * 300}
    first, second = (filename_for(long_conv, "{title}", taken) for _ in range(2))
    assert first != second and len(second) <= 120 and second.endswith("-2.md")
    assert filename_for(conv, "{title}") == "Same.md"  # without taken: no bookkeeping


def test_cut_off_code_fence_is_closed() -> None:
    conv = Conv()
    conv.add("u", "client-created-root", msg("user", "code?"))
    conv.add("a", "u", msg("assistant", "Sure:\n\n  ````python\nx = '```'\n"))
    conv.add("u2", "a", msg("user", "next"))
    out = to_markdown(conv.build("u2"))
    assert "x = '```'\n````\n\n## User\n\nnext" in out
    conv.add("a2", "u2", msg("assistant", "```\na\n```\n~~~\nb\n~~~"))
    assert "~~~\nb\n~~~\n" in to_markdown(conv.build("a2"))
