"""Shares, saves, comments and reports as JSON, for the web UI and for scripts.

Contract:

* ``POST /api/shares {conversation_id, node_id?, visibility?, title?}`` shares one of the
  caller's conversations up to ``node_id`` (default: the visible branch) and answers
  ``{id, url, visibility}``; sharing the same conversation again keeps ``id`` and ``url``;
  ``PATCH /api/shares/{id}`` changes visibility, title or leaf; ``DELETE`` removes it
  (204): its owner, an admin, or whoever sends the manage token of an anonymous post
  (``X-Manage-Token`` header or ``?manage_token=``);
* ``GET /api/shares/{id}`` is the share and its conversation (export shape, reduced to
  what the share shows) for anyone allowed to see it; ``GET /api/shares/mine`` and
  ``GET /api/saves`` are the caller's lists; ``PUT``/``DELETE /api/shares/{id}/save``;
* comments: ``GET``/``POST /api/shares/{id}/comments``, ``PATCH``/``DELETE
  /api/comments/{id}``; reports: ``POST /api/shares/{id}/report {reason}``, and
  ``GET /api/reports`` (admins: all; others: their own);
* a share or comment the caller may not see or change is a 404, as one that does not
  exist. Publishing (comments, reports) counts against the ``share`` rate limit.

Requests authenticated by the session cookie need the CSRF token (:mod:`parley.web.deps`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from parley import social
from parley.store.db import transaction
from parley.store.users import User
from parley.web import deps
from parley.web.api.sharegpt import created_at, share_url
from parley.web.bodies import body_schema, read_body
from parley.web.responses import FastJSON

router = APIRouter(tags=["shares"], dependencies=[Depends(deps.rate_limit("read"))])

Body = Annotated[dict[str, Any], Depends(read_body)]
CurrentUser = Annotated[User, Depends(deps.current_user)]
OptionalUser = Annotated[User | None, Depends(deps.optional_user)]
PUBLISH = [Depends(deps.rate_limit("share"))]
SHARE_BODY: dict[str, dict[str, Any]] = {
    "conversation_id": {"type": "string"},
    "node_id": {
        "type": "string",
        "description": "Share up to this message (default: the visible branch).",
    },
    "visibility": {"type": "string", "enum": list(social.VISIBILITIES)},
    "title": {"type": "string"},
}


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) and value != "" else None


def share_json(request: Request, share: social.Share, viewer_id: str | None) -> dict[str, Any]:
    out = {
        "id": share.id,
        "url": share_url(request, share.id),
        "visibility": share.visibility,
        "title": share.title,
        "avatar": share.avatar,
        "model": share.model,
        "node_id": share.node_id,
        "views": share.views,
        "saves": share.saves,
        "comments": share.comments,
        "created_at": created_at(share.created_at),
        "updated_at": created_at(share.updated_at),
        "is_owner": viewer_id is not None and viewer_id == share.owner_id,
    }
    if out["is_owner"]:
        out["conversation_id"] = share.conversation_id
    return out


def meta_json(request: Request, meta: social.ShareMeta) -> dict[str, Any]:
    out = {
        "id": meta.id,
        "url": share_url(request, meta.id),
        "title": meta.title,
        "avatar": meta.avatar,
        "visibility": meta.visibility,
        "views": meta.views,
        "saves": meta.saves,
        "comments": meta.comments,
        "created_at": created_at(meta.created_at),
    }
    if meta.conversation_id is not None:
        out["conversation_id"] = meta.conversation_id
    return out


def comment_json(comment: social.Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "share_id": comment.share_id,
        "node_id": comment.node_id,
        "author": comment.author_name,
        "body": comment.body,
        "created_at": created_at(comment.created_at),
        "edited_at": created_at(comment.edited_at) if comment.edited_at else None,
    }


@router.post(
    "/api/shares",
    summary="Share one of your conversations",
    description="Shares the conversation up to `node_id` (default: its visible branch) as "
    "private, unlisted (default) or public. Sharing the same conversation again keeps its "
    "link and updates what it shows; visibility and title are kept unless given.",
    openapi_extra=body_schema(SHARE_BODY, required=("conversation_id",)),
)
def create_share(request: Request, body: Body, user: CurrentUser) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        share = social.share_conversation(
            session,
            owner_id=user.id,
            conversation_id=_text(body, "conversation_id") or "",
            node_id=_text(body, "node_id"),
            visibility=_text(body, "visibility"),  # type: ignore[arg-type]
            title=_text(body, "title"),
        )
    return FastJSON(
        {"id": share.id, "url": share_url(request, share.id), "visibility": share.visibility}
    )


@router.get(
    "/api/shares/mine",
    summary="Your shares",
    description="Every share you made (all visibilities), most recently shared first.",
)
def mine(request: Request, user: CurrentUser) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        items = social.my_shares(session, user_id=user.id)
    return FastJSON([meta_json(request, item) for item in items])


@router.get(
    "/api/saves",
    summary="Your saved shares",
    description="Shares you saved and can still see, most recently saved first.",
)
def my_saves(request: Request, user: CurrentUser) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        items = social.my_saves(session, user_id=user.id)
    return FastJSON([meta_json(request, item) for item in items])


@router.get(
    "/api/shares/{share_id}",
    summary="Read a share",
    description="The share and its conversation (export shape, reduced to what the share "
    "shows: the path to `leaf` and earlier branches). Private shares: owner only (404 "
    "for anyone else).",
)
def read_share(request: Request, share_id: str, user: OptionalUser) -> FastJSON:
    viewer = user.id if user else None
    with transaction(deps.runtime(request).factory) as session:
        shown = social.view_share(session, share_id=share_id, viewer_id=viewer)
    return FastJSON(
        {
            "share": share_json(request, shown.share, viewer),
            "conversation": shown.conversation,
            "leaf": shown.leaf,
            "owner": shown.owner_name,
            "saved": shown.saved_by_viewer,
        }
    )


@router.patch(
    "/api/shares/{share_id}",
    summary="Change one of your shares",
    description="Any of `visibility`, `title` and `node_id` (a new leaf: a new snapshot).",
    openapi_extra=body_schema({k: v for k, v in SHARE_BODY.items() if k != "conversation_id"}),
)
def patch_share(request: Request, share_id: str, body: Body, user: CurrentUser) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        share = social.update_share(
            session,
            share_id=share_id,
            user_id=user.id,
            visibility=_text(body, "visibility"),  # type: ignore[arg-type]
            title=_text(body, "title"),
            node_id=_text(body, "node_id"),
        )
    return FastJSON(share_json(request, share, user.id))


@router.delete(
    "/api/shares/{share_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a share",
    description="Deletes the share at once (its link stops working). Allowed to its owner, "
    "to admins, and for posts made without an account to whoever sends its manage token "
    "(`X-Manage-Token` header or `manage_token` query parameter); deleting an anonymous "
    "post also deletes its stored conversation.",
)
def delete_share(
    request: Request,
    share_id: str,
    user: OptionalUser,
    manage_token: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    token = request.headers.get("x-manage-token") or manage_token
    with transaction(deps.runtime(request).factory) as session:
        social.delete_share(
            session, share_id=share_id, user_id=user.id if user else None, manage_token=token
        )
    return Response(status_code=204)


def _save(request: Request, share_id: str, user: User, saved: bool) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        social.set_saved(session, share_id=share_id, user_id=user.id, saved=saved)
    return FastJSON({"saved": saved})


@router.put(
    "/api/shares/{share_id}/save",
    summary="Save a share",
    description="Adds the share to your saves (idempotent).",
)
def save(request: Request, share_id: str, user: CurrentUser) -> FastJSON:
    return _save(request, share_id, user, True)


@router.delete(
    "/api/shares/{share_id}/save",
    summary="Unsave a share",
    description="Removes the share from your saves (idempotent).",
)
def unsave(request: Request, share_id: str, user: CurrentUser) -> FastJSON:
    return _save(request, share_id, user, False)


@router.get(
    "/api/shares/{share_id}/comments",
    summary="Comments of a share",
    description="Live comments, oldest first, each with the `node_id` of its message.",
)
def list_comments(request: Request, share_id: str, user: OptionalUser) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        social.visible_share(session, share_id=share_id, viewer_id=user.id if user else None)
        grouped = social.comments_by_node(session, share_id=share_id)
    flat = sorted((c for cs in grouped.values() for c in cs), key=lambda c: c.created_at)
    return FastJSON([comment_json(comment) for comment in flat])


@router.post(
    "/api/shares/{share_id}/comments",
    status_code=201,
    summary="Comment on a message of a share",
    description=f"Body `{{node_id, body}}`: plain text, 1-{social.MAX_COMMENT_CHARS} "
    "characters, on a message the share shows. Rate limited like other publishing.",
    dependencies=PUBLISH,
    openapi_extra=body_schema(
        {"node_id": {"type": "string"}, "body": {"type": "string"}},
        required=("node_id", "body"),
    ),
)
def post_comment(request: Request, share_id: str, body: Body, user: CurrentUser) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        comment = social.add_comment(
            session,
            share_id=share_id,
            author_id=user.id,
            node_id=_text(body, "node_id") or "",
            body=body.get("body"),  # type: ignore[arg-type]
        )
    return FastJSON(comment_json(comment), status_code=201)


@router.patch(
    "/api/comments/{comment_id}",
    summary="Edit your comment",
    description="Body `{body}`; only the author can edit a comment.",
    openapi_extra=body_schema({"body": {"type": "string"}}, required=("body",)),
)
def patch_comment(request: Request, comment_id: str, body: Body, user: CurrentUser) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        comment = social.edit_comment(
            session,
            comment_id=comment_id,
            user_id=user.id,
            body=body.get("body"),  # type: ignore[arg-type]
        )
    return FastJSON(comment_json(comment))


@router.delete(
    "/api/comments/{comment_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a comment",
    description="Its author, or the owner of the share it is on, can delete a comment; its "
    "text is erased.",
)
def delete_comment(request: Request, comment_id: str, user: CurrentUser) -> Response:
    with transaction(deps.runtime(request).factory) as session:
        social.delete_comment(session, comment_id=comment_id, user_id=user.id)
    return Response(status_code=204)


@router.post(
    "/api/shares/{share_id}/report",
    status_code=201,
    summary="Report a share",
    description=f"Body `{{reason}}` (1-{social.MAX_REPORT_CHARS} characters) for the admins. "
    "Works without an account; rate limited like other publishing.",
    dependencies=PUBLISH,
    openapi_extra=body_schema({"reason": {"type": "string"}}, required=("reason",)),
)
def report(request: Request, share_id: str, body: Body, user: OptionalUser) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        filed = social.report_share(
            session,
            share_id=share_id,
            reporter_id=user.id if user else None,
            reason=body.get("reason"),  # type: ignore[arg-type]
        )
    return FastJSON({"id": filed.id}, status_code=201)


@router.get(
    "/api/reports",
    summary="Reports",
    description="Admins: every report, newest first. Anyone else: the reports they filed.",
)
def reports(request: Request, user: CurrentUser) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        found = social.list_reports(session, user_id=user.id, is_admin=user.is_admin)
    return FastJSON(
        [
            {
                "id": r.id,
                "share_id": r.share_id,
                "url": share_url(request, r.share_id),
                "reason": r.reason,
                "created_at": created_at(r.created_at),
                "by_you": r.reporter_id == user.id,
            }
            for r in found
        ]
    )
