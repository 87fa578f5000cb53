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

Which messages show, their headings, the branches and the citations come from
:mod:`parley.formats.transcript`. :func:`message_markdown` (one message's Markdown body, also
used by the HTML export), :func:`fence` and :func:`close_fences` are the Markdown rendering.
:func:`filename_for` makes a portable, unique ``.md`` file name from a template.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# The transcript helpers used to live here; they stay importable from this module.
from parley.formats.transcript import Footnotes as Footnotes
from parley.formats.transcript import conversation_model as conversation_model
from parley.formats.transcript import heading as heading
from parley.formats.transcript import is_code_call as is_code_call
from parley.formats.transcript import iso_time as iso_time
from parley.formats.transcript import other_branches as other_branches
from parley.formats.transcript import resolve_citations as resolve_citations
from parley.formats.transcript import shown as shown
from parley.formats.transcript import strip_citations as strip_citations
from parley.tree import REASONING_CONTENT_TYPES, Message, Tree, content_type, message_text

__all__ = ["filename_for", "to_markdown"]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- Message bodies -----------------------------------------------------------------------


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
    meta = _dict(message.get("metadata"))
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


# --- Document -----------------------------------------------------------------------------


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
