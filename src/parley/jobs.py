"""Background import jobs: an uploaded export file imported in a thread, tracked in the store.

Contract:

* :func:`start_import_job` takes ownership of ``path``: it records a ``queued`` job
  (:mod:`parley.store.jobs`), starts a daemon thread and returns the job id at once. The
  thread imports the file with :class:`parley.importer.Importer` (the same batches, limits
  and idempotence as ``parley import``) and deletes ``path`` when it ends, however it ends
  (and its folder too when that folder is named after the job: :func:`upload_folder`),
  before it records the final state: a ``done`` or ``failed`` job has no file left.
  Messages and failed-conversation ids name the file by its name in ``path``, so keep the
  uploader's file name there.
* Progress (bytes read, conversations processed) is written at most every
  :data:`PROGRESS_INTERVAL` seconds, in its own short transaction, never inside an import
  batch; a progress write the database refuses is skipped, not fatal. At most
  :data:`MAX_CONCURRENT_IMPORTS` jobs run at once per process; the others wait ``queued``.
* The job ends ``done`` with the import report, or ``failed`` with a message for the
  uploader: the :class:`~parley.errors.ParleyError` detail (a damaged or unreadable export,
  a ZIP bomb...) or a generic message for anything unexpected (logged with its traceback).
  Conversations stored before a failure stay stored; re-importing is always safe.
* While a job's thread lives (queued or running), it renews the job's lease every
  :data:`RENEW_SECONDS` (:func:`parley.store.jobs.renew`). A process that dies leaves
  its jobs to lapse: :func:`recover_interrupted`, called when a server starts and then
  every :data:`RECOVER_SECONDS`, marks failed with :data:`INTERRUPTED` the unfinished jobs
  whose lease ran out and removes their upload folders. Jobs that other live processes
  sharing the library run keep their leases and their files.

Nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from parley.errors import ParleyError
from parley.formats.chatgpt import ZipLimits, read_export, total_bytes
from parley.importer import Importer
from parley.store import jobs as store_jobs
from parley.store.db import transaction

log = logging.getLogger("parley.jobs")

INTERRUPTED = "interrupted by a server restart; upload again (re-importing is safe)"
UNEXPECTED = (
    "the import stopped on an unexpected error (the server log has details); "
    "upload again (re-importing is safe)"
)
PROGRESS_INTERVAL = 0.25
MAX_CONCURRENT_IMPORTS = 2
RENEW_SECONDS = store_jobs.LEASE_SECONDS / 3
RECOVER_SECONDS = store_jobs.LEASE_SECONDS

_slots = threading.BoundedSemaphore(MAX_CONCURRENT_IMPORTS)
_threads: dict[str, threading.Thread] = {}
_threads_lock = threading.Lock()


def start_import_job(
    factory: sessionmaker[Session],
    *,
    owner_id: str,
    path: Path,
    filename: str | None,
    limits: ZipLimits,
    job_id: str | None = None,
) -> str:
    """Record a job for ``path`` and import it in the background; returns the job id."""
    try:
        with transaction(factory) as session:
            job = store_jobs.create(
                session,
                owner_id=owner_id,
                filename=filename,
                bytes_total=path.stat().st_size,
                job_id=job_id,
            )
    except BaseException:
        path.unlink(missing_ok=True)
        if job_id is not None and path.parent.name == job_id:
            shutil.rmtree(path.parent, ignore_errors=True)
        raise
    thread = threading.Thread(
        target=_run,
        args=(factory, job.id, owner_id, path, limits),
        name=f"parley-import-{job.id[:8]}",
        daemon=True,
    )
    with _threads_lock:
        _threads[job.id] = thread
    thread.start()
    return job.id


def wait(job_id: str, timeout: float | None = None) -> bool:
    """Block until this process's thread for ``job_id`` ends; False if still running."""
    with _threads_lock:
        thread = _threads.get(job_id)
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def active_jobs() -> list[str]:
    """Ids of the jobs this process is running or about to run."""
    with _threads_lock:
        return list(_threads)


def recover_interrupted(
    session: Session, *, uploads: Path | None = None, now: float | None = None
) -> list[str]:
    """Fail the unfinished jobs whose lease ran out by ``now`` (their process is gone);
    returns their ids.

    Jobs with a live thread in this process are left alone. With ``uploads``, the upload
    folders of the failed jobs (:func:`upload_folder`) are deleted.
    """
    ids = store_jobs.fail_unfinished(session, error=INTERRUPTED, keep=active_jobs(), now=now)
    if uploads is not None:
        for job_id in ids:
            shutil.rmtree(upload_folder(uploads, job_id), ignore_errors=True)
    return ids


