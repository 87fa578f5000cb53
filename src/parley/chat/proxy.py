"""The OpenAI-compatible proxy's memory: every exchange lands in the conversation tree.

A request's messages are read as a path. Each message's node id is derived from a hash
chain over the owner and the messages up to and including it (role and content, with
tool calls); the conversation's id from the chain at the first user message (or at the
last message when there is none). Therefore:

* a request that extends an earlier exchange (the same messages, the stored answer
  echoed back, then more) finds those nodes and continues that conversation: only the
  new messages are added, under the last message it shares;
* a request that diverges (an edited message, a regenerated or client-altered answer)
  branches at the last message it shares with the stored tree, on any branch;
* finding that point is two indexed statements, no table of its own: the conversation by
  ``(owner, id)``, then which of the request's node ids it holds;
* the answer's node id is derived the same way from its text, so the client's echo of it
  matches; an identical answer under the same parent is stored once;
* the exchange is stored in one transaction once the answer ended (complete, failed or
  interrupted alike), so a proxied request costs one write; unlike the chat engine's
  turns, a process that dies mid-call keeps nothing of that exchange.

Two chats share a conversation only if they share everything up to their first user
message (system prompt and first question), as a regenerate of that question does. The
messages are sent upstream exactly as the client sent them. Only text is kept from the
answer (tool calls streamed by a backend are not relayed).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import orjson

from parley.chat.answering import Answerer, Event, Plan
from parley.chat.turns import ROOT_ID, message, new_conversation, title_from_prompt
from parley.errors import NotFound, Unprocessable
from parley.store import turns as store
from parley.store.direct import Db

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
SOURCE = "openai"


def content_text(content: Any) -> str:
    """The text of an OpenAI message's ``content`` (a string, or a list of parts)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    pieces = []
    for part in content:
        if isinstance(part, dict):
            if isinstance(part.get("text"), str):
                pieces.append(part["text"])
            elif part.get("type"):
                pieces.append(f"[{part['type']}]")
        elif isinstance(part, str):
            pieces.append(part)
    return "\n".join(pieces)


def identity(item: dict[str, Any]) -> bytes:
    """What makes two messages the same, whatever extra keys a client adds."""
    content = item.get("content")
    only_text = isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type", "text") == "text" for p in content
    )
    body: Any = content_text(content) if content is None or only_text else content
    key: dict[str, Any] = {"r": item.get("role"), "c": body}
    if item.get("tool_calls"):
        key["t"] = item["tool_calls"]
    if item.get("tool_call_id"):
        key["i"] = item["tool_call_id"]
    return orjson.dumps(key, option=orjson.OPT_SORT_KEYS)


def _step(digest: bytes, item: dict[str, Any]) -> bytes:
    return hashlib.sha256(digest + identity(item)).digest()


def _uuid(digest: bytes) -> str:
    return str(uuid.UUID(bytes=digest[:16]))


def chain(owner_id: str, messages: list[dict[str, Any]]) -> list[bytes]:
    """The digest of every prefix of ``messages`` (one per message)."""
    digest = hashlib.sha256(b"parley-proxy\x00" + owner_id.encode()).digest()
    out = []
    for item in messages:
        digest = _step(digest, item)
        out.append(digest)
    return out


def conversation_id_for(messages: list[dict[str, Any]], digests: list[bytes]) -> str:
    first_user = next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)
    anchor = digests[first_user if first_user is not None else len(digests) - 1]
    return _uuid(hashlib.sha256(anchor + b"\x00conversation").digest())


def validate(messages: Any) -> list[dict[str, Any]]:
    """The request's messages, checked; Unprocessable with a clear detail otherwise."""
    if not isinstance(messages, list) or not messages:
        raise Unprocessable("'messages' must be a non-empty array of {role, content}")
    for index, item in enumerate(messages):
        if not isinstance(item, dict):
            raise Unprocessable(f"messages[{index}] must be an object")
        if item.get("role") not in ROLES:
            raise Unprocessable(f"messages[{index}].role must be one of {', '.join(sorted(ROLES))}")
        content = item.get("content")
        if content is not None and not isinstance(content, str | list):
            raise Unprocessable(f"messages[{index}].content must be a string or an array")
    return messages


