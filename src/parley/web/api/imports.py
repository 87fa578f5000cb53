"""Upload import over HTTP: ``POST /api/import`` and ``GET /api/import/{job_id}``.

``POST /api/import`` takes ``multipart/form-data`` with the export in the field ``file``
(``curl -F file=@export.zip -H 'Authorization: Bearer ...' .../api/import``) and answers
202 with ``{"job_id", "status_url", "state"}``; the import runs in the background
(:mod:`parley.jobs`) into the caller's library.

Upload contract:

* the body is parsed as it streams (python-multipart's push parser over
  ``request.stream()``) and the file is written, under the uploader's file name, to
  ``PARLEY_HOME/uploads/<job id>/`` in chunks of at most :data:`FLUSH_BYTES`, off the event
  loop: memory stays bounded whatever the file size;
* the body limit is ``settings.max_upload_bytes`` (413, enforced by
  :class:`parley.web.limits.BodyLimit` before and while the body streams);
* rejected early: a body that is not multipart (415), a file whose name does not end in
  ``.zip`` or ``.json`` (415, before any of it is written), content that is neither a ZIP
  nor JSON (415, from its first bytes), an empty file, a missing ``file`` field, more
  than one file or a malformed body (400). A rejected or cut-off upload leaves no file.

The upload route is ``async`` because it consumes the body as it streams; everything it
blocks on (file writes, the database) runs in the thread pool.

``GET /api/import/{job_id}`` answers the job's state, progress and, once done, its
summary (``failed`` lists ``{id, reason}``); a failed job carries ``error``. Only the
uploader can read a job: anyone else gets 404.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from parley.errors import BadRequest, ParleyError
from parley.formats.chatgpt import ZipLimits
from parley.jobs import start_import_job, upload_folder
from parley.store import jobs as store_jobs
from parley.store.db import transaction
from parley.store.users import User
from parley.web import deps
from parley.web.responses import FastJSON

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(tags=["import"])

UPLOADS = "uploads"
FIELD = b"file"
ACCEPTED_SUFFIXES = (".zip", ".json")
FLUSH_BYTES = 1 << 20
SNIFF_LIMIT = 64 * 1024
MAX_FILENAME_BYTES = 200
_BOM = b"\xef\xbb\xbf"
_HOW = (
    "send the ChatGPT export ZIP or its conversations.json as multipart/form-data in a "
    "field named 'file' (curl -F file=@export.zip ...)"
)


class UnsupportedUpload(BadRequest):
    """An upload that is not an export ZIP or JSON file."""

    status = 415


class InsufficientStorage(ParleyError):
    status = 507


@dataclass
class _Receiver:
    """python-multipart callbacks that stream the ``file`` part into ``folder``."""

    folder: Path
    filename: str | None = None
    path: Path | None = None
    seen_file: bool = False
    complete: bool = False
    _in_file: bool = False
    _header_name: bytes = b""
    _header_value: bytes = b""
    _disposition: bytes = b""
    _head: bytearray = field(default_factory=bytearray)
    _suffix: str | None = None
    _pending: list[bytes] = field(default_factory=list)
    _pending_size: int = 0
    _handle: BinaryIO | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self._in_file = False
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if options.get(b"name") != FIELD:
            return  # other fields are ignored (their data is dropped as it streams)
        if self.seen_file:
            raise BadRequest("send one export file per upload; " + _HOW)
        self.seen_file = self._in_file = True
        raw_name = options.get(b"filename")
        if raw_name is not None:
            self.filename = _clean_filename(raw_name)
            if not self.filename.lower().endswith(ACCEPTED_SUFFIXES):
                raise UnsupportedUpload(f"{self.filename!r} is not a .zip or .json file; {_HOW}")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file:
            return
        chunk = data[start:end]
        if self._suffix is None:
            self._head += chunk
            self._suffix = _sniff(bytes(self._head), final=False, filename=self.filename)
            if self._suffix is None:
                return
            chunk, self._head = bytes(self._head), bytearray()
        self._pending.append(chunk)
        self._pending_size += len(chunk)

    def on_part_end(self) -> None:
        if not self._in_file:
            return
        self._in_file = False
        if self._suffix is None:
            self._suffix = _sniff(bytes(self._head), final=True, filename=self.filename)
            self._pending.append(bytes(self._head))
            self._pending_size += len(self._head)
            self._head = bytearray()
        self.complete = True

    @property
    def should_flush(self) -> bool:
        return self._pending_size >= FLUSH_BYTES

    def flush(self) -> None:
        """Write the buffered chunks (blocking: call it from a worker thread)."""
        if not self._pending:
            return
        if self._handle is None:
            assert self._suffix is not None
            self.folder.mkdir(mode=0o700, parents=True)
            self.path = self.folder / (self.filename or f"upload{self._suffix}")
            self._handle = self.path.open("xb")
        try:
            for chunk in self._pending:
                self._handle.write(chunk)
        except OSError as error:
            raise InsufficientStorage(
                f"the server could not store the upload ({error.strerror or error}); "
                "ask its admin to free some disk space"
            ) from None
        self._pending.clear()
        self._pending_size = 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard(self) -> None:
        self.close()
        if self.path is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _clean_filename(raw: bytes) -> str:
    """The base name of the client's file name, safe to use as a file name here."""
    name = raw.decode("utf-8", errors="replace").replace("\\", "/").replace("\x00", "")
    name = PurePosixPath(name).name.encode()[-MAX_FILENAME_BYTES:].decode(errors="ignore")
    return "upload" if name in ("", ".", "..") else name


