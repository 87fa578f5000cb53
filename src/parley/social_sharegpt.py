"""ShareGPT posts: ``{avatarUrl, items: [{from, value}]}`` -> a stored conversation + a share.

Contract of :func:`post_sharegpt`:

* ``from`` is ``human`` / ``user``, ``gpt`` / ``assistant`` (also ``chatgpt``, ``bard``,
  ``bing``, ``model``) or ``system``, in any case; ``value`` is a string;
  1-:data:`MAX_ITEMS` items;
* an assistant ``value`` that is HTML (the extension posts ChatGPT's rendered HTML) is
  stored as Markdown made from it (:func:`parley.social_html.html_to_markdown`), with the
  HTML itself, reduced by :func:`parley.render.sanitize_html`, kept in the message's
  ``metadata.sharegpt_html`` so nothing is lost. Every other value is stored as posted:
  text is only ever rendered through :mod:`parley.render`;
* the conversation is stored in the tree store like any other (``source`` ``sharegpt``):
  in the poster's library, or, for anonymous posts, in the library of the internal user
  :data:`ANONYMOUS_NAME` (not an admin, created on first use; it has no password or token);
* the share's title is the given one, else the first human prompt; its avatar passes
  :func:`parley.render.safe_avatar` (dropped otherwise); an anonymous post gets a manage
  token, returned once and stored as its SHA-256, and cannot be private (nobody could
  ever see it).
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parley.errors import Conflict, PayloadTooLarge, Unprocessable
from parley.render import safe_avatar, sanitize_html
from parley.social_html import html_to_markdown, looks_like_html
from parley.social_shares import (
    ANONYMOUS_NAME,
    check_visibility,
    clean_title,
    digest,
    shorten,
)
from parley.store import conversations, users
from parley.store import shares as store
from parley.store.rows import explode
from parley.store.shares import Share

MAX_ITEMS = 5000
MAX_MODEL_CHARS = 200
ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
}


def anonymous_owner(session: Session) -> str:
    """The internal user that owns anonymous posts (created on first use, race-safe)."""
    user = users.by_name(session, name=ANONYMOUS_NAME)
    if user is not None:
        return user.id
    try:
        with session.begin_nested():
            return users.create(session, name=ANONYMOUS_NAME, is_admin=False).id
    except (IntegrityError, Conflict):
        user = users.by_name(session, name=ANONYMOUS_NAME)
        assert user is not None
        return user.id


def _messages(items: object) -> list[tuple[str, str, str | None]]:
    """(role, stored text, sanitized HTML or None) per item, validated."""
    if not isinstance(items, list) or not items:
        raise Unprocessable("'items' must be a non-empty list of {from, value}")
    if len(items) > MAX_ITEMS:
        raise PayloadTooLarge(f"a conversation may have at most {MAX_ITEMS} items")
    out: list[tuple[str, str, str | None]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Unprocessable(f"items[{index}] must be an object with 'from' and 'value'")
        sender, value = item.get("from"), item.get("value")
        role = ROLES.get(sender.strip().lower()) if isinstance(sender, str) else None
        if role is None:
            raise Unprocessable(
                f"items[{index}].from must be one of human, gpt, system (or user, assistant)"
            )
        if not isinstance(value, str):
            raise Unprocessable(f"items[{index}].value must be a string")
        if role == "assistant" and looks_like_html(value):
            out.append((role, html_to_markdown(value), sanitize_html(value)))
        else:
            out.append((role, value, None))
    return out


def build_conversation(
    messages: list[tuple[str, str, str | None]], *, title: str | None, model: str | None
) -> dict[str, Any]:
    """The export-shape conversation for posted messages: one linear branch."""
    now = time.time()
    mapping: dict[str, Any] = {}
    parent: str | None = None
    for role, text, html in messages:
        node_id = str(uuid.uuid4())
        metadata: dict[str, Any] = {"source": "sharegpt"}
        if html is not None:
            metadata["sharegpt_html"] = html
        if role == "system":
            metadata["is_user_system_message"] = True  # posted on purpose: show it
        if role == "assistant" and model:
            metadata["model_slug"] = model
        mapping[node_id] = {
            "id": node_id,
            "parent": parent,
            "children": [],
            "message": {
                "id": node_id,
                "author": {"role": role, "name": None, "metadata": {}},
                "create_time": now,
                "content": {"content_type": "text", "parts": [text]},
                "status": "finished_successfully",
                "end_turn": True if role == "assistant" else None,
                "recipient": "all",
                "metadata": metadata,
            },
        }
        if parent is not None:
            mapping[parent]["children"].append(node_id)
        parent = node_id
    return {
        "id": str(uuid.uuid4()),
        "title": title,
        "create_time": now,
        "update_time": now,
        "current_node": parent,
        "default_model_slug": model,
        "mapping": mapping,
    }


def post_sharegpt(
    session: Session,
    *,
    owner_id: str | None,
    items: list[dict[str, Any]],
    avatar_url: str | None,
    title: str | None,
    model: str | None,
    visibility: str,
) -> tuple[Share, str | None]:
    """Store a posted conversation and share it; the manage token when anonymous."""
    chosen = check_visibility(visibility)
    if owner_id is None and chosen == "private":
        raise Unprocessable("an anonymous post cannot be private; sign in or use 'unlisted'")
    if model is not None and (not isinstance(model, str) or len(model) > MAX_MODEL_CHARS):
        raise Unprocessable(f"model must be a string of at most {MAX_MODEL_CHARS} characters")
    messages = _messages(items)
    given = clean_title(title)
    if not given:
        given = shorten(next((text for role, text, _ in messages if role == "user"), None))
    data = build_conversation(messages, title=given, model=model or None)
    library = owner_id or anonymous_owner(session)
    conversations.save(session, owner_id=library, item=explode(data, source="sharegpt"))
    pk = conversations.get_pk(session, owner_id=library, conversation_id=data["id"])
    token = secrets.token_urlsafe(24) if owner_id is None else None
    share_id = store.create(
        session,
        conversation_pk=pk,
        node_id=data["current_node"],
        owner_id=owner_id,
        visibility=chosen,
        title=given,
        avatar=safe_avatar(avatar_url) if isinstance(avatar_url, str) else None,
        model=model or None,
        manage_token_hash=digest(token) if token else None,
        now=time.time(),
    )
    share = store.get(session, share_id=share_id)
    assert share is not None
    return share, token
