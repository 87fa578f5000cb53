from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from parley import exporter, synth
from parley.errors import BadRequest
from parley.importer import import_paths
from parley.store import users
from parley.store.db import open_engine, session_factory, transaction
from tests.store.test_rows import conversations as random_conversations


def _key(conversation: dict[str, Any]) -> str:
    from parley.store.rows import conversation_id

    return conversation_id(conversation)


def export_json(
    factory: sessionmaker[Session], owner_id: str, **selection: Any
) -> list[dict[str, Any]]:
    out = io.BytesIO()
    items = exporter.iter_selected(
        factory, owner_id=owner_id, selection=exporter.Selection(**selection)
    )
    exporter.write(items, fmt="json", output=out)
    return orjson.loads(out.getvalue())  # type: ignore[no-any-return]


def fresh_library(folder: Path) -> tuple[sessionmaker[Session], str]:
    factory = session_factory(open_engine(f"sqlite:///{folder / 'lib.sqlite3'}"))
    with transaction(factory) as session:
        return factory, users.local_owner(session).id


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(random_conversations(), min_size=1, max_size=4, unique_by=lambda c: c["id"]))
def test_import_of_export_equals_the_original(items: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "conversations.json"
        source.write_bytes(orjson.dumps(items))
        first, first_owner = fresh_library(folder / "a")
        assert import_paths(first, paths=[source], owner_id=first_owner).failed == []
        exported = export_json(first, first_owner)
        again = folder / "again.json"
        again.write_bytes(orjson.dumps(exported))
        second, second_owner = fresh_library(folder / "b")
        assert import_paths(second, paths=[again], owner_id=second_owner).failed == []
        original = {_key(c): orjson.loads(orjson.dumps(c)) for c in items}
        assert {_key(c): c for c in exported} == original
        assert {_key(c): c for c in export_json(second, second_owner)} == original


def test_fixtures_round_trip_through_export(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    items = synth.edge_case_conversations(seed=8) + list(
        synth.generate(10, seed=8, edge_cases=False)
    )
    path = synth.write_export_zip(tmp_path / "e.zip", items, slim=True)
    assert import_paths(factory, paths=[path], owner_id=owner_id).failed == []
    exported = {_key(c): c for c in export_json(factory, owner_id)}
    assert exported == {_key(c): orjson.loads(orjson.dumps(synth.slim(c))) for c in items}


def test_selection_by_ids_dates_and_search(
    factory: sessionmaker[Session], owner_id: str, tmp_path: Path
) -> None:
    items = list(synth.generate(20, seed=12, edge_cases=False))
    import_paths(
        factory,
        paths=[synth.write_conversations_json(tmp_path / "c.json", items)],
        owner_id=owner_id,
    )
    ids = [items[3]["id"], items[7]["id"]]
    assert sorted(c["id"] for c in export_json(factory, owner_id, ids=ids)) == sorted(ids)
    times = sorted(c["create_time"] for c in items)
    since, until = times[5], times[15]
    picked = export_json(factory, owner_id, since=since, until=until)
    assert sorted(c["create_time"] for c in picked) == times[5:15]
    oldest_first = [c["create_time"] for c in export_json(factory, owner_id)]
    assert oldest_first == sorted(oldest_first)
    title_word = items[0]["title"].split()[-1]
    assert items[0]["id"] in {c["id"] for c in export_json(factory, owner_id, search=title_word)}


def test_unknown_format_and_folder_formats_need_a_folder(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="unknown format"):
        exporter.write(iter([]), fmt="pdf", output=tmp_path / "x")
    with pytest.raises(BadRequest, match="folder"):
        exporter.write(iter([]), fmt="markdown", output=io.BytesIO())
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BadRequest, match="not a folder"):
        exporter.write(iter([{"id": "a", "mapping": {}}]), fmt="html", output=blocker)


def test_folder_exports_never_overwrite(tmp_path: Path) -> None:
    same = [
        {"id": f"id{i}", "title": "Same title", "create_time": 1.7e9, "mapping": {}}
        for i in range(3)
    ]
    folder = tmp_path / "md"
    assert exporter.write(iter(same), fmt="markdown", output=folder) == 3
    assert exporter.write(iter(same), fmt="markdown", output=folder) == 3
    assert len(list(folder.iterdir())) == 6
