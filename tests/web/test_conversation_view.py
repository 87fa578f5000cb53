"""conversation_view.build: which turns show, how they render, and the branch switcher."""

from __future__ import annotations

from typing import Any

from parley.web.conversation_view import build
from tests.web.conftest import conversation


def node(node_id: str, parent: str | None, message: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": node_id, "parent": parent, "children": [], "message": message}


def msg(
    node_id: str,
    role: str,
    content: dict[str, Any],
    at: float,
    *,
    recipient: str = "all",
    name: str | None = None,
    **meta: Any,
) -> dict[str, Any]:
    return {
        "id": node_id,
        "author": {"role": role, "name": name, "metadata": {}},
        "create_time": at,
        "content": content,
        "recipient": recipient,
        "metadata": meta,
    }


def text(value: str) -> dict[str, Any]:
    return {"content_type": "text", "parts": [value]}


def chain(*messages: dict[str, Any]) -> dict[str, Any]:
    mapping = {"root": node("root", None, None)}
    parent = "root"
    for message in messages:
        mapping[message["id"]] = node(message["id"], parent, message)
        parent = message["id"]
    return {"id": "c", "title": "t", "current_node": parent, "mapping": mapping}


def test_linear_conversation_renders_user_text_and_assistant_markdown() -> None:
    convo = chain(
        msg("s", "system", text("You are helpful"), 1),
        msg("u", "user", text("line one\nline <two> **not bold**"), 2),
        msg(
            "a",
            "assistant",
            text(
                "# Title\n\n```python\nprint('x')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n$x^2$"
            ),
            3,
            model_slug="gpt-4o",
        ),
    )
    view = build(convo)
    assert [t.node_id for t in view.turns] == ["u", "a"]  # the system prompt is hidden
    user, assistant = view.turns
    assert user.role == "user" and user.label == "User" and user.collapsed is None
    assert "line one<br>" in user.html and "&lt;two&gt;" in user.html
    assert "<strong>" not in user.html  # user text is never Markdown
    assert assistant.label == "Assistant (gpt-4o)" and assistant.model == "gpt-4o"
    assert '<pre class="highlight"><code class="language-python">' in assistant.html
    assert "<table>" in assistant.html and 'class="math inline"' in assistant.html
    assert view.leaf == "a" and view.model == "gpt-4o"
    assert view.description == "line one line <two> **not bold**"


def test_hostile_content_is_sanitized() -> None:
    convo = chain(
        msg("u", "user", text("<script>window.__xss=1</script><img src=x onerror=alert(1)>"), 1),
        msg("a", "assistant", text('[x](javascript:alert(1)) <b onclick="alert(1)">hi</b>'), 2),
    )
    html = "".join(t.html for t in build(convo).turns)
    assert "<script" not in html and "<img" not in html
    assert "href" not in html and "<b " not in html  # as text, escaped: neither link nor tag


def test_tool_calls_tool_output_and_reasoning_are_collapsed_and_context_never_shown() -> None:
    convo = chain(
        msg(
            "ctx",
            "user",
            {"content_type": "user_editable_context", "user_profile": "SECRET PROFILE"},
            1,
        ),
        msg("u", "user", text("plot it"), 2),
        msg(
            "th",
            "assistant",
            {
                "content_type": "thoughts",
                "thoughts": [{"summary": "Plan", "content": "think hard"}],
            },
            3,
        ),
        msg(
            "call",
            "assistant",
            {"content_type": "code", "language": "python", "text": "1+1"},
            4,
            recipient="python",
        ),
        msg("out", "tool", {"content_type": "execution_output", "text": "2"}, 5, name="python"),
        msg("a", "assistant", text("It is 2."), 6),
    )
    view = build(convo)
    by_id = {t.node_id: t for t in view.turns}
    assert list(by_id) == ["u", "th", "call", "out", "a"]
    assert "SECRET PROFILE" not in "".join(t.html for t in view.turns)
    assert by_id["th"].collapsed == "Reasoning" and by_id["th"].role == "reasoning"
    assert by_id["call"].collapsed == "Code sent to python"
    assert by_id["out"].collapsed == "Tool (python) output" and by_id["out"].role == "tool"
    assert by_id["a"].collapsed is None and by_id["u"].collapsed is None


def test_switcher_follows_branches() -> None:
    convo = conversation("c1", branched=True)  # a1 -> [u2a (old edit), u2b (current)]
    view = build(convo)
    assert [t.node_id for t in view.turns] == ["u1", "a1", "u2b", "a2b"]
    switcher = view.turns[2].switcher
    assert switcher is not None
    assert (switcher.position, switcher.count, switcher.previous, switcher.next) == (
        2,
        2,
        "a2a",
        None,
    )
    other = build(convo, selected=switcher.previous)
    assert [t.node_id for t in other.turns] == ["u1", "a1", "u2a", "a2a"]
    back = other.turns[2].switcher
    assert back is not None and (back.position, back.next, back.previous) == (1, "a2b", None)
    assert other.leaf == "a2a"
    # a middle node is followed down to a leaf
    assert build(convo, selected="u2a").leaf == "a2a"
    # an unknown node falls back to the current branch
    assert build(convo, selected="nope").leaf == "a2b"


def test_a_share_never_shows_what_lies_below_its_leaf() -> None:
    convo = conversation("c1", branched=True)
    view = build(convo, share_leaf="a1")
    assert [t.node_id for t in view.turns] == ["u1", "a1"]
    assert build(convo, share_leaf="a1", selected="a2b").leaf == "a1"
    assert build(convo, share_leaf="a1", selected="u2a").leaf == "a1"
    # a share of the old branch can still switch to the newer one above its leaf...
    old = build(convo, share_leaf="a2a")
    assert old.leaf == "a2a"
    assert old.turns[2].switcher is not None and old.turns[2].switcher.next == "a2b"
    # ...and coming back from it, the walk goes down the shared branch
    assert build(convo, share_leaf="a2a", selected="a1").leaf == "a2a"


def test_a_fork_at_a_hidden_node_puts_its_switcher_on_the_next_shown_turn() -> None:
    mapping = {
        "root": node("root", None, None),
        "sysA": node("sysA", "root", msg("sysA", "system", text("prompt A"), 1)),
        "sysB": node("sysB", "root", msg("sysB", "system", text("prompt B"), 2)),
        "uA": node("uA", "sysA", msg("uA", "user", text("question A"), 3)),
        "uB": node("uB", "sysB", msg("uB", "user", text("question B"), 4)),
    }
    view = build({"mapping": mapping, "current_node": "uB"})
    (turn,) = view.turns
    assert turn.node_id == "uB"
    assert turn.switcher is not None and (turn.switcher.position, turn.switcher.previous) == (
        2,
        "uA",
    )


def test_rendering_is_cached_by_content() -> None:
    convo = chain(msg("u", "user", text("hi"), 1), msg("a", "assistant", text("**yo**"), 2))
    first, second = build(convo), build(convo)
    assert first.turns[1].html is second.turns[1].html  # the same object: rendered once


def test_empty_conversation() -> None:
    view = build({"mapping": {}, "current_node": None})
    assert view.turns == [] and view.leaf is None and view.description == ""
