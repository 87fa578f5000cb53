"""Markdown export of one conversation in the official ChatGPT export shape.

Contract of :func:`to_markdown`:

* YAML front matter (``id``, ``title``, ``created``, ``updated`` as ISO 8601 UTC, ``model``,
  plus ``conversation_template_id`` / ``gizmo_id`` when set); every string is double-quoted
  and escaped, so any title yields valid YAML.
* The body is the *visible* branch (``tree.Tree.visible_path``), one ``## Role`` section per
  message. Messages hidden by ``tree.is_hidden`` are skipped unless ``include_hidden``, with
  one exception: tool calls whose content is code are always shown, as fenced code.
  Reasoning (``thoughts``/``reasoning_recap``) appears only with ``include_reasoning``, as a
  blockquote under a "Reasoning" heading.
* Citations (legacy ``【n†source】`` via ``metadata.citations``; private-use markers via
  ``metadata.content_references``) become footnotes ``[^n]`` defined at the end.
* ``all_branches`` appends every other branch from its fork point, as ``## Branch k of N``.

:func:`filename_for` makes a portable, unique ``.md`` file name from a template.
The helpers without a leading underscore (``Footnotes``, ``resolve_citations``,
``strip_citations``, ``shown``, ``heading``, ``message_markdown``, ``other_branches``,
``conversation_model``, ``iso_time``) are shared with the HTML and JSONL formats.
"""

from __future__ import annotations

import json
import re
import unicodedata
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

__all__ = ["filename_for", "to_markdown"]


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


