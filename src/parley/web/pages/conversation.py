"""Reading one's own conversation in the web UI, shared or not.

Contract (signed-in owners only; browsers without an account go to ``/login``):

* ``GET /library/c/{id}?node=<node id>`` (``id`` escaped, ``/`` included:
  :func:`parley.web.templating.conversation_url`) renders conversation ``id`` of the signed-in
  user through :mod:`parley.web.conversation_view`, whole tree: ``node`` picks another
  branch, every fork has its switcher, and the page says how it is shared (its short
  link) or offers to share it. Another user's conversation, or an unknown id, is a 404:
  a page never tells whether someone else's conversation exists;
* ``POST /library/c/{id}/delete`` (a form: signed in, CSRF-checked) deletes it for good,
  its messages and its share with it, and answers ``303`` to the library; another
  user's id is a 404 and deletes nothing;
* ``GET /library/c/{id}/markdown[?all_branches=true]`` downloads it as Markdown
  (:func:`parley.formats.markdown.to_markdown`: the visible branch, or every branch), as
  ``parley export -f markdown [--all-branches]`` writes it;
* the page and the download answer ``Cache-Control: private, no-store`` and ``noindex``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from starlette.responses import HTMLResponse, RedirectResponse, Response

from parley.formats.markdown import filename_for, to_markdown
from parley.store import conversations, shares
from parley.store.db import transaction
from parley.web import conversation_view, deps
from parley.web.bodies import read_body
from parley.web.pages import require_user, see_other, signed_in
from parley.web.pages.library import VISIBILITIES
from parley.web.templating import ENV, conversation_url, render_page

router = APIRouter(tags=["pages"])

Body = Annotated[dict[str, Any], Depends(read_body)]
MAX_NODE_CHARS = 200
PRIVATE = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex, nofollow"}


@router.get("/library/c/{conversation_id:path}/markdown")
def conversation_markdown(
    request: Request, conversation_id: str, all_branches: bool = False
) -> Response:
    """One of your conversations as a Markdown file: the visible branch, or with
    `all_branches` every other branch after it, each marked where it forks."""
    user = signed_in(request)
    if isinstance(user, RedirectResponse):
        return user
    with transaction(deps.runtime(request).factory) as session:
        data = conversations.load(session, owner_id=user.id, conversation_id=conversation_id)
    data["id"] = conversation_id
    name = filename_for(data)
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return Response(
        to_markdown(data, all_branches=all_branches),
        media_type="text/markdown; charset=utf-8",
        headers={**PRIVATE, "Content-Disposition": disposition},
    )


@router.get("/library/c/{conversation_id:path}", response_class=HTMLResponse)
def conversation_page(request: Request, conversation_id: str, node: str | None = None) -> Response:
    """One of your conversations: a branch of it, with a switcher at every fork."""
    user = signed_in(request)
    if isinstance(user, RedirectResponse):
        return user
    with transaction(deps.runtime(request).factory) as session:
        pk = conversations.get_pk(session, owner_id=user.id, conversation_id=conversation_id)
        data = next(conversations.load_many(session, pks=[pk]))
        share = shares.for_conversation(session, conversation_pk=pk)
    view = conversation_view.build(data, selected=(node or "")[:MAX_NODE_CHARS] or None)
    template = ENV.get_template("_turn.html")
    context = {
        "owner_initial": user.name[:1].upper(),
        "branches": conversation_url(conversation_id),
    }
    turns = [Markup(template.render(turn=turn, quiet=False, **context)) for turn in view.turns]
    return render_page(
        request,
        "conversation.html",
        user=user,
        headers=PRIVATE,
        conversation_id=conversation_id,
        title=" ".join(str(data.get("title") or "").split()) or "Untitled",
        updated=data.get("update_time"),
        view=view,
        turns=turns,
        share=share,
        visibilities=VISIBILITIES,
    )


@router.post(
    "/library/c/{conversation_id:path}/delete", response_class=RedirectResponse, status_code=303
)
def delete_conversation(request: Request, conversation_id: str, body: Body) -> RedirectResponse:
    """Form: delete one of your conversations for good (its share goes with it)."""
    user = require_user(request)
    with transaction(deps.runtime(request).factory) as session:
        conversations.remove(session, owner_id=user.id, conversation_id=conversation_id)
    return see_other("/library?done=removed")
