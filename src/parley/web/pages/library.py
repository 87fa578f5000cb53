"""The signed-in user's library: conversations, search, share controls, import, export.

Contract (every route needs an account; browsers without one go to ``/login``):

* ``GET /library?page=N`` lists the user's conversations, newest first,
  :data:`PAGE_SIZE` a page, each linked to its page (:mod:`.conversation`); ``?q=words``
  searches them instead (full text, best first); ``?job=<id>`` shows the state of one of
  the user's import jobs. Their shares and the shares they saved are listed too;
* ``POST /library/share`` (``conversation_id``, ``visibility``) shares a conversation
  (re-sharing keeps its link); ``POST /library/shares/{id}/update`` (``visibility``)
  and ``POST /library/shares/{id}/delete`` manage one of the user's shares; another
  user's share is a 404;
* ``POST /library/import`` takes the same multipart upload as ``POST /api/import`` (the
  CSRF token may come as the ``csrf_token`` query parameter, since the body streams to
  disk unread) and answers ``303`` to ``/library?job=<id>``;
* ``GET /library/export?format=json|markdown|html|sharegpt|openai`` downloads the whole
  library as a ZIP (``conversations.json`` for ``json``, which re-imports), built in a
  temporary folder that is removed once sent.
"""

from __future__ import annotations

import hmac
import math
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from parley import exporter, social
from parley.errors import BadRequest, NotFound, Unprocessable
from parley.store import conversations, search, shares
from parley.store import jobs as store_jobs
from parley.store.db import transaction
from parley.store.users import User
from parley.web import deps
from parley.web.api import imports
from parley.web.bodies import read_body
from parley.web.pages import field, notice, require_user, see_other, signed_in
from parley.web.pages.explore import card
from parley.web.templating import render_page

router = APIRouter(tags=["pages"])

Body = Annotated[dict[str, Any], Depends(read_body)]
PAGE_SIZE = 50
SEARCH_LIMIT = 50
VISIBILITIES = ("unlisted", "public", "private")
EXPORT_FORMATS: tuple[tuple[str, str], ...] = (
    ("json", "ChatGPT JSON (re-importable)"),
    ("markdown", "Markdown files"),
    ("html", "HTML pages"),
    ("sharegpt", "ShareGPT JSONL"),
    ("openai", "OpenAI fine-tuning JSONL"),
)


@dataclass(frozen=True)
class Row:
    """One conversation in the table, with its share if it has one."""

    id: str
    title: str | None
    update_time: float | None
    message_count: int | None
    snippet: str | None
    share: shares.Share | None


@router.get(
    "/",
    response_class=RedirectResponse,
    status_code=302,
    summary="Home: a redirect to /library",
)
def home() -> RedirectResponse:
    """The address ``parley serve`` prints: your library (which signs you in first)."""
    return RedirectResponse("/library", status_code=302)


@router.get("/library", response_class=HTMLResponse)
def library_page(request: Request, page: int = 1, q: str = "", job: str | None = None) -> Response:
    """Your conversations (search, share controls, import and export), shares and saves."""
    user = signed_in(request)
    if isinstance(user, RedirectResponse):
        return user
    query = " ".join(q.split())[:200]
    with transaction(deps.runtime(request).factory) as session:
        total = conversations.count(session, owner_id=user.id)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(max(page, 1), pages)
        listed: list[tuple[conversations.Summary, str | None]]
        if query:
            hits = search.search(session, owner_id=user.id, query=query, limit=SEARCH_LIMIT)
            found = conversations.summaries(
                session, owner_id=user.id, ids=[hit.id for hit in hits], limit=SEARCH_LIMIT
            )
            by_id = {row.id: row for row in found}
            listed = [(s, hit.snippet) for hit in hits if (s := by_id.get(hit.id)) is not None]
        else:
            found = conversations.summaries(
                session, owner_id=user.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
            )
            listed = [(s, None) for s in found]
        rows = [
            Row(
                s.id,
                s.title,
                s.update_time,
                s.message_count,
                snippet,
                shares.for_conversation(session, conversation_pk=s.pk),
            )
            for s, snippet in listed
        ]
        mine = social.my_shares(session, user_id=user.id)
        saved = social.my_saves(session, user_id=user.id)
        job_state = None
        if job:
            try:
                job_state = store_jobs.get(session, job_id=job, owner_id=user.id)
            except NotFound:
                job_state = None
    return render_page(
        request,
        "library.html",
        user=user,
        headers={"Cache-Control": "private, no-store"},
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        query=query,
        shares=[card(s) for s in mine],
        saves=[card(s) for s in saved],
        visibilities=VISIBILITIES,
        export_formats=EXPORT_FORMATS,
        job=job_state,
        notice=notice(request),
    )