def upload_folder(uploads: Path, job_id: str) -> Path:
    """The folder that holds the upload of ``job_id`` (removed with it)."""
    return uploads / job_id


class _Progress:
    """Counts bytes and conversations; writes them at most every ``interval`` seconds."""

    def __init__(self, factory: sessionmaker[Session], job_id: str, interval: float) -> None:
        self.factory, self.job_id, self.interval = factory, job_id, interval
        self.bytes_done = 0
        self.conversations_done = 0
        self.last = time.monotonic()

    def on_bytes(self, count: int) -> None:
        self.bytes_done += count
        self._maybe_write()

    def on_conversation(self) -> None:
        self.conversations_done += 1
        self._maybe_write()

    def _maybe_write(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.write()

    def write(self) -> None:
        """Best effort: a progress write that the database refuses is skipped."""
        try:
            with transaction(self.factory) as session:
                store_jobs.update_progress(
                    session,
                    job_id=self.job_id,
                    bytes_done=self.bytes_done,
                    conversations_done=self.conversations_done,
                )
        except SQLAlchemyError as error:
            log.warning("import job %s: progress not recorded (%s)", self.job_id, error)


def _run(
    factory: sessionmaker[Session], job_id: str, owner_id: str, path: Path, limits: ZipLimits
) -> None:
    def cleanup() -> None:
        path.unlink(missing_ok=True)
        if path.parent.name == job_id:
            shutil.rmtree(path.parent, ignore_errors=True)

    ended = threading.Event()
    renewer = threading.Thread(
        target=keep_leased,
        args=(factory, job_id, ended),
        name=f"parley-lease-{job_id[:8]}",
        daemon=True,
    )
    renewer.start()
    try:
        with _slots:
            _import(factory, job_id, owner_id, path, limits, cleanup)
    except Exception:
        log.exception("import job %s could not record its outcome", job_id)
    finally:
        ended.set()
        cleanup()
        with _threads_lock:
            _threads.pop(job_id, None)


def keep_leased(factory: sessionmaker[Session], job_id: str, ended: threading.Event) -> None:
    """Renew the job's lease every :data:`RENEW_SECONDS` until ``ended`` is set (a
    renewal the database refuses is retried at the next one)."""
    while not ended.wait(RENEW_SECONDS):
        try:
            with transaction(factory) as session:
                store_jobs.renew(session, job_ids=[job_id])
        except SQLAlchemyError as error:
            log.warning("import job %s: lease not renewed (%s)", job_id, error)


def _import(
    factory: sessionmaker[Session],
    job_id: str,
    owner_id: str,
    path: Path,
    limits: ZipLimits,
    cleanup: Callable[[], None],
) -> None:
    """Import ``path``; the upload is removed before the final state is recorded."""
    progress = _Progress(factory, job_id, PROGRESS_INTERVAL)
    importer = Importer(factory, owner_id=owner_id, on_conversation=progress.on_conversation)
    try:
        total = total_bytes([path])
        with transaction(factory) as session:
            store_jobs.start(session, job_id=job_id, bytes_total=total)
        for item in read_export([path], limits=limits, on_bytes=progress.on_bytes):
            importer.add(item)
        report = importer.finish()
    except ParleyError as error:
        _fail(factory, job_id, error.detail, importer, cleanup)
        return
    except Exception:
        log.exception("import job %s failed", job_id)
        _fail(factory, job_id, UNEXPECTED, importer, cleanup)
        return
    cleanup()
    with transaction(factory) as session:
        store_jobs.finish(
            session,
            job_id=job_id,
            imported=report.imported,
            updated=report.updated,
            unchanged=report.unchanged,
            failed=report.failed,
            bytes_done=progress.bytes_done,
        )


def _fail(
    factory: sessionmaker[Session],
    job_id: str,
    message: str,
    importer: Importer,
    cleanup: Callable[[], None],
) -> None:
    """Store what was read before the error, then mark the job failed."""
    try:
        importer.finish()
    except Exception:
        log.exception("import job %s could not store its last batch", job_id)
    cleanup()
    stored = importer.report.imported + importer.report.updated + importer.report.unchanged
    if stored:
        message += f" ({stored} conversations before the error were stored.)"
    with transaction(factory) as session:
        store_jobs.fail(session, job_id=job_id, error=message)


__all__ = [
    "INTERRUPTED",
    "RECOVER_SECONDS",
    "active_jobs",
    "keep_leased",
    "recover_interrupted",
    "start_import_job",
    "upload_folder",
    "wait",
]