def _sniff(head: bytes, *, final: bool, filename: str | None) -> str | None:
    """``.zip`` or ``.json`` from the first bytes; None until there are enough of them."""
    if head.startswith(b"PK"):
        return ".zip"
    body = head.removeprefix(_BOM).lstrip(b" \t\r\n")
    if body[:1] in (b"[", b"{"):
        return ".json"
    partial = len(head) < len(_BOM) and (b"PK".startswith(head) or _BOM.startswith(head))
    if (not body or partial) and not final and len(head) < SNIFF_LIMIT:
        return None
    if not body:
        raise BadRequest("the uploaded file is empty; " + _HOW)
    what = repr(filename) if filename else "the uploaded file"
    raise UnsupportedUpload(
        f"{what} is neither a ZIP nor JSON (it starts with {body[:20]!r}); {_HOW}"
    )


async def _receive(request: Request, folder: Path) -> _Receiver:
    """Stream the multipart body's ``file`` part to disk; see the module contract."""
    media_type, options = parse_options_header(request.headers.get("content-type"))
    if media_type != b"multipart/form-data":
        raise UnsupportedUpload(f"expected multipart/form-data; {_HOW}")
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadRequest(f"the multipart body has no boundary; {_HOW}")
    receiver = _Receiver(folder=folder)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                if receiver.should_flush:
                    await run_in_threadpool(receiver.flush)
            parser.finalize()
        except FormParserError:
            raise BadRequest(f"the multipart body is malformed; {_HOW}") from None
        except ClientDisconnect:
            raise BadRequest("the upload was cut off before the end; send it again") from None
        if not receiver.seen_file:
            raise BadRequest(f"no file in the upload; {_HOW}")
        if not receiver.complete:
            raise BadRequest("the upload was cut off before the end; send it again")
        await run_in_threadpool(receiver.flush)
        receiver.close()
    except BaseException:
        receiver.discard()  # inline: this also runs when the request is cancelled
        raise
    return receiver


def _view(job: store_jobs.Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "state": job.state,
        "filename": job.filename,
        "bytes_total": job.bytes_total,
        "bytes_done": job.bytes_done,
        "conversations_done": job.conversations_done,
        "summary": job.summary(),
        "error": job.error,
    }


@router.post("/api/import", status_code=202, dependencies=[Depends(deps.rate_limit("read"))])
async def upload_export(
    request: Request, user: Annotated[User, Depends(deps.current_user)]
) -> FastJSON:
    """Upload a ChatGPT export (ZIP or conversations.json); it is imported in the background.

    Poll `status_url` for progress and the summary. Re-uploading the same export is safe.
    """
    rt = deps.runtime(request)
    job_id = str(uuid.uuid4())
    received = await _receive(request, upload_folder(rt.settings.home / UPLOADS, job_id))
    assert received.path is not None
    limits = ZipLimits(
        max_ratio=rt.settings.max_zip_ratio, max_total_bytes=rt.settings.max_unzipped_bytes
    )
    await run_in_threadpool(
        start_import_job,
        rt.factory,
        owner_id=user.id,
        path=received.path,
        filename=received.filename,
        limits=limits,
        job_id=job_id,
    )
    return FastJSON(
        {"job_id": job_id, "status_url": f"/api/import/{job_id}", "state": "queued"},
        status_code=202,
    )


@router.get("/api/import/{job_id}", dependencies=[Depends(deps.rate_limit("read"))])
def import_status(
    job_id: str, request: Request, user: Annotated[User, Depends(deps.current_user)]
) -> FastJSON:
    """State, progress and (once done) the summary of one of your import jobs."""
    rt = deps.runtime(request)
    with transaction(rt.factory) as session:
        job = store_jobs.get(session, job_id=job_id, owner_id=user.id)
    return FastJSON(_view(job))
