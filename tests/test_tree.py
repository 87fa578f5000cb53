from __future__ import annotations

from typing import Any

import pytest

from parley import tree


def msg(role: str, text: Any = "hi", *, t: float | None = 1.0, **extra: Any) -> dict[str, Any]:
    content = text if isinstance(text, dict) else {"content_type": "text", "parts": [text]}
    return {"id": "m", "author": {"role": role}, "content": content, "create_time": t, **extra}


def node(
    node_id: str, parent: str | None, message: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    return {"id": node_id, "parent": parent, "message": message, **kw}


def branched() -> dict[str, Any]:
    """root -> u1 -> (a1 old, a2 regenerated) ; visible = a2 although children[0] = a1."""
    return {
        "root": node("root", None, None, children=["u1"]),
        "u1": node("u1", "root", msg("user", "question", t=1), children=["a1", "a2"]),
        "a1": node("a1", "u1", msg("assistant", "first", t=2), children=[]),
        "a2": node("a2", "u1", msg("assistant", "second", t=3), children=[]),
    }


def test_visible_path_follows_current_node_not_first_child() -> None:
    shape = tree.Tree.build(branched())
    assert shape.visible_path("a2") == ["root", "u1", "a2"]
    assert shape.visible_path("a1") == ["root", "u1", "a1"]


@pytest.mark.parametrize("current", [None, "missing-node"])
def test_missing_current_node_falls_back_to_latest_leaf(current: str | None) -> None:
    shape = tree.Tree.build(branched())
    assert shape.visible_path(current) == ["root", "u1", "a2"]


def test_children_rebuilt_from_parent_when_absent() -> None:
    mapping = {
        k: {kk: vv for kk, vv in v.items() if kk != "children"} for k, v in branched().items()
    }
    shape = tree.Tree.build(mapping)
    assert shape.children["u1"] == ["a1", "a2"]  # by create_time
    assert shape.roots == ["root"]
    assert not shape.warnings


def test_listed_children_order_siblings() -> None:
    mapping = branched()
    mapping["u1"]["children"] = ["a2", "a1"]
    assert tree.Tree.build(mapping).children["u1"] == ["a2", "a1"]


def test_parent_cycle_is_broken_and_walks_terminate() -> None:
    mapping = {
        "a": node("a", "c", msg("user", t=1)),
        "b": node("b", "a", msg("assistant", t=2)),
        "c": node("c", "b", msg("user", t=3)),
    }
    shape = tree.Tree.build(mapping)
    assert any("cycle" in w for w in shape.warnings)
    assert len(shape.roots) == 1
    for node_id in mapping:
        assert shape.path_to(node_id)[0] == shape.roots[0]


def test_dangling_children_and_orphans_are_kept_and_reported() -> None:
    mapping = branched()
    mapping["u1"]["children"].append("ghost")
    mapping["orphan"] = node("orphan", "nowhere", msg("user", "lost", t=9))
    shape = tree.Tree.build(mapping)
    assert "ghost" not in shape.children["u1"]
    assert "orphan" in shape.roots
    assert len(shape.warnings) == 2
    # the orphan is the most recent leaf: with no current node it is what shows
    assert shape.visible_path(None) == ["orphan"]


def test_self_parent_is_a_root() -> None:
    shape = tree.Tree.build({"x": node("x", "x", msg("user"))})
    assert shape.roots == ["x"]


def test_non_object_nodes_are_skipped_with_warning() -> None:
    shape = tree.Tree.build({"x": node("x", None, msg("user")), "bad": 3})  # type: ignore[dict-item]
    assert list(shape.nodes) == ["x"] and shape.warnings


@pytest.mark.parametrize(
    ("message", "hidden"),
    [
        (msg("user", "hello"), False),
        (msg("assistant", "hello", recipient="all"), False),
        (msg("system", "you are"), True),
        (msg("system", "be brief", metadata={"is_user_system_message": True}), False),
        (msg("user", "x", metadata={"is_visually_hidden_from_conversation": True}), True),
        (msg("assistant", {"content_type": "code", "text": "1+1"}, recipient="python"), True),
        (
            msg(
                "assistant",
                {"content_type": "thoughts", "thoughts": [{"summary": "s", "content": "c"}]},
            ),
            True,
        ),
        (msg("assistant", {"content_type": "reasoning_recap", "content": "Thought for 3s"}), True),
        (msg("tool", {"content_type": "tether_browsing_display", "result": "r"}), True),
        (msg("user", {"content_type": "user_editable_context", "user_profile": "p"}), True),
        (msg("tool", {"content_type": "execution_output", "text": "2"}), False),
        (msg("user", ""), True),
        (None, True),
    ],
)
def test_hidden_rule(message: dict[str, Any] | None, hidden: bool) -> None:
    assert tree.is_hidden(message) is hidden


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"content_type": "text", "parts": ["a", "b"]}, "a\nb"),
        ({"content_type": "text", "parts": [""]}, ""),
        (
            {
                "content_type": "multimodal_text",
                "parts": [
                    {
                        "content_type": "image_asset_pointer",
                        "asset_pointer": "file-service://f",
                        "width": 2,
                        "height": 3,
                    },
                    "look",
                    {"content_type": "audio_transcription", "text": "spoken", "direction": "in"},
                ],
            },
            "[image: file-service://f 2x3]\nlook\nspoken",
        ),
        ({"content_type": "code", "language": "python", "text": "print(1)"}, "print(1)"),
        ({"content_type": "execution_output", "text": "1"}, "1"),
        (
            {"content_type": "tether_quote", "url": "https://x", "title": "T", "text": "q"},
            "T\n\nhttps://x\n\nq",
        ),
        ({"content_type": "thoughts", "thoughts": [{"summary": "S", "content": "C"}]}, "S\n\nC"),
        ({"content_type": "reasoning_recap", "content": "Thought for 14s"}, "Thought for 14s"),
        ({"content_type": "system_error", "name": "E", "text": "boom"}, "E: boom"),
        ({"content_type": "x_hologram", "beam": 1}, "[unsupported content type: x_hologram]"),
        ({"content_type": "x_hologram", "text": "t"}, "[unsupported content type: x_hologram]\nt"),
    ],
)
def test_message_text_per_content_type(content: dict[str, Any], expected: str) -> None:
    assert tree.message_text({"author": {"role": "user"}, "content": content}) == expected


def test_visible_messages_and_first_text() -> None:
    conversation = {"mapping": branched(), "current_node": "a1"}
    texts = [tree.message_text(m) for m in tree.visible_messages(conversation)]
    assert texts == ["question", "first"]
    assert tree.first_text(tree.visible_messages(conversation)) == "question"


def test_descend_takes_newest_branch() -> None:
    assert tree.Tree.build(branched()).descend("root") == "a2"
