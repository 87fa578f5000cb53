"""The ShareGPT API: ``POST /api/conversations`` and ``GET /api/conversations``.

Contract (the seed's shapes, with its defects fixed):

* ``POST /api/conversations`` takes ``{"avatarUrl", "items": [{"from", "value"}]}`` and
  optionally ``title``, ``model`` and ``visibility`` (``unlisted`` by default, not public)
  and answers ``{"id"}``, plus ``"url"`` (the short link) and, when posted without an
  account, ``"manage_token"``: the one way to delete the post later
  (``DELETE /api/shares/{id}`` with ``X-Manage-Token``). With a token or a session the
  conversation lands in the caller's library. Bodies past ``settings.max_share_bytes``
  (8 MB by default) are a 413 that states the limit. Posts count against the ``share``
  rate limit (``settings.rate_share``) per token and per client address: 429 with
  ``Retry-After``.
* ``GET /api/conversations?type=new|top|trending&page=N&search=Q`` answers a list of the
  seed's ``ConversationMeta`` (``id, title, avatar, saves, comments, views, createdAt``,
  ``createdAt`` an ISO 8601 string as ``JSON.stringify(new Date())`` writes it); public
  shares only, 50 per page, page N = items ``(N-1)*50 .. N*50`` (the seed's README; its
  code was off by one). ``type`` defaults to ``top`` as in the seed; ``search`` is full
  text over titles and shared messages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from parley import social
from parley.errors import PayloadTooLarge
from parley.store.db import transaction
from parley.web import deps
from parley.web.bodies import body_schema, read_body
from parley.web.responses import FastJSON

router = APIRouter(tags=["ShareGPT"])

MAX_SEARCH_CHARS = 500


def created_at(epoch: float) -> str:
    """``2023-05-28T17:13:08.233Z``, as JavaScript serializes a Date."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def meta_json(meta: social.ShareMeta) -> dict[str, Any]:
    return {
        "id": meta.id,
        "title": meta.title,
        "avatar": meta.avatar,
        "saves": meta.saves,
        "comments": meta.comments,
        "views": meta.views,
        "createdAt": created_at(meta.created_at),
    }


def share_url(request: Request, share_id: str) -> str:
    return f"{deps.runtime(request).settings.base_url}/{share_id}"


def too_large_share(limit: int) -> str:
    return (
        f"conversation too large: POST /api/conversations accepts at most "
        f"{limit / 1024**2:.1f} MB ({limit} bytes); share a part of it instead"
    )


async def _limited_body(request: Request) -> dict[str, Any]:
    """The body, once its size is known to be within ``settings.max_share_bytes``."""
    limit = deps.runtime(request).settings.max_share_bytes
    message = too_large_share(limit)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(message)
    if len(await request.body()) > limit:
        raise PayloadTooLarge(message)
    return await read_body(request)


@router.post(
    "/api/conversations",
    summary="Share a conversation (ShareGPT)",
    description="Stores the posted conversation and shares it. Body: `{avatarUrl, items: "
    "[{from, value}], title?, model?, visibility?}` where `from` is human, gpt or system "
    "(user and assistant work too) and `visibility` is private, unlisted (default) or "
    "public. Answers `{id, url}`, plus `manage_token` for posts made without an account: "
    "keep it to delete the post later. HTML values are converted to safe Markdown. The body "
    "limit is `PARLEY_MAX_SHARE_BYTES` (8 MB by default): 413 past it. Rate limited per "
    "token and per address (`PARLEY_RATE_SHARE`).",
    dependencies=[Depends(deps.rate_limit("share"))],
    openapi_extra=body_schema(
        {
            "avatarUrl": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object"}},
            "title": {"type": "string"},
            "model": {"type": "string"},
            "visibility": {"type": "string", "enum": list(social.VISIBILITIES)},
        },
        required=("items",),
    ),
)
async def post_conversation(
    request: Request, body: Annotated[dict[str, Any], Depends(_limited_body)]
) -> FastJSON:
    user = await deps.optional_user(request)
    rt = deps.runtime(request)

    def store() -> tuple[social.Share, str | None]:
        with transaction(rt.factory) as session:
            return social.post_sharegpt(
                session,
                owner_id=user.id if user else None,
                items=body.get("items"),  # type: ignore[arg-type]
                avatar_url=body.get("avatarUrl"),
                title=body.get("title"),
                model=body.get("model"),
                visibility=body.get("visibility") or "unlisted",
            )

    share, token = await run_in_threadpool(store)
    answer: dict[str, Any] = {"id": share.id, "url": share_url(request, share.id)}
    if token:
        answer["manage_token"] = token
    return FastJSON(answer)


@router.get(
    "/api/conversations",
    summary="Explore shared conversations (ShareGPT)",
    description="Public shares as the seed's ConversationMeta list: `id, title, avatar, "
    "saves, comments, views, createdAt`. `type`: top (default; all-time views), new, or "
    "trending (time-decayed). `page` N (from 1) returns items (N-1)*50 to N*50. `search` "
    "matches every word in titles and shared message text. Private and unlisted shares "
    "never appear.",
    dependencies=[Depends(deps.rate_limit("read"))],
)
def list_conversations(
    request: Request,
    kind: Annotated[social.FeedKind, Query(alias="type")] = "top",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    search: Annotated[str | None, Query(max_length=MAX_SEARCH_CHARS)] = None,
) -> FastJSON:
    with transaction(deps.runtime(request).factory) as session:
        items = social.feed(session, kind=kind, page=page, search=search)
    return FastJSON([meta_json(item) for item in items])
