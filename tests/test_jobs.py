"""Background import jobs (parley.jobs) against real databases."""

from __future__ import annotations

import itertools
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.orm import Session, sessionmaker

from parley import jobs
from parley.formats.chatgpt import ZipLimits
from parley.importer import Importer
from parley.store import conversations, users
from parley.store import jobs as store_jobs
from parley.store.db import transaction
from tests.support.conversations import two_turns

LIMITS = ZipLimits()


def conversation(index: int, *, text: str = "hello") -> dict[str, Any]:
    return two_turns(
        f"conv-{index:04d}",
        title=f"Conversation {index}",
        question=f"question {index}",
        answer=text,
        create_time=1_700_000_000.0 + index,
        update_time=1_700_000_100.0 + index,
    )


def write_json(path: Path, items: list[Any]) -> Path:
    path.write_bytes(orjson.dumps(items))
    return path


def write_zip(path: Path, items: list[Any]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("conversations.json", orjson.dumps(items))
        zf.writestr("user.json", b"{}")
    return path


def run(factory: sessionmaker[Session], owner_id: str, path: Path) -> store_jobs.Job:
    job_id = jobs.start_import_job(
        factory, owner_id=owner_id, path=path, filename=path.name, limits=LIMITS
    )
    assert jobs.wait(job_id, timeout=60), "the import job did not finish in time"
    with transaction(factory) as session:
        return store_jobs.get(session, job_id=job_id, owner_id=owner_id)


def count(factory: sessionmaker[Session], owner_id: str) -> int:
    with transaction(factory) as session:
        return conversations.count(session, owner_id=owner_id)


def test_zip_import_runs_to_done_and_removes_the_upload(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    path = write_zip(tmp_path / "export.zip", [conversation(i) for i in range(5)])
    job = run(factory, owner_id, path)
    assert job.state == "done", job.error
    assert job.summary() == {"imported": 5, "updated": 0, "unchanged": 0, "failed": []}
    assert job.filename == "export.zip" and job.conversations_done == 5
    assert job.bytes_total > 0 and job.bytes_done == job.bytes_total
    assert job.started_at is not None and job.finished_at is not None
    assert not path.exists()
    assert count(factory, owner_id) == 5


def test_the_upload_folder_goes_and_messages_use_the_file_name(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    folder = jobs.upload_folder(tmp_path / "uploads", "job-1")
    folder.mkdir(parents=True)
    path = write_json(folder / "my-export.json", [conversation(1), 7])
    job_id = jobs.start_import_job(
        factory,
        owner_id=owner_id,
        path=path,
        filename="my-export.json",
        limits=LIMITS,
        job_id="job-1",
    )
    assert job_id == "job-1" and jobs.wait(job_id, timeout=60)
    with transaction(factory) as session:
        job = store_jobs.get(session, job_id=job_id, owner_id=owner_id)
    assert job.failed == [{"id": "my-export.json[1]", "reason": job.failed[0]["reason"]}]
    assert not folder.exists() and folder.parent.exists()


def test_reimport_is_unchanged_and_bad_conversations_are_listed(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    items: list[Any] = [conversation(i) for i in range(3)]
    run(factory, owner_id, write_json(tmp_path / "first.json", items))
    items[1] = conversation(1, text="an edited answer")
    items.append({"id": "broken", "title": "no mapping"})
    items.append(42)
    job = run(factory, owner_id, write_json(tmp_path / "second.json", items))
    summary = job.summary()
    assert summary is not None
    assert (summary["imported"], summary["updated"], summary["unchanged"]) == (0, 1, 2)
    assert [f["id"] for f in summary["failed"]] == ["broken", "second.json[4]"]
    assert all(f["reason"] for f in summary["failed"])
    assert job.conversations_done == 5


def test_an_unreadable_file_fails_with_its_reason(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(b"this is not an export")
    job = run(factory, owner_id, path)
    assert job.state == "failed" and job.summary() is None
    assert job.error is not None and "neither JSON nor a ZIP" in job.error
    assert not path.exists()


def test_a_zip_without_conversations_fails(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("chat.html", b"<html></html>")
    job = run(factory, owner_id, path)
    assert job.state == "failed" and job.error
    assert count(factory, owner_id) == 0


def test_truncated_json_keeps_what_was_read(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    data = orjson.dumps([conversation(i) for i in range(4)])
    path = tmp_path / "conversations.json"
    path.write_bytes(data[: len(data) - 40])  # cut inside the last conversation
    job = run(factory, owner_id, path)
    assert job.state == "failed"
    assert job.error is not None and "truncated" in job.error
    assert "3 conversations before the error were stored" in job.error
    assert count(factory, owner_id) == 3


def test_an_unexpected_error_fails_the_job_without_internals(
    factory: sessionmaker[Session],
    owner_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(self: Importer, item: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Importer, "add", explode)
    job = run(factory, owner_id, write_json(tmp_path / "c.json", [conversation(1)]))
    assert job.state == "failed" and job.error == jobs.UNEXPECTED
    assert "secret" not in (job.error or "")


def test_progress_writes_are_throttled(
    factory: sessionmaker[Session],
    owner_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes: list[float] = []
    original = store_jobs.update_progress

    def counting(session: Session, **kwargs: Any) -> None:
        writes.append(time.monotonic())
        original(session, **kwargs)

    monkeypatch.setattr(store_jobs, "update_progress", counting)
    items = [conversation(i, text="x" * 2000) for i in range(400)]
    started = time.monotonic()
    job = run(factory, owner_id, write_json(tmp_path / "many.json", items))
    elapsed = time.monotonic() - started
    assert job.state == "done" and job.conversations_done == 400
    assert len(writes) <= elapsed / jobs.PROGRESS_INTERVAL + 1
    gaps = [b - a for a, b in itertools.pairwise(writes)]
    assert all(gap >= jobs.PROGRESS_INTERVAL * 0.9 for gap in gaps)


def test_recover_interrupted_fails_leftover_jobs_and_their_files(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    with transaction(factory) as session:
        queued = store_jobs.create(session, owner_id=owner_id, filename="a.zip")
        running = store_jobs.create(session, owner_id=owner_id, filename="b.zip")
        store_jobs.start(session, job_id=running.id, bytes_total=10)
        done = store_jobs.create(session, owner_id=owner_id, filename="c.zip")
        store_jobs.finish(session, job_id=done.id, imported=0, updated=0, unchanged=0, failed=[])
    leftover = jobs.upload_folder(uploads, running.id)
    leftover.mkdir()
    (leftover / "export.zip").write_bytes(b"PK")
    unrelated = uploads / "something-else"
    unrelated.mkdir()
    with transaction(factory) as session:  # their leases hold: another process may run them
        assert jobs.recover_interrupted(session, uploads=uploads) == []
    assert leftover.exists()
    later = time.time() + store_jobs.LEASE_SECONDS + 1
    with transaction(factory) as session:
        recovered = jobs.recover_interrupted(session, uploads=uploads, now=later)
    assert sorted(recovered) == sorted([queued.id, running.id])
    assert not leftover.exists() and unrelated.exists()
    with transaction(factory) as session:
        for job_id in (queued.id, running.id):
            job = store_jobs.get(session, job_id=job_id, owner_id=owner_id)
            assert job.state == "failed" and job.error == jobs.INTERRUPTED
        assert store_jobs.get(session, job_id=done.id, owner_id=owner_id).state == "done"


def test_imports_land_in_the_uploaders_library_only(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    with transaction(factory) as session:
        other = users.create(session, name="other").id
    job = run(factory, other, write_json(tmp_path / "c.json", [conversation(1), conversation(2)]))
    assert job.state == "done"
    assert count(factory, other) == 2 and count(factory, owner_id) == 0


def test_a_running_job_keeps_its_lease_until_it_ends(
    factory: sessionmaker[Session], owner_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "RENEW_SECONDS", 0.01)
    with transaction(factory) as session:
        job = store_jobs.create(session, owner_id=owner_id, filename="a.zip")
        first = store_jobs.get(session, job_id=job.id, owner_id=owner_id).lease_until
    ended = threading.Event()
    renewer = threading.Thread(target=jobs.keep_leased, args=(factory, job.id, ended))
    renewer.start()

    def lease() -> float | None:
        with transaction(factory) as session:
            return store_jobs.get(session, job_id=job.id, owner_id=owner_id).lease_until

    deadline = time.monotonic() + 10
    while lease() == first:
        assert time.monotonic() < deadline, "the lease was never renewed"
        time.sleep(0.01)
    ended.set()
    renewer.join(10)
    assert not renewer.is_alive()
