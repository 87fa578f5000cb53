"""Training-data records (ShareGPT and OpenAI chat format) from ChatGPT-export conversations.

Contract:

* only the *visible* branch (``tree.Tree.visible_path``) is used;
* messages hidden by ``tree.is_hidden`` are skipped (so tool calls, reasoning and system
  prompts go), except that a visible user system message (``is_user_system_message``) is
  kept as ``system``; ``tool`` messages are always skipped;
* citation markers are removed from the text; lone surrogates become U+FFFD;
* consecutive messages of the same role are merged (joined by a blank line);
* a conversation without a user turn followed by an assistant turn gives ``None``.

:func:`write_jsonl` writes one JSON object per line (orjson, ``\\n``-terminated), skipping
``None`` records, and returns how many it wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, BinaryIO

import orjson

from parley.formats.transcript import strip_citations
from parley.tree import Tree, is_hidden, message_text, role

__all__ = ["to_openai", "to_sharegpt", "write_jsonl"]

_LEGACY_MARKER = re.compile(r"【[^【】\n]{0,40}†[^【】\n]{0,40}】")


def _clean(text: str) -> str:
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _LEGACY_MARKER.sub("", strip_citations(text)).strip()


def _turns(conversation: dict[str, Any]) -> list[tuple[str, str]] | None:
    """Merged (role, text) turns with role in system/user/assistant, or None if no pair."""
    tree = Tree.build(conversation.get("mapping"))
    turns: list[tuple[str, str]] = []
    for node_id in tree.visible_path(conversation.get("current_node")):
        message = tree.nodes[node_id].get("message")
        who = role(message)
        if who not in ("system", "user", "assistant") or is_hidden(message):
            continue
        text = _clean(message_text(message))
        if not text:
            continue
        if turns and turns[-1][0] == who:
            turns[-1] = (who, f"{turns[-1][1]}\n\n{text}")
        else:
            turns.append((str(who), text))
    roles = [who for who, _ in turns]
    if "user" not in roles or "assistant" not in roles[roles.index("user") :]:
        return None
    return turns


def to_sharegpt(conversation: dict[str, Any]) -> dict[str, Any] | None:
    """``{"id", "conversations": [{"from": "system"|"human"|"gpt", "value"}]}`` or None."""
    turns = _turns(conversation)
    if turns is None:
        return None
    names = {"system": "system", "user": "human", "assistant": "gpt"}
    return {
        "id": conversation.get("id") or conversation.get("conversation_id"),
        "conversations": [{"from": names[who], "value": text} for who, text in turns],
    }


def to_openai(conversation: dict[str, Any]) -> dict[str, Any] | None:
    """``{"messages": [{"role": "system"|"user"|"assistant", "content"}]}`` or None."""
    turns = _turns(conversation)
    if turns is None:
        return None
    return {"messages": [{"role": who, "content": text} for who, text in turns]}


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def write_jsonl(records: Iterable[dict[str, Any] | None], out: BinaryIO) -> int:
    """Write each non-None record as one JSON line; return the number written."""
    count = 0
    for record in records:
        if record is None:
            continue
        try:
            line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            line = orjson.dumps(_scrub(record), option=orjson.OPT_APPEND_NEWLINE)
        out.write(line)
        count += 1
    return count
