"""What a transcript of one conversation (official ChatGPT export shape) contains.

Shared by the Markdown, HTML and JSONL exports (and the web conversation view) so that they
agree on what a conversation shows. The visible branch itself is ``tree.Tree.visible_path``;
nothing here renders a message body (see :func:`parley.formats.markdown.message_markdown`).

Contract:

* :func:`shown` decides which messages a transcript shows: never a message without text;
  reasoning (``thoughts``/``reasoning_recap``) only with ``include_reasoning``; messages
  hidden by ``tree.is_hidden`` only with ``include_hidden``, except code calls
  (:func:`is_code_call`: an assistant ``code`` message sent to a tool and not visually
  hidden), which always show.
* :func:`heading` labels a message: ``User``, ``Assistant (gpt-4o)``, ``Assistant → python``,
  ``Tool (python)``, ``System``, ``Reasoning``...
* :func:`other_branches` lists every branch off the visible path, depth-first in child order:
  for each leaf not yet listed, its fork point (the last node already listed, ``None`` for a
  separate thread) and the node ids after it, so no node appears twice.
* :func:`resolve_citations` turns citation markers into footnote references ``[^n]`` from a
  :class:`Footnotes`: legacy ``【n†source】`` markers via ``metadata.citations`` (indices in
  code points or UTF-16 units) and private-use markers via ``metadata.content_references``.
  :class:`Footnotes` numbers (title, url) targets, one number per URL (per title when there
  is no URL), and renders their Markdown definitions. :func:`strip_citations` only removes
  private-use markers (entity markers keep their display name).
* :func:`conversation_model` is ``default_model_slug``, else the assistants' most used model;
  :func:`iso_time` formats a timestamp as ``YYYY-MM-DDTHH:MM:SSZ`` (``None`` if unusable).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from parley.tree import (
    REASONING_CONTENT_TYPES,
    Message,
    Tree,
    content_type,
    is_hidden,
    message_text,
    model_slug,
    role,
)

__all__ = [
    "Footnotes",
    "conversation_model",
    "heading",
    "is_code_call",
    "iso_time",
    "other_branches",
    "resolve_citations",
    "shown",
    "strip_citations",
]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- Citations ----------------------------------------------------------------------------

_LEGACY_MARKER = re.compile(r"【[^【】\n]{0,40}】")
_PRIVATE_MARKER = re.compile("\ue200([^\ue200\ue201]*)\ue201")
_PRIVATE_CHARS = re.compile("[\ue200-\ue206]")


@dataclass
class Footnotes:
    """Numbered citation targets; one URL keeps one number."""

    items: list[tuple[str, str | None]] = field(default_factory=list)  # (title, url)
    _index: dict[tuple[str, str | None], int] = field(default_factory=dict)

    def ref(self, title: Any, url: Any) -> str:
        clean_url = str(url).strip() if isinstance(url, str) and url.strip() else None
        clean_title = " ".join(str(title).split()) if isinstance(title, str) else ""
        if not clean_url and not clean_title:
            return ""
        key = ("", clean_url) if clean_url else (clean_title, None)
        if key not in self._index:
            self.items.append((clean_title or clean_url or "source", clean_url))
            self._index[key] = len(self.items)
        return f"[^{self._index[key]}]"

    def definitions(self) -> str:
        lines = []
        for number, (title, url) in enumerate(self.items, 1):
            text = re.sub(r"([\\\[\]`*_<>])", r"\\\1", title)
            if url and re.match(r"(?i)https?://", url):
                target = re.sub(r"[\s()<>]", lambda m: f"%{ord(m.group()):02X}", url)
                lines.append(f"[^{number}]: [{text}]({target})")
            else:
                lines.append(f"[^{number}]: {text}")
        return "\n".join(lines)


def _utf16_index(text: str, units: int) -> int:
    count = 0
    for index, char in enumerate(text):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(text)


def _leftover_marker(match: re.Match[str]) -> str:
    kind, _, payload = match.group(1).partition("\ue202")
    if kind == "entity":  # \ue200entity\ue202["type","Display name",...]\ue201
        try:
            value = json.loads(payload)
        except ValueError:
            return ""
        if isinstance(value, list) and len(value) > 1 and isinstance(value[1], str):
            return value[1]
    return ""


def strip_citations(text: str) -> str:
    """Remove private-use citation markers (entity markers keep their display name)."""
    return _PRIVATE_CHARS.sub("", _PRIVATE_MARKER.sub(_leftover_marker, text))


def resolve_citations(text: str, metadata: Any, footnotes: Footnotes) -> str:
    """Replace both kinds of citation markers in ``text`` by footnote references."""
    meta = _dict(metadata)
    spans: list[tuple[int, int, str]] = []
    for cite in meta.get("citations") or []:
        if not isinstance(cite, dict):
            continue
        start, end = cite.get("start_ix"), cite.get("end_ix")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
            continue
        if not _LEGACY_MARKER.fullmatch(text[start:end]):  # indices may be UTF-16 units
            start, end = _utf16_index(text, start), _utf16_index(text, end)
            if not _LEGACY_MARKER.fullmatch(text[start:end]):
                continue
        info = _dict(cite.get("metadata"))
        spans.append((start, end, footnotes.ref(info.get("title"), info.get("url"))))
    for start, end, mark in sorted(set(spans), reverse=True):
        text = text[:start] + mark + text[end:]
    refs = [r for r in meta.get("content_references") or [] if isinstance(r, dict)]
    refs.sort(key=lambda r: -len(str(r.get("matched_text") or "")))
    for ref in refs:
        matched = ref.get("matched_text")
        if not isinstance(matched, str) or not matched.strip() or matched not in text:
            continue
        items = [i for i in ref.get("items") or [] if isinstance(i, dict)]
        if not items and (ref.get("url") or ref.get("title")):
            items = [ref]
        marks = "".join(footnotes.ref(item.get("title"), item.get("url")) for item in items)
        if not marks and "\ue200" not in matched:
            continue
        alt = ref.get("alt")
        text = text.replace(matched, marks or (alt if isinstance(alt, str) else ""))
    return strip_citations(text)


# --- Messages -----------------------------------------------------------------------------


def _meta(message: Message) -> dict[str, Any]:
    return _dict(message.get("metadata"))


def is_code_call(message: Message) -> bool:
    recipient = message.get("recipient")
    return (
        role(message) == "assistant"
        and content_type(message) == "code"
        and recipient not in (None, "all")
        and not _meta(message).get("is_visually_hidden_from_conversation")
    )


def shown(
    message: Any, *, include_reasoning: bool = False, include_hidden: bool = False
) -> TypeGuard[Message]:
    """Whether an export shows ``message`` (see the module contract)."""
    if not isinstance(message, dict) or not message_text(message).strip():
        return False
    if content_type(message) in REASONING_CONTENT_TYPES:
        return include_reasoning
    return include_hidden or not is_hidden(message) or is_code_call(message)


def heading(message: Message) -> str:
    """``User``, ``Assistant (gpt-4o)``, ``Tool (python)``, ``System``, ``Reasoning``..."""
    who = role(message) or "unknown"
    if content_type(message) in REASONING_CONTENT_TYPES:
        return "Reasoning"
    if who == "assistant":
        slug = model_slug(message)
        label = f"Assistant ({slug})" if slug else "Assistant"
        recipient = message.get("recipient")
        return f"{label} → {recipient}" if recipient not in (None, "all") else label
    if who == "tool":
        author = message.get("author")
        name = author.get("name") if isinstance(author, dict) else None
        return f"Tool ({name})" if name else "Tool"
    return who[:1].upper() + who[1:]


# --- Conversation: metadata and branches --------------------------------------------------


def iso_time(value: Any) -> str | None:
    """Epoch seconds (or an ISO string) as ``YYYY-MM-DDTHH:MM:SSZ``; None if unusable."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(float(value), UTC)
        elif isinstance(value, str) and value.strip():
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def conversation_model(conversation: dict[str, Any], messages: Iterable[Any]) -> str | None:
    """``default_model_slug``, else the most used ``model_slug`` of assistant ``messages``."""
    slug = conversation.get("default_model_slug")
    if isinstance(slug, str) and slug:
        return slug
    counts = Counter(s for m in messages if (s := model_slug(m)) and role(m) == "assistant")
    return counts.most_common(1)[0][0] if counts else None


def other_branches(tree: Tree, visible: list[str]) -> list[tuple[str | None, list[str]]]:
    """(fork node id, node ids after the fork) for every leaf off the visible path."""
    seen = set(visible)
    branches: list[tuple[str | None, list[str]]] = []
    stack = list(reversed(tree.roots))
    while stack:
        node_id = stack.pop()
        kids = tree.children[node_id]
        stack.extend(reversed(kids))
        if kids or node_id in seen:
            continue
        path = tree.path_to(node_id)
        shared = [n for n in path if n in seen]
        branches.append((shared[-1] if shared else None, path[len(shared) :]))
        seen.update(path)
    return branches