def _visibility(body: dict[str, Any]) -> social.Visibility:
    value = field(body, "visibility", "unlisted")
    for known in social.VISIBILITIES:
        if value == known:
            return known
    raise Unprocessable(f"visibility must be one of {', '.join(VISIBILITIES)}")


@router.post("/library/share", response_class=RedirectResponse, status_code=303)
def share_from_library(request: Request, body: Body) -> RedirectResponse:
    """Form: share one of your conversations (fields `conversation_id`, `visibility`)."""
    user = require_user(request)
    with transaction(deps.runtime(request).factory) as session:
        share = social.share_conversation(
            session,
            owner_id=user.id,
            conversation_id=field(body, "conversation_id"),
            visibility=_visibility(body),
        )
    return see_other(f"/library?done=shared#conv-{share.conversation_id}")


@router.post("/library/shares/{share_id}/update", response_class=RedirectResponse, status_code=303)
def update_share(request: Request, share_id: str, body: Body) -> RedirectResponse:
    """Form: change the visibility of one of your shares (field `visibility`)."""
    user = require_user(request)
    with transaction(deps.runtime(request).factory) as session:
        social.update_share(
            session,
            share_id=share_id,
            user_id=user.id,
            visibility=_visibility(body),
        )
    return see_other("/library?done=updated")


@router.post("/library/shares/{share_id}/delete", response_class=RedirectResponse, status_code=303)
def delete_share(request: Request, share_id: str, body: Body) -> RedirectResponse:
    """Form: delete one of your shares; its link stops working at once."""
    user = require_user(request)
    with transaction(deps.runtime(request).factory) as session:
        share = shares.get(session, share_id=share_id)
        if share is None or share.owner_id != user.id:  # admins moderate through the API
            raise NotFound(f"no share of yours with id {share_id!r}")
        social.delete_share(session, share_id=share_id, user_id=user.id, manage_token=None)
    return see_other("/library?done=unshared")


@router.post(
    "/library/import",
    response_class=RedirectResponse,
    status_code=303,
    dependencies=[Depends(deps.rate_limit("read"))],
)
async def import_upload(request: Request) -> Response:
    """Form: upload a ChatGPT export (multipart field `file`); it imports in the background."""
    user = await run_in_threadpool(_import_user, request)
    answer = await imports.upload_export(request, user)
    job_id = orjson.loads(bytes(answer.body))["job_id"]
    return see_other(f"/library?done=imported&job={job_id}")


@router.get("/library/export", response_class=FileResponse)
def export_download(request: Request, format: str = "json") -> Response:
    """Download your whole library as a ZIP in one export format."""
    user = signed_in(request)
    if isinstance(user, RedirectResponse):
        return user
    if format not in exporter.FORMATS:
        raise BadRequest(f"unknown format {format!r}; choose one of {', '.join(exporter.FORMATS)}")
    folder = Path(tempfile.mkdtemp(prefix="parley-export-"))
    try:
        archive = _build_zip(request, user.id, format, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    stamp = time.strftime("%Y%m%d", time.gmtime())
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=f"parley-{format}-{stamp}.zip",
        headers={"Cache-Control": "private, no-store"},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def _import_user(request: Request) -> User:
    """The uploader. The body streams to disk unread, so a browser form sends its CSRF
    token in the query string; once it matches, deps' check counts as done."""
    expected = deps.csrf_token_for(request)
    sent = request.query_params.get("csrf_token") or ""
    if expected and hmac.compare_digest(sent.encode(), expected.encode()):
        request.state.csrf_checked = True
    return deps.require(request)


def _build_zip(request: Request, owner_id: str, fmt: str, folder: Path) -> Path:
    items = exporter.iter_selected(
        deps.runtime(request).factory, owner_id=owner_id, selection=exporter.Selection()
    )
    archive = folder / "export.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        if fmt in ("markdown", "html"):
            files = folder / "files"
            exporter.write(items, fmt=fmt, output=files)
            for path in sorted(files.iterdir()):
                zipped.write(path, arcname=f"conversations/{path.name}")
        else:
            name = "conversations.json" if fmt == "json" else f"{fmt}.jsonl"
            with zipped.open(name, "w", force_zip64=True) as handle:
                exporter.write(items, fmt=fmt, output=handle)  # type: ignore[arg-type]
    return archive
