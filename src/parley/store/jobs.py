"""Import jobs: the state, progress and outcome of uploads imported in the background.

A job moves ``queued -> running -> done`` or ends ``failed`` (from either earlier state)
with an ``error`` written for the person who uploaded the file. Progress counters only
grow while the job is queued or running; :func:`finish` and :func:`fail` are final
(``finished_at`` is set once).

An unfinished job holds a lease (``lease_until``): the process running it renews it
(:func:`renew`) while its thread lives. One whose lease ran out has no live process, and
:func:`fail_unfinished` fails it; a job another live process runs keeps its lease, so
several server processes can share one library.

Jobs are owner-scoped: :func:`get` with another owner's id raises
:class:`~parley.errors.NotFound`, exactly as for a job that does not exist, so job ids
leak nothing.

Every function takes the session first, keyword-only arguments after it, and never
commits.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from parley.errors import NotFound
from parley.store.tables import import_jobs

State = Literal["queued", "running", "done", "failed"]
UNFINISHED: tuple[State, ...] = ("queued", "running")
LEASE_SECONDS = 30.0  # an unfinished job not renewed for this long has no live process


@dataclass(frozen=True)
class Job:
    id: str
    owner_id: str
    state: State
    filename: str | None
    bytes_total: int
    bytes_done: int
    conversations_done: int
    imported: int
    updated: int
    unchanged: int
    failed: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    lease_until: float | None = None

    def summary(self) -> dict[str, Any] | None:
        """The import report once the job is done, else None."""
        if self.state != "done":
            return None
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
        }


def _job(row: Any) -> Job:
    data = dict(row._mapping)
    failed = orjson.loads(data.pop("failed_json") or "[]")
    return Job(**data, failed=failed)


def create(
    session: Session,
    *,
    owner_id: str,
    filename: str | None,
    bytes_total: int = 0,
    job_id: str | None = None,
) -> Job:
    """A new ``queued`` job, leased for :data:`LEASE_SECONDS`; ``job_id`` defaults to a
    fresh UUID."""
    now = time.time()
    job = Job(
        id=job_id or str(uuid.uuid4()),
        owner_id=owner_id,
        state="queued",
        filename=filename,
        bytes_total=bytes_total,
        bytes_done=0,
        conversations_done=0,
        imported=0,
        updated=0,
        unchanged=0,
        created_at=now,
        lease_until=now + LEASE_SECONDS,
    )
    values = {k: v for k, v in asdict(job).items() if k != "failed"}
    session.execute(import_jobs.insert().values(**values, failed_json="[]"))
    return job


def get(session: Session, *, job_id: str, owner_id: str) -> Job:
    """The job, if it belongs to ``owner_id``; NotFound otherwise."""
    row = session.execute(
        select(import_jobs).where(import_jobs.c.id == job_id, import_jobs.c.owner_id == owner_id)
    ).first()
    if row is None:
        raise NotFound(f"no import job {job_id!r}; upload the file again with POST /api/import")
    return _job(row)


def start(session: Session, *, job_id: str, bytes_total: int) -> None:
    """Mark a queued job running, with the number of bytes the import will read."""
    session.execute(
        update(import_jobs)
        .where(import_jobs.c.id == job_id, import_jobs.c.state == "queued")
        .values(state="running", started_at=time.time(), bytes_total=bytes_total)
    )


def update_progress(
    session: Session, *, job_id: str, bytes_done: int, conversations_done: int
) -> None:
    """Record progress of an unfinished job (ignored once it is done or failed)."""
    session.execute(
        update(import_jobs)
        .where(import_jobs.c.id == job_id, import_jobs.c.state.in_(UNFINISHED))
        .values(bytes_done=bytes_done, conversations_done=conversations_done)
    )


def finish(
    session: Session,
    *,
    job_id: str,
    imported: int,
    updated: int,
    unchanged: int,
    failed: Sequence[dict[str, str]],
    bytes_done: int | None = None,
) -> None:
    """Mark the job done with the import's summary."""
    values: dict[str, Any] = {
        "state": "done",
        "imported": imported,
        "updated": updated,
        "unchanged": unchanged,
        "failed_json": orjson.dumps(list(failed)).decode(),
        "conversations_done": imported + updated + unchanged + len(failed),
        "error": None,
        "finished_at": time.time(),
    }
    if bytes_done is not None:
        values["bytes_done"] = bytes_done
    session.execute(update(import_jobs).where(import_jobs.c.id == job_id).values(values))


def fail(session: Session, *, job_id: str, error: str) -> None:
    """Mark the job failed with a message saying what went wrong and what to do."""
    session.execute(
        update(import_jobs)
        .where(import_jobs.c.id == job_id)
        .values(state="failed", error=error, finished_at=time.time())
    )


def renew(session: Session, *, job_ids: Collection[str], now: float | None = None) -> None:
    """Extend the leases of these unfinished jobs by :data:`LEASE_SECONDS` from ``now``."""
    if not job_ids:
        return
    now = time.time() if now is None else now
    session.execute(
        update(import_jobs)
        .where(import_jobs.c.id.in_(list(job_ids)), import_jobs.c.state.in_(UNFINISHED))
        .values(lease_until=now + LEASE_SECONDS)
    )


def fail_unfinished(
    session: Session, *, error: str, keep: Collection[str] = (), now: float | None = None
) -> list[str]:
    """Mark failed every queued or running job whose lease ran out by ``now`` (default:
    the current time), but those in ``keep``; returns their ids."""
    now = time.time() if now is None else now
    lapsed = or_(import_jobs.c.lease_until.is_(None), import_jobs.c.lease_until < now)
    ids = [
        job_id
        for job_id in session.execute(
            select(import_jobs.c.id).where(import_jobs.c.state.in_(UNFINISHED), lapsed)
        ).scalars()
        if job_id not in keep
    ]
    if ids:
        session.execute(
            update(import_jobs)
            .where(import_jobs.c.id.in_(ids), import_jobs.c.state.in_(UNFINISHED))
            .values(state="failed", error=error, finished_at=time.time())
        )
    return ids