def fence(text: str, language: str = "") -> str:
    """``text`` as a fenced code block that no backtick run inside can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    lang = re.sub(r"[^\w+#.-]", "", language or "")
    return f"{ticks}{lang}\n{text.rstrip(chr(10))}\n{ticks}"


_FENCE_LINE = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)")


def close_fences(text: str) -> str:
    """Close a code fence left open (a cut-off answer), so it cannot swallow what follows."""
    opening: str | None = None
    for line in text.split("\n"):
        match = _FENCE_LINE.fullmatch(line)
        if not match:
            continue
        marks, rest = match.groups()
        if opening is None:
            if not (marks[0] == "`" and "`" in rest):
                opening = marks
        elif marks[0] == opening[0] and len(marks) >= len(opening) and not rest.strip():
            opening = None
    return f"{text.rstrip()}\n{opening}" if opening else text


def _image(pointer: Any) -> str:
    target = re.sub(r"[\s()<>]", "", str(pointer or ""))
    return f"![image]({target})" if target else "![image]()"


def message_markdown(message: Message, footnotes: Footnotes) -> str:
    """The Markdown body of one message (no heading)."""
    kind = content_type(message)
    content = _dict(message.get("content"))
    meta = _meta(message)
    if kind in ("text", "multimodal_text"):
        pieces: list[str] = []
        for part in content.get("parts") or []:
            if isinstance(part, str):
                pieces.append(resolve_citations(part, meta, footnotes))
            elif isinstance(part, dict) and part.get("content_type") == "image_asset_pointer":
                pieces.append(_image(part.get("asset_pointer")))
            else:
                synthetic = {"content": {"content_type": "text", "parts": [part]}}
                pieces.append(message_text(synthetic))
        return close_fences("\n\n".join(p for p in pieces if p.strip()))
    if kind == "code":
        language = str(content.get("language") or "")
        return fence(str(content.get("text") or ""), "" if language == "unknown" else language)
    if kind == "execution_output":
        out = [fence(str(content.get("text") or ""), "output")]
        for item in _dict(meta.get("aggregate_result")).get("messages") or []:
            if isinstance(item, dict) and item.get("message_type") == "image":
                out.append(_image(item.get("image_url")))
        return "\n\n".join(out)
    if kind in REASONING_CONTENT_TYPES:
        lines = message_text(message).strip().splitlines()
        return "\n".join(f"> {line}" if line.strip() else ">" for line in lines)
    return close_fences(resolve_citations(message_text(message), meta, footnotes))


# --- Conversation -------------------------------------------------------------------------


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
    slug = conversation.get("default_model_slug")
    if isinstance(slug, str) and slug:
        return slug
    counts = Counter(s for m in messages if (s := model_slug(m)) and role(m) == "assistant")
    return counts.most_common(1)[0][0] if counts else None


_ODD = frozenset({0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF})


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    out = ['"']
    for char in str(value):
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char in "\n\t":
            out.append("\\n" if char == "\n" else "\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or code in _ODD:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out) + '"'


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


def to_markdown(
    conversation: dict[str, Any],
    *,
    all_branches: bool = False,
    include_reasoning: bool = False,
    include_hidden: bool = False,
) -> str:
    """One conversation as a Markdown document with YAML front matter."""
    tree = Tree.build(conversation.get("mapping"))
    visible = tree.visible_path(conversation.get("current_node"))
    messages = {n: tree.nodes[n].get("message") for n in tree.nodes}
    footnotes = Footnotes()

    def sections(node_ids: list[str], level: str) -> list[str]:
        out = []
        for node_id in node_ids:
            message = messages[node_id]
            if shown(message, include_reasoning=include_reasoning, include_hidden=include_hidden):
                body = message_markdown(message, footnotes)
                out.append(f"{level} {heading(message)}\n\n{body}".rstrip())
        return out

    title = conversation.get("title")
    fields = {
        "id": conversation.get("id") or conversation.get("conversation_id"),
        "title": title,
        "created": iso_time(conversation.get("create_time")),
        "updated": iso_time(conversation.get("update_time")),
        "model": conversation_model(conversation, (messages[n] for n in visible)),
    }
    for key in ("conversation_template_id", "gizmo_id"):
        if conversation.get(key):
            fields[key] = conversation[key]
    front = "\n".join(f"{key}: {_yaml(value)}" for key, value in fields.items())
    shown_title = " ".join(str(title).split()) if title else "Untitled"
    blocks = [f"---\n{front}\n---", f"# {shown_title}", *sections(visible, "##")]
    if all_branches:
        rendered = [(fork, sections(nodes, "###")) for fork, nodes in other_branches(tree, visible)]
        rendered = [(fork, body) for fork, body in rendered if body]
        for number, (fork, body) in enumerate(rendered, 2):
            origin = f"from message {fork}" if fork else "separate thread"
            note = "*Alternative branch, not the visible transcript.*"
            blocks += ["---", f"## Branch {number} of {len(rendered) + 1} ({origin})", note, *body]
    if footnotes.items:
        blocks.append(footnotes.definitions())
    return "\n\n".join(blocks) + "\n"


# --- File names ---------------------------------------------------------------------------

_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f-\x9f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]
}
MAX_FILENAME = 120


def _clean_name(text: str) -> str:
    text = re.sub(r"\s", " ", unicodedata.normalize("NFC", text))
    text = "".join(" " if unicodedata.category(c) in ("Zs", "Zl", "Zp") else c for c in text)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf", "Co", "Cs"))
    text = re.sub(r"-{2,}", "-", _FORBIDDEN.sub("-", text))
    return re.sub(r"\s+", " ", text).strip(" .-")


def _fit(stem: str, suffix: str) -> str:
    if stem.split(".")[0].rstrip(" ").upper() in _RESERVED:
        stem = "_" + stem
    stem = stem[: MAX_FILENAME - len(suffix)]
    while len((stem + suffix).encode("utf-8")) > 240:
        stem = stem[:-1]
    return (stem.rstrip(" .-") or "untitled") + suffix


def filename_for(
    conversation: dict[str, Any], template: str = "{date}-{title}", taken: set[str] | None = None
) -> str:
    """A file name safe on every OS; collisions in ``taken`` get ``-2``, ``-3``... suffixes.

    ``{title}`` ``{date}`` (YYYY-MM-DD of ``create_time``) and ``{id}`` are substituted; names
    are compared exactly, and the chosen one is added to ``taken``.
    """
    title = _clean_name(str(conversation.get("title") or "")) or "untitled"
    created = iso_time(conversation.get("create_time"))
    ident = _clean_name(str(conversation.get("id") or conversation.get("conversation_id") or ""))
    values = {"title": title, "date": created[:10] if created else "undated", "id": ident}
    stem = re.sub(r"\{(title|date|id)\}", lambda m: values[m.group(1)] or "noid", template)
    stem = _clean_name(stem) or "untitled"
    name = _fit(stem, ".md")
    number = 1
    while taken is not None and name in taken:
        number += 1
        name = _fit(stem, f"-{number}.md")
    if taken is not None:
        taken.add(name)
    return name
