from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from parley import synth
from parley.formats.chatgpt import RawConversation
from parley.importer import Importer, import_paths
from parley.store import conversations, users
from parley.store.db import open_engine, session_factory, transaction
from parley.store.tables import messages


def library(factory: sessionmaker[Session], owner_id: str) -> dict[str, dict[str, Any]]:
    with transaction(factory) as session:
        rows = conversations.summaries(session, owner_id=owner_id, limit=10**9)
        return {
            data["id"] if "id" in data else data["conversation_id"]: data
            for data in conversations.load_many(session, pks=[r.pk for r in rows])
        }


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return synth.write_export_zip(
        tmp_path / "export.zip", synth.generate(120, seed=11), layout="sharded", shard_size=25
    )


def test_import_reports_and_is_idempotent(
    factory: sessionmaker[Session], owner_id: str, export: Path
) -> None:
    first = import_paths(factory, paths=[export], owner_id=owner_id, batch_size=16)
    assert first.failed == [] and first.imported == 120
    second = import_paths(factory, paths=[export], owner_id=owner_id)
    assert second.as_json() == {"imported": 0, "updated": 0, "unchanged": 120, "failed": []}


def test_every_generated_conversation_round_trips(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    items = list(synth.generate(40, seed=3)) + synth.edge_case_conversations(seed=1)
    path = synth.write_conversations_json(tmp_path / "conversations.json", items)
    report = import_paths(factory, paths=[path], owner_id=owner_id)
    assert report.failed == []
    stored = library(factory, owner_id)
    for item in items:
        key = item.get("id") or item["conversation_id"]
        assert stored[key] == orjson.loads(orjson.dumps(item))


def test_malformed_conversations_are_reported_and_skipped(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    good = next(synth.generate(1, seed=2, edge_cases=False))
    path = tmp_path / "conversations.json"
    path.write_bytes(
        b"[" + orjson.dumps(good) + b',{"id":"no-mapping"},42,{"id":"bad-node","mapping":{"a":7}}]'
    )
    report = import_paths(factory, paths=[path], owner_id=owner_id)
    assert report.imported == 1
    reasons = {f["id"]: f["reason"] for f in report.failed}
    assert set(reasons) == {"no-mapping", "bad-node", "conversations.json[2]"}
    assert "mapping" in reasons["no-mapping"] and "not an object" in reasons["bad-node"]


def test_a_batch_the_database_rejects_is_retried_one_by_one(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    good = next(synth.generate(1, seed=4, edge_cases=False))
    importer = Importer(factory, owner_id=owner_id, batch_size=10)
    importer.add(RawConversation(raw=orjson.dumps(good), data=good, source="x[0]"))
    dup = {"id": "dup", "mapping": {"a": {"id": "a", "parent": None, "message": None}}}
    importer.add(RawConversation(raw=orjson.dumps(dup), data=dup, source="x[1]"))
    # sabotage one conversation so that the batch insert fails inside the database
    importer._batch[1].messages *= 2  # the same node twice violates a unique constraint
    report = importer.finish()
    assert report.imported == 1
    assert [f["id"] for f in report.failed] == ["dup"]
    assert "database rejected" in report.failed[0]["reason"]


def test_other_owner_gets_an_independent_copy(
    factory: sessionmaker[Session], owner_id: str, export: Path
) -> None:
    with transaction(factory) as session:
        other = users.create(session, name="zed").id
    import_paths(factory, paths=[export], owner_id=owner_id)
    assert import_paths(factory, paths=[export], owner_id=other).imported == 120


KILLER = """
import os, signal, sys
from pathlib import Path
from parley.importer import import_paths
from parley.store import users
from parley.store.db import open_engine, session_factory, transaction
factory = session_factory(open_engine(sys.argv[1]))
with transaction(factory) as session:
    owner = users.local_owner(session).id
seen = 0
def tick():
    global seen
    seen += 1
    if seen == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
import_paths(factory, paths=[Path(sys.argv[2])], owner_id=owner, batch_size=7, on_conversation=tick)
"""


def test_an_import_killed_half_way_then_rerun_ends_like_an_uninterrupted_one(
    tmp_path: Path, export: Path
) -> None:
    killed_url = f"sqlite:///{tmp_path / 'killed.sqlite3'}"
    clean_url = f"sqlite:///{tmp_path / 'clean.sqlite3'}"
    run = subprocess.run(
        [sys.executable, "-c", KILLER, killed_url, str(export), "50"], capture_output=True
    )
    assert run.returncode == -9, run.stderr.decode()
    killed = session_factory(open_engine(killed_url))
    with transaction(killed) as session:
        owner = users.local_owner(session).id
        stored = conversations.count(session, owner_id=owner)
    assert 0 < stored < 120  # really half-way: whole batches only
    rerun = import_paths(killed, paths=[export], owner_id=owner)
    assert rerun.unchanged == stored and rerun.imported == 120 - stored
    clean = session_factory(open_engine(clean_url))
    with transaction(clean) as session:
        clean_owner = users.local_owner(session).id
    import_paths(clean, paths=[export], owner_id=clean_owner)
    assert library(killed, owner) == library(clean, clean_owner)
    with transaction(killed) as a, transaction(clean) as b:
        count = select(func.count()).select_from(messages)
        assert a.execute(count).scalar() == b.execute(count).scalar()


def test_a_truncated_file_keeps_every_complete_conversation_before_the_break(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    from parley.errors import BadImport

    items = list(synth.generate(5, seed=6, edge_cases=False))
    path = tmp_path / "conversations.json"
    whole = orjson.dumps(items)
    path.write_bytes(whole[: len(whole) - 200])  # cut inside the last conversation
    with pytest.raises(BadImport):
        import_paths(factory, paths=[path], owner_id=owner_id, batch_size=100)
    with transaction(factory) as session:
        assert conversations.count(session, owner_id=owner_id) == 4
