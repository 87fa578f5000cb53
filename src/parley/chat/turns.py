"""The pieces of a turn, as plain data: stored messages, prompts for the model, titles.

Stored messages follow ChatGPT's export shape exactly (``id``, ``author {role, name,
metadata}``, ``create_time``, ``update_time``, ``content {content_type: "text", parts}``,
``status``, ``end_turn``, ``weight``, ``metadata``, ``recipient: "all"``, ``channel``), so
exports and imports round-trip them. An answer's ``metadata`` carries ``model_slug``,
``finish_details {type: stop | max_tokens | interrupted | <other reason>}``, ``parent_id``,
``timings {first_token, total, rounds}`` (seconds), ``usage`` (token counts summed over
rounds) and, when the call failed, ``error``.

Prompts sent to a model are the path root -> parent as OpenAI chat messages: system
messages with text, and the user and assistant messages the visible-transcript rule
shows (tool calls, reasoning, hidden context and empty nodes are left out).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from parley.store.turns import NodeInfo

ROOT_ID = "client-created-root"
CONTINUE_PROMPT = (
    "Continue exactly where your previous message stopped, mid-word if need be. "
    "Do not repeat anything and do not comment."
)
TITLE_LENGTH = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MARKUP = re.compile(r"^[#>*\-+`\s]+")


def finish_details(reason: str | None) -> dict[str, Any]:
    """ChatGPT's ``finish_details`` for an OpenAI ``finish_reason`` (None: interrupted)."""
    if reason == "stop":
        return {"type": "stop"}
    if reason == "length":
        return {"type": "max_tokens"}
    return {"type": reason or "interrupted"}


def message(
    node_id: str,
    role: str,
    text: str,
    *,
    now: float,
    status: str = "finished_successfully",
    end_turn: bool | None = None,
    metadata: dict[str, Any] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """One message in the export shape."""
    return {
        "id": node_id,
        "author": {"role": role, "name": name, "metadata": {}},
        "create_time": now,
        "update_time": None,
        "content": {"content_type": "text", "parts": [text]},
        "status": status,
        "end_turn": end_turn,
        "weight": 1.0,
        "metadata": metadata or {},
        "recipient": "all",
        "channel": None,
    }


def placeholder(node_id: str, *, parent_id: str | None, model: str, now: float) -> dict[str, Any]:
    """The answer while it streams: empty (so hidden), ``in_progress``."""
    meta = {"model_slug": model, "parent_id": parent_id}
    return message(node_id, "assistant", "", now=now, status="in_progress", metadata=meta)


@dataclass
class Answer:
    """An answer as it arrives, over one or more rounds (autocontinue, continue)."""

    started: float
    prefix: str = ""
    pieces: list[str] = field(default_factory=list)
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    first_token: float | None = None
    rounds: int = 0

    @property
    def text(self) -> str:
        return self.prefix + "".join(self.pieces)

    @property
    def streamed(self) -> bool:
        return any(self.pieces)

    def add_usage(self, usage: dict[str, Any]) -> None:
        for key, value in usage.items():
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[key] = int(self.usage.get(key, 0)) + value
            elif key not in self.usage:
                self.usage[key] = value

    def stored(
        self,
        node_id: str,
        *,
        parent_id: str | None,
        model: str,
        now: float,
        ended: float,
        error: str | None = None,
        interrupted: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The message to store for this answer, complete, cut short or failed."""
        done = error is None and not interrupted
        reason = self.finish_reason if done else None
        if done:
            status = "finished_successfully"
        elif self.text:
            status = "finished_partial_completion"
        else:
            status = "error" if error is not None else "finished_partial_completion"
        meta: dict[str, Any] = {
            "model_slug": self.model or model,
            "finish_details": finish_details(reason),
            "parent_id": parent_id,
            "timings": {
                "first_token": _seconds(self.first_token, self.started),
                "total": _seconds(ended, self.started),
                "rounds": self.rounds,
            },
            "citations": [],
            "is_complete": done,
        }
        if self.usage:
            meta["usage"] = dict(self.usage)
        if error is not None:
            meta["error"] = error
        meta.update(extra or {})
        return message(
            node_id,
            "assistant",
            self.text,
            now=now,
            status=status,
            end_turn=reason == "stop",
            metadata=meta,
        )


def _seconds(moment: float | None, start: float) -> float | None:
    return None if moment is None else round(moment - start, 4)


def prompt_messages(path: Sequence[NodeInfo]) -> list[dict[str, Any]]:
    """The path as OpenAI chat messages (see the module docstring for what is left out)."""
    out: list[dict[str, Any]] = []
    for node in path:
        if not node.text.strip():
            continue
        if node.role in ("system", "developer"):
            if node.content_type in ("text", "multimodal_text"):
                out.append({"role": node.role, "content": node.text})
        elif node.role in ("user", "assistant") and not node.hidden:
            out.append({"role": node.role, "content": node.text})
    return out


def new_conversation(
    conversation_id: str,
    *,
    title: str | None,
    model: str,
    now: float,
    nodes: list[tuple[str, dict[str, Any] | None]],
    root: str = ROOT_ID,
) -> dict[str, Any]:
    """A conversation in the export shape: a null root, then ``nodes`` as one chain."""
    mapping: dict[str, Any] = {root: {"id": root, "message": None, "parent": None, "children": []}}
    parent = root
    for node_id, payload in nodes:
        mapping[parent]["children"].append(node_id)
        mapping[node_id] = {"id": node_id, "message": payload, "parent": parent, "children": []}
        parent = node_id
    return {
        "id": conversation_id,
        "conversation_id": conversation_id,
        "title": title,
        "create_time": now,
        "update_time": now,
        "mapping": mapping,
        "current_node": parent,
        "default_model_slug": model,
        "is_archived": False,
        "moderation_results": [],
        "safe_urls": [],
    }


def continuation(messages: list[dict[str, Any]], so_far: str) -> list[dict[str, Any]]:
    """The prompt that asks a model to go on with an answer cut off at ``so_far``.

    Portable across OpenAI-compatible servers: the partial answer as an assistant
    message, then a user message asking to continue from there.
    """
    return [
        *messages,
        {"role": "assistant", "content": so_far},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]


def title_from_prompt(prompt: str, limit: int = TITLE_LENGTH) -> str:
    """A conversation title from its first prompt: its first line, cut at a word."""
    line = next((ln for ln in prompt.splitlines() if ln.strip()), "")
    words = _MARKUP.sub("", _CONTROL.sub(" ", line)).split()
    text = " ".join(words)
    if not text:
        return "New chat"
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:!?-") + "…"
