"""A conversation tree + a leaf -> the turns a page shows, with branch switchers.

Contract of :func:`build`:

* the shown branch is root -> leaf. The leaf is ``selected`` when that names a node the
  share may show (followed down to a leaf, see below), else ``share_leaf``, else the
  conversation's ``current_node`` (its newest leaf when that is unusable);
* a share is a snapshot up to ``share_leaf``: nodes *below* it (later turns) are never
  shown nor linked. Going down from a node follows the shared branch where it passes,
  else the newest child, and stops at ``share_leaf``;
* which messages show follows the HTML export (:func:`parley.formats.markdown.shown`
  with reasoning): system prompts, hidden messages and context blobs (the user's
  profile and custom instructions) are never shown; tool calls, tool output and
  reasoning are shown *collapsed* (``Turn.collapsed`` is the summary line);
* user-authored text goes through :func:`parley.render.render_text`, everything else
  through :func:`parley.render.render_markdown` (citations become footnotes); the HTML
  is the only ``Markup`` here and comes from those two functions (cached by content, so
  a popular page does not re-render its Markdown);
* every shown turn whose node has siblings carries a :class:`Switcher` (``k`` of ``n``,
  and the leaves to link for the previous and next sibling); a fork at a hidden node
  puts its switcher on the next shown turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markupsafe import Markup

from parley.formats.markdown import (
    Footnotes,
    conversation_model,
    heading,
    is_code_call,
    message_markdown,
    shown,
)
from parley.render import render_markdown, render_text
from parley.tree import REASONING_CONTENT_TYPES, Message, Tree, content_type, message_text, role

RENDER_CACHE_ENTRIES = 4096
DESCRIPTION_CHARS = 200


@dataclass(frozen=True)
class Switcher:
    """Position ``position`` (1-based) of ``count`` siblings; leaves to link to."""

    position: int
    count: int
    previous: str | None
    next: str | None


@dataclass(frozen=True)
class Turn:
    node_id: str
    role: str  # a CSS-safe word: user, assistant, tool, system, reasoning
    label: str  # "User", "Assistant (gpt-4o)", "Tool (python)", "Reasoning"
    html: Markup
    model: str | None
    collapsed: str | None  # the summary of a <details>, or None when shown open
    switcher: Switcher | None
    create_time: float | None


@dataclass(frozen=True)
class ConversationView:
    turns: list[Turn]
    leaf: str | None
    model: str | None
    description: str  # the first prompt, plain text, for <meta> / Open Graph


@lru_cache(maxsize=RENDER_CACHE_ENTRIES)
def _markdown(text: str, doc_id: str) -> Markup:
    return Markup(render_markdown(text, doc_id=doc_id))


@lru_cache(maxsize=RENDER_CACHE_ENTRIES)
def _text(text: str) -> Markup:
    return Markup(render_text(text))


def turn_html(message: Message, doc_id: str) -> Markup:
    """The sanitized HTML body of one message."""
    who = role(message)
    if who in ("user", "system"):  # user-authored: plain text, never Markdown
        return _text(message_text(message))
    if content_type(message) in REASONING_CONTENT_TYPES:
        return _markdown(message_text(message), doc_id)
    footnotes = Footnotes()
    text = message_markdown(message, footnotes)
    if footnotes.items:
        text += "\n\n" + footnotes.definitions()
    return _markdown(text, doc_id)


def _summary(message: Message) -> str | None:
    if content_type(message) in REASONING_CONTENT_TYPES:
        return "Reasoning"
    if role(message) == "tool":
        return f"{heading(message)} output"
    if is_code_call(message):
        return f"Code sent to {message.get('recipient')}"
    return None


def _role_class(message: Message) -> str:
    if content_type(message) in REASONING_CONTENT_TYPES:
        return "reasoning"
    return re.sub(r"[^a-z]", "", (role(message) or "").lower()) or "unknown"


class _Walker:
    """Navigation restricted to what a share may show."""

    def __init__(self, tree: Tree, share_leaf: str | None) -> None:
        self.tree = tree
        self.share_leaf = share_leaf if share_leaf in tree.nodes else None
        self.shared_path = set(tree.path_to(self.share_leaf)) if self.share_leaf else set()

    def allowed(self, node_id: str) -> bool:
        if node_id not in self.tree.nodes:
            return False
        if self.share_leaf is None:
            return True
        # below the share's leaf = the leaf is a strict ancestor
        path = self.tree.path_to(node_id)
        return self.share_leaf not in path[:-1]

    def descend(self, node_id: str) -> str:
        cursor = node_id
        while cursor != self.share_leaf and self.tree.children[cursor]:
            kids = self.tree.children[cursor]
            on_shared = [kid for kid in kids if kid in self.shared_path]
            cursor = on_shared[0] if on_shared else kids[-1]
        return cursor


def _description(turns: list[tuple[str, Message]]) -> str:
    for _, message in turns:
        if role(message) == "user":
            text = " ".join(message_text(message).split())
            if text:
                cut = text[:DESCRIPTION_CHARS]
                return cut + ("…" if len(text) > DESCRIPTION_CHARS else "")
    return ""


def build(
    conversation: Mapping[str, Any],
    *,
    share_leaf: str | None = None,
    selected: str | None = None,
) -> ConversationView:
    """The turns of one branch of ``conversation`` (see the module contract)."""
    tree = Tree.build(conversation.get("mapping"))
    walker = _Walker(tree, share_leaf)
    if selected is not None and walker.allowed(selected):
        leaf: str | None = walker.descend(selected)
    elif walker.share_leaf is not None:
        leaf = walker.share_leaf
    else:
        leaf = tree.resolve_current(conversation.get("current_node"))
    path = tree.path_to(leaf) if leaf is not None else []
    turns: list[Turn] = []
    shown_messages: list[tuple[str, Message]] = []
    pending: Switcher | None = None
    for node_id in path:
        switcher = _switcher(tree, walker, node_id) or pending
        message = tree.nodes[node_id].get("message")
        if not shown(message, include_reasoning=True):
            pending = switcher
            continue
        pending = None
        shown_messages.append((node_id, message))
        created = message.get("create_time")
        turns.append(
            Turn(
                node_id=node_id,
                role=_role_class(message),
                label=heading(message),
                html=turn_html(message, f"n{len(turns) + 1}"),
                model=_model(message),
                collapsed=_summary(message),
                switcher=switcher,
                create_time=float(created) if isinstance(created, int | float) else None,
            )
        )
    model = conversation_model(dict(conversation), (m for _, m in shown_messages))
    return ConversationView(turns, leaf, model, _description(shown_messages))


def _model(message: Message) -> str | None:
    meta = message.get("metadata")
    slug = meta.get("model_slug") if isinstance(meta, dict) else None
    return str(slug) if slug and role(message) == "assistant" else None


def _switcher(tree: Tree, walker: _Walker, node_id: str) -> Switcher | None:
    siblings = tree.siblings(node_id)
    if len(siblings) < 2:
        return None
    index = siblings.index(node_id)
    previous = walker.descend(siblings[index - 1]) if index > 0 else None
    following = walker.descend(siblings[index + 1]) if index + 1 < len(siblings) else None
    return Switcher(index + 1, len(siblings), previous, following)
