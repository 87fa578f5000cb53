"""Conversation trees in ChatGPT's ``mapping`` shape, as pure functions over plain dicts.

A conversation is ``{"mapping": {node_id: node}, "current_node": id | None, ...}`` and a
node is ``{"id", "message": dict | None, "parent": id | None, "children"?: [ids]}``.

Invariants a :class:`Tree` guarantees, whatever the input:

* children are derived from ``parent``; a ``children`` list in the input only orders
  siblings (slim exports have none, and listed children that do not point back are
  ignored);
* a parent that is missing from the mapping makes its node a root (an orphan is kept,
  never dropped);
* a parent cycle is broken at the node first found on it, which becomes a root, so every
  walk up terminates;
* :meth:`Tree.visible_path` is the path root -> ``current_node``; when that is null or
  missing it is root -> the most recent leaf.

Nothing here mutates its input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Node = dict[str, Any]
Message = dict[str, Any]

HIDDEN_CONTENT_TYPES = frozenset(
    {
        "thoughts",
        "reasoning_recap",
        "sonic_webpage",
        "tether_browsing_display",
        "user_editable_context",
        "model_editable_context",
        "system_error",
    }
)
REASONING_CONTENT_TYPES = frozenset({"thoughts", "reasoning_recap"})
KNOWN_CONTENT_TYPES = frozenset(
    {
        "text",
        "multimodal_text",
        "code",
        "execution_output",
        "tether_browsing_display",
        "tether_browsing_code",
        "tether_quote",
        "sonic_webpage",
        "thoughts",
        "reasoning_recap",
        "user_editable_context",
        "model_editable_context",
        "system_error",
        "computer_output",
        "app_pairing_content",
    }
)


def _sort_time(node: Node) -> float:
    message = node.get("message")
    if isinstance(message, dict):
        created = message.get("create_time")
        if isinstance(created, int | float):
            return float(created)
    return float("inf")


@dataclass
class Tree:
    """A guarded, navigable view of one ``mapping``."""

    nodes: dict[str, Node]
    parent: dict[str, str | None]
    children: dict[str, list[str]]
    roots: list[str]
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, mapping: Mapping[str, Any] | None) -> Tree:
        nodes: dict[str, Node] = {}
        warnings: list[str] = []
        for key, node in (mapping or {}).items():
            if isinstance(node, dict):
                nodes[key if type(key) is str else str(key)] = node
            else:
                warnings.append(f"node {key!r} is not an object; skipped")
        parent: dict[str, str | None] = {}
        for node_id, node in nodes.items():
            raw = node.get("parent")
            if raw is None:
                parent[node_id] = None
                continue
            up = raw if type(raw) is str else str(raw)
            if up not in nodes:
                warnings.append(f"node {node_id!r} has missing parent {raw!r}; kept as a root")
                parent[node_id] = None
            elif up == node_id:
                warnings.append(f"node {node_id!r} is its own parent; kept as a root")
                parent[node_id] = None
            else:
                parent[node_id] = up
        _break_cycles(parent, warnings)
        children: dict[str, list[str]] = {node_id: [] for node_id in nodes}
        roots: list[str] = []
        for node_id, above in parent.items():
            (children[above] if above is not None else roots).append(node_id)
        order: dict[str, int] | None = None
        for node_id, kids in children.items():
            listed = nodes[node_id].get("children")
            if not isinstance(listed, list):
                listed = []
            elif listed:
                dangling = [kid for kid in listed if str(kid) not in nodes]
                if dangling:
                    warnings.append(f"node {node_id!r} lists missing children {dangling!r}")
            if len(kids) > 1:
                if order is None:
                    order = {node_id: index for index, node_id in enumerate(nodes)}
                rank = {str(kid): i for i, kid in enumerate(listed)}
                known = order
                kids.sort(
                    key=lambda kid: (rank.get(kid, len(rank)), _sort_time(nodes[kid]), known[kid])
                )
        if len(roots) > 1:
            known = order or {node_id: index for index, node_id in enumerate(nodes)}
            roots.sort(key=lambda r: (_sort_time(nodes[r]), known[r]))
        return cls(nodes=nodes, parent=parent, children=children, roots=roots, warnings=warnings)

    def path_to(self, node_id: str) -> list[str]:
        """Node ids from the root down to ``node_id`` (inclusive)."""
        if node_id not in self.nodes:
            raise KeyError(node_id)
        path: list[str] = []
        cursor: str | None = node_id
        while cursor is not None:
            path.append(cursor)
            cursor = self.parent[cursor]
        path.reverse()
        return path

    def leaves(self) -> list[str]:
        return [node_id for node_id, kids in self.children.items() if not kids]

    def latest_leaf(self) -> str | None:
        """The leaf whose newest message on its path is the most recent."""
        best: tuple[float, int, str] | None = None
        for index, leaf in enumerate(self.leaves()):
            times = [_sort_time(self.nodes[n]) for n in self.path_to(leaf)]
            finite = [t for t in times if t != float("inf")]
            key = (max(finite) if finite else float("-inf"), index, leaf)
            if best is None or key[:2] > best[:2]:
                best = key
        return best[2] if best else None

    def resolve_current(self, current_node: str | None) -> str | None:
        if current_node is not None and current_node in self.nodes:
            return current_node
        return self.latest_leaf()

    def visible_path(self, current_node: str | None) -> list[str]:
        leaf = self.resolve_current(current_node)
        return self.path_to(leaf) if leaf is not None else []

    def descend(self, node_id: str) -> str:
        """Follow the last child (the newest branch) from ``node_id`` down to a leaf."""
        cursor = node_id
        while self.children[cursor]:
            cursor = self.children[cursor][-1]
        return cursor

    def siblings(self, node_id: str) -> list[str]:
        up = self.parent[node_id]
        return self.children[up] if up is not None else self.roots


def _break_cycles(parent: dict[str, str | None], warnings: list[str]) -> None:
    state: dict[str, int] = {}  # 1 = on the current walk, 2 = known to reach a root
    for start, up in parent.items():
        if up is None:
            state[start] = 2  # a root: nothing to walk
            continue
        if start in state:
            continue
        walk: list[str] = []
        cursor: str | None = start
        while cursor is not None and cursor not in state:
            state[cursor] = 1
            walk.append(cursor)
            cursor = parent[cursor]
        if cursor is not None and state[cursor] == 1:
            warnings.append(f"parent cycle through {cursor!r}; broken there")
            parent[cursor] = None
        for node_id in walk:
            state[node_id] = 2


def content_type(message: Message | None) -> str | None:
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    if isinstance(content, dict):
        kind = content.get("content_type")
        return str(kind) if kind is not None else None
    return None


def role(message: Message | None) -> str | None:
    if not isinstance(message, dict):
        return None
    author = message.get("author")
    if isinstance(author, dict) and author.get("role") is not None:
        return str(author["role"])
    legacy = message.get("role")
    return str(legacy) if legacy is not None else None


def _metadata(message: Message) -> dict[str, Any]:
    meta = message.get("metadata")
    return meta if isinstance(meta, dict) else {}


class Facts(NamedTuple):
    """What Parley extracts from one message, computed in one pass."""

    role: str | None
    content_type: str | None
    text: str
    hidden: bool
    model_slug: str | None


def facts(message: Message) -> Facts:
    """Role, content type, plain text, the hidden rule and the model of one message.

    The visible-transcript rule (what ChatGPT's own UI does not show by default): system
    messages unless ``is_user_system_message``; ``is_visually_hidden_from_conversation``;
    tool calls (assistant messages to a recipient other than ``all``); the content types
    in HIDDEN_CONTENT_TYPES; and messages with no text.
    """
    meta = message.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    who = role(message)
    content = message.get("content")
    kind: str | None = None
    if isinstance(content, dict):
        raw_kind = content.get("content_type")
        kind = raw_kind if type(raw_kind) is str or raw_kind is None else str(raw_kind)
    text = message_text(message)
    slug = meta.get("model_slug")
    hidden = (
        (who == "system" and not meta.get("is_user_system_message"))
        or bool(meta.get("is_visually_hidden_from_conversation"))
        or (who == "assistant" and message.get("recipient") not in (None, "all"))
        or kind in HIDDEN_CONTENT_TYPES
        or not text.strip()
    )
    return Facts(who, kind, text, hidden, str(slug) if slug else None)


def is_hidden(message: Message | None) -> bool:
    """Whether the visible-transcript rule (see :func:`facts`) hides this message."""
    return not isinstance(message, dict) or facts(message).hidden


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return "" if part is None else str(part)
    kind = part.get("content_type")
    if kind == "image_asset_pointer":
        size = ""
        if part.get("width") and part.get("height"):
            size = f" {part['width']}x{part['height']}"
        return f"[image: {part.get('asset_pointer', '?')}{size}]"
    if kind == "audio_transcription":
        return str(part.get("text") or "")
    if kind == "audio_asset_pointer":
        return f"[audio: {part.get('asset_pointer', '?')}]"
    if kind == "real_time_user_audio_video_asset_pointer":
        return "[audio/video recording]"
    if isinstance(part.get("text"), str):
        return str(part["text"])
    return f"[unsupported part: {kind or 'unknown'}]"


def _join(*pieces: Any) -> str:
    return "\n\n".join(str(p) for p in pieces if isinstance(p, str) and p.strip())


def placeholder(kind: str | None) -> str:
    return f"[unsupported content type: {kind or 'unknown'}]"


def message_text(message: Message | None) -> str:
    """Plain text of a message, for search, Markdown and terminals.

    Every content type of the export reference has a rendering; unknown types become a
    clear placeholder (followed by any ``text`` field they carry), never an error.
    """
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, dict):
        return ""
    kind = content.get("content_type")
    parts = content.get("parts")
    if kind in ("text", "multimodal_text") or (kind is None and isinstance(parts, list)):
        if not isinstance(parts, list):
            return ""
        if len(parts) == 1 and type(parts[0]) is str:
            return parts[0]  # the common case
        texts = [p if type(p) is str else _part_text(p) for p in parts]
        return "\n".join(t for t in texts if t)
    if kind in ("code", "execution_output", "tether_browsing_code", "computer_output"):
        return str(content.get("text") or "")
    if kind == "tether_browsing_display":
        return _join(content.get("summary"), content.get("result"))
    if kind in ("tether_quote", "sonic_webpage"):
        return _join(
            content.get("title"), content.get("url"), content.get("snippet"), content.get("text")
        )
    if kind == "thoughts":
        thoughts = content.get("thoughts")
        pieces: list[Any] = []
        for thought in thoughts if isinstance(thoughts, list) else []:
            if isinstance(thought, dict):
                pieces += [thought.get("summary"), thought.get("content")]
        return _join(*pieces)
    if kind == "reasoning_recap":
        return str(content.get("content") or "")
    if kind == "user_editable_context":
        return _join(content.get("user_profile"), content.get("user_instructions"))
    if kind == "model_editable_context":
        return _join(content.get("model_set_context"), content.get("repo_summary"))
    if kind == "system_error":
        name, text = content.get("name"), content.get("text")
        return f"{name}: {text}" if name else str(text or "")
    if kind == "app_pairing_content":
        return _join(content.get("text"), content.get("title"))
    label = placeholder(str(kind) if kind is not None else None)
    text = content.get("text")
    return f"{label}\n{text}" if isinstance(text, str) and text else label


def model_slug(message: Message | None) -> str | None:
    if not isinstance(message, dict):
        return None
    slug = _metadata(message).get("model_slug")
    return str(slug) if slug else None


def visible_messages(conversation: Mapping[str, Any]) -> list[Message]:
    """The messages of the visible branch that the hidden-message rule keeps, in order."""
    tree = Tree.build(conversation.get("mapping"))
    out: list[Message] = []
    for node_id in tree.visible_path(conversation.get("current_node")):
        message = tree.nodes[node_id].get("message")
        if isinstance(message, dict) and not is_hidden(message):
            out.append(message)
    return out


def first_text(messages: Iterable[Message], who: str = "user") -> str | None:
    for message in messages:
        if role(message) == who:
            text = message_text(message).strip()
            if text:
                return text
    return None
