"""The import-job repository against real databases (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import time

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from parley.errors import NotFound
from parley.store import jobs, users
from parley.store.db import transaction
from parley.store.migrate import alembic_config, upgrade


@pytest.fixture
def other_id(factory: sessionmaker[Session]) -> str:
    with transaction(factory) as session:
        return users.create(session, name="someone-else").id


def test_create_then_get_is_owner_scoped(
    factory: sessionmaker[Session], owner_id: str, other_id: str
) -> None:
    with transaction(factory) as session:
        job = jobs.create(session, owner_id=owner_id, filename="export.zip", bytes_total=123)
    with transaction(factory) as session:
        stored = jobs.get(session, job_id=job.id, owner_id=owner_id)
        assert stored == job
        assert stored.state == "queued" and stored.filename == "export.zip"
        assert stored.bytes_total == 123 and stored.bytes_done == 0
        assert stored.failed == [] and stored.error is None and stored.summary() is None
        with pytest.raises(NotFound, match="POST /api/import"):
            jobs.get(session, job_id=job.id, owner_id=other_id)
        with pytest.raises(NotFound):
            jobs.get(session, job_id="no-such-job", owner_id=owner_id)


def test_given_id_is_used(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        job = jobs.create(session, owner_id=owner_id, filename=None, job_id="job-1")
    assert job.id == "job-1"


def test_lifecycle_to_done(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        job = jobs.create(session, owner_id=owner_id, filename="c.json", bytes_total=10)
        jobs.start(session, job_id=job.id, bytes_total=500)
        jobs.update_progress(session, job_id=job.id, bytes_done=250, conversations_done=3)
    with transaction(factory) as session:
        running = jobs.get(session, job_id=job.id, owner_id=owner_id)
    assert running.state == "running" and running.started_at is not None
    assert (running.bytes_total, running.bytes_done, running.conversations_done) == (500, 250, 3)

    failed = [{"id": "bad", "reason": "no mapping"}]
    with transaction(factory) as session:
        jobs.finish(
            session,
            job_id=job.id,
            imported=4,
            updated=1,
            unchanged=2,
            failed=failed,
            bytes_done=500,
        )
        # progress arriving late does not rewrite a finished job
        jobs.update_progress(session, job_id=job.id, bytes_done=1, conversations_done=1)
    with transaction(factory) as session:
        done = jobs.get(session, job_id=job.id, owner_id=owner_id)
    assert done.state == "done" and done.finished_at is not None
    assert done.bytes_done == 500 and done.conversations_done == 8
    assert done.summary() == {"imported": 4, "updated": 1, "unchanged": 2, "failed": failed}


def test_fail_records_the_message(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        job = jobs.create(session, owner_id=owner_id, filename="x.zip")
        jobs.fail(session, job_id=job.id, error="the file is damaged")
    with transaction(factory) as session:
        failed = jobs.get(session, job_id=job.id, owner_id=owner_id)
    assert failed.state == "failed" and failed.error == "the file is damaged"
    assert failed.summary() is None and failed.finished_at is not None


def test_fail_unfinished_spares_finished_and_kept_jobs(
    factory: sessionmaker[Session], owner_id: str, other_id: str
) -> None:
    with transaction(factory) as session:
        queued = jobs.create(session, owner_id=owner_id, filename="a")
        running = jobs.create(session, owner_id=other_id, filename="b")
        jobs.start(session, job_id=running.id, bytes_total=1)
        kept = jobs.create(session, owner_id=owner_id, filename="c")
        done = jobs.create(session, owner_id=owner_id, filename="d")
        jobs.finish(session, job_id=done.id, imported=1, updated=0, unchanged=0, failed=[])
    later = time.time() + jobs.LEASE_SECONDS + 1  # every lease has run out
    with transaction(factory) as session:
        ids = jobs.fail_unfinished(session, error="interrupted", keep=[kept.id], now=later)
    assert sorted(ids) == sorted([queued.id, running.id])
    with transaction(factory) as session:
        states = {
            job.id: (job.state, job.error)
            for job in (
                jobs.get(session, job_id=queued.id, owner_id=owner_id),
                jobs.get(session, job_id=running.id, owner_id=other_id),
                jobs.get(session, job_id=kept.id, owner_id=owner_id),
                jobs.get(session, job_id=done.id, owner_id=owner_id),
            )
        }
    assert states == {
        queued.id: ("failed", "interrupted"),
        running.id: ("failed", "interrupted"),
        kept.id: ("queued", None),
        done.id: ("done", None),
    }


def test_a_job_whose_lease_holds_is_not_failed_until_it_runs_out(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        job = jobs.create(session, owner_id=owner_id, filename="a")
        jobs.start(session, job_id=job.id, bytes_total=1)
        created = jobs.get(session, job_id=job.id, owner_id=owner_id).lease_until
    assert created is not None
    with transaction(factory) as session:  # another live process runs it
        assert jobs.fail_unfinished(session, error="-", now=created - 1) == []
        jobs.renew(session, job_ids=[job.id], now=created + 5)
    with transaction(factory) as session:
        assert jobs.fail_unfinished(session, error="-", now=created + 1) == []  # renewed
        assert jobs.fail_unfinished(session, error="-", now=created + 6 + jobs.LEASE_SECONDS) == [
            job.id
        ]
        failed = jobs.get(session, job_id=job.id, owner_id=owner_id)
        jobs.renew(session, job_ids=[job.id], now=created + 100)  # too late: final
    assert failed.state == "failed"
    with transaction(factory) as session:
        assert jobs.get(session, job_id=job.id, owner_id=owner_id).lease_until == failed.lease_until


def test_jobs_go_with_their_owner(factory: sessionmaker[Session], other_id: str) -> None:
    with transaction(factory) as session:
        job = jobs.create(session, owner_id=other_id, filename="a")
        users.remove(session, user_id=other_id)
    with transaction(factory) as session, pytest.raises(NotFound):
        jobs.get(session, job_id=job.id, owner_id=other_id)


def test_jobs_from_before_leases_count_as_lapsed(
    engine: Engine, factory: sessionmaker[Session], owner_id: str
) -> None:
    command.downgrade(alembic_config(engine), "0011_counts")  # before the leases
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO import_jobs (id, owner_id, state, bytes_total, bytes_done, "
                "conversations_done, imported, updated, unchanged, failed_json, created_at) "
                "VALUES ('old', :owner, 'running', 1, 0, 0, 0, 0, 0, '[]', 1.0)"
            ),
            {"owner": owner_id},
        )
    upgrade(engine)
    with transaction(factory) as session:
        assert jobs.fail_unfinished(session, error="interrupted") == ["old"]