def stored_message(node_id: str, item: dict[str, Any], now: float) -> dict[str, Any]:
    """A request message in the export shape (what text cannot hold goes to metadata)."""
    meta: dict[str, Any] = {}
    content = item.get("content")
    if isinstance(content, list) and any(
        not (isinstance(p, dict) and p.get("type", "text") == "text") for p in content
    ):
        meta["openai_content"] = content
    for key in ("tool_calls", "tool_call_id"):
        if item.get(key):
            meta[key] = item[key]
    role = str(item["role"])
    name = item.get("name") if isinstance(item.get("name"), str) else None
    return message(
        node_id,
        role,
        content_text(content),
        now=now,
        end_turn=True if role == "assistant" else None,
        metadata=meta,
        name=name,
    )


async def exchange(
    answerer: Answerer,
    *,
    owner_id: str,
    model: str | None,
    messages: list[dict[str, Any]],
    options: dict[str, Any] | None = None,
) -> AsyncGenerator[Event, None]:
    """Call the model, then store the request's new messages and the answer (see above)."""
    messages = validate(messages)
    chosen = await answerer.model_for(model)
    digests = chain(owner_id, messages)
    ids = [_uuid(d) for d in digests]
    conversation_id = conversation_id_for(messages, digests)
    asked = time.time()

    def persist(db: Db, answer_id: str, answer: dict[str, Any], now: float) -> bool:
        """Store the exchange in one transaction; True when the conversation is new."""
        try:
            head = store.touch(db, owner_id=owner_id, conversation_id=conversation_id, now=now)
        except NotFound:
            _create(db, owner_id, conversation_id, messages, ids, (answer_id, answer), asked)
            return True
        have = store.existing_nodes(db, pk=head.pk, node_ids=[*ids, answer_id])
        shared = max((i for i, node_id in enumerate(ids) if node_id in have), default=-1)
        parent = ids[shared] if shared >= 0 else ROOT_ID
        pending = [
            (ids[i], stored_message(ids[i], messages[i], asked))
            for i in range(shared + 1, len(ids))
        ]
        if answer_id not in have:
            pending.append((answer_id, answer))
        nodes: list[store.NewNode] = []
        for node_id, item in pending:
            position = store.next_position(db, pk=head.pk, parent_id=parent) if not nodes else 0
            nodes.append(store.NewNode(node_id, parent, item, position))
            parent = node_id
        store.append_nodes(db, pk=head.pk, nodes=nodes, current_node=answer_id, now=now)
        return False

    last = digests[-1]
    plan = Plan(
        conversation_id=conversation_id,
        parent_id=ids[-1],
        prompt_id=ids[-1],
        messages=messages,
        model=chosen,
        persist=persist,
        answer_id=lambda text: _uuid(_step(last, {"role": "assistant", "content": text})),
        options=dict(options or {}),
    )
    async with aclosing(answerer.answer(plan)) as events:
        async for event in events:
            yield event


def _create(
    db: Db,
    owner_id: str,
    conversation_id: str,
    messages: list[dict[str, Any]],
    ids: list[str],
    answer: tuple[str, dict[str, Any]],
    now: float,
) -> None:
    first_user = next((m for m in messages if m.get("role") == "user"), None)
    title = title_from_prompt(content_text(first_user.get("content"))) if first_user else None
    nodes = [(ids[i], stored_message(ids[i], m, now)) for i, m in enumerate(messages)]
    conversation = new_conversation(
        conversation_id, title=title, model=answer[1]["metadata"]["model_slug"], now=now,
        nodes=[*nodes, answer],
    )  # fmt: skip
    store.create_conversation(db, owner_id=owner_id, conversation=conversation, source=SOURCE)
