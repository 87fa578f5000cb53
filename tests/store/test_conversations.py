"""The conversation store against real databases (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from parley.errors import NotFound
from parley.store import conversations, users
from parley.store.db import transaction
from parley.store.rows import explode
from parley.store.tables import messages
from tests.support.conversations import two_turns


def exploded(data: dict[str, Any]) -> Any:
    return explode(data)


def save(factory: sessionmaker[Session], owner_id: str, *items: dict[str, Any]) -> list[str]:
    with transaction(factory) as session:
        return list(
            conversations.save_many(session, owner_id=owner_id, items=[exploded(i) for i in items])
        )


def load(factory: sessionmaker[Session], owner_id: str, cid: str) -> dict[str, Any]:
    with transaction(factory) as session:
        return conversations.load(session, owner_id=owner_id, conversation_id=cid)


def simple(
    cid: str = "c1", *, title: str = "Hello", update: float = 1_700_000_100.0
) -> dict[str, Any]:
    return two_turns(
        cid,
        title=title,
        question="hi there",
        answer="hello!",
        create_time=1_700_000_000.0,
        update_time=update,
    )


def test_every_edge_case_round_trips_through_the_database(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    from parley import synth

    cases = synth.edge_case_conversations()
    outcomes = save(factory, owner_id, *cases)
    assert outcomes == ["imported"] * len(cases)
    for case in cases:
        expected = orjson.loads(orjson.dumps(case))
        stored = load(factory, owner_id, explode(case).id)
        assert stored == expected, case.get("id")


def test_saving_the_same_bytes_twice_changes_nothing(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    assert save(factory, owner_id, simple()) == ["imported"]
    assert save(factory, owner_id, simple()) == ["unchanged"]
    with transaction(factory) as session:
        assert session.execute(select(func.count()).select_from(messages)).scalar() == 3


def test_a_newer_export_updates_what_changed(factory: sessionmaker[Session], owner_id: str) -> None:
    save(factory, owner_id, simple())
    newer = simple(title="Renamed", update=1_700_000_200.0)
    newer["mapping"]["a"]["children"] = ["u2"]
    newer["mapping"]["u2"] = {
        "id": "u2",
        "parent": "a",
        "children": [],
        "message": {
            "id": "u2",
            "author": {"role": "user"},
            "content": {"content_type": "text", "parts": ["more"]},
        },
    }
    newer["current_node"] = "u2"
    assert save(factory, owner_id, newer) == ["updated"]
    assert load(factory, owner_id, "c1") == newer
    with transaction(factory) as session:
        assert conversations.summaries(session, owner_id=owner_id)[0].message_count == 3


def test_an_older_export_does_not_overwrite_a_newer_one(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    save(factory, owner_id, simple(title="New", update=2_000_000_000.0))
    assert save(factory, owner_id, simple(title="Old", update=1.0)) == ["unchanged"]
    assert load(factory, owner_id, "c1")["title"] == "New"


def test_reformatted_but_equal_content_is_unchanged(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    save(factory, owner_id, simple())
    item = explode(simple(), content_hash="a-different-hash")
    with transaction(factory) as session:
        assert conversations.save(session, owner_id=owner_id, item=item) == "unchanged"


def test_duplicates_within_one_batch(factory: sessionmaker[Session], owner_id: str) -> None:
    assert save(factory, owner_id, simple(), simple(title="Again", update=1_800_000_000.0)) == [
        "imported",
        "updated",
    ]
    assert load(factory, owner_id, "c1")["title"] == "Again"


def test_owners_are_isolated(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        other = users.create(session, name="bob").id
    save(factory, owner_id, simple())
    save(factory, other, simple(title="Bob's"))
    assert load(factory, owner_id, "c1")["title"] == "Hello"
    assert load(factory, other, "c1")["title"] == "Bob's"
    with transaction(factory) as session:
        conversations.remove_all(session, owner_id=other)
    assert load(factory, owner_id, "c1")["title"] == "Hello"
    with pytest.raises(NotFound):
        load(factory, other, "c1")


def test_summaries_page_and_order(factory: sessionmaker[Session], owner_id: str) -> None:
    items = [simple(f"c{i:03}", update=1_700_000_000.0 + i) for i in range(250)]
    save(factory, owner_id, *items)
    with transaction(factory) as session:
        first = conversations.summaries(session, owner_id=owner_id, limit=100)
        third = conversations.summaries(session, owner_id=owner_id, offset=200, limit=100)
        assert conversations.count(session, owner_id=owner_id) == 250
    assert [s.id for s in first[:2]] == ["c249", "c248"]
    assert len(third) == 50 and third[-1].id == "c000"


def test_set_fields_and_remove(factory: sessionmaker[Session], owner_id: str) -> None:
    save(factory, owner_id, simple())
    with transaction(factory) as session:
        conversations.set_fields(
            session, owner_id=owner_id, conversation_id="c1", title="T", is_archived=True
        )
    data = load(factory, owner_id, "c1")
    assert (data["title"], data["is_archived"]) == ("T", True)
    with transaction(factory) as session:
        assert conversations.count(session, owner_id=owner_id, is_archived=False) == 0
        conversations.remove(session, owner_id=owner_id, conversation_id="c1")
        assert session.execute(select(func.count()).select_from(messages)).scalar() == 0
        with pytest.raises(NotFound):
            conversations.remove(session, owner_id=owner_id, conversation_id="c1")


def test_nul_bytes_and_huge_text_are_stored(factory: sessionmaker[Session], owner_id: str) -> None:
    data = copy.deepcopy(simple())
    data["mapping"]["a"]["message"]["content"]["parts"] = ["x\x00y " + "word " * 400_000]
    save(factory, owner_id, data)
    assert load(factory, owner_id, "c1") == data


def test_a_list_page_reads_only_the_covering_index(
    store_url: str, factory: sessionmaker[Session], owner_id: str
) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("SQLite's plan")
    from parley.store.conversations import LIST_COLUMNS, _page_query

    for archived in (False, True):
        query = _page_query("updated", archived, False, False, LIST_COLUMNS)
        with transaction(factory) as session:
            sql = query.for_dialect(session.get_bind().dialect).sql
            raw = session.connection().connection.driver_connection
            params = [owner_id, 1, 100, 0] if archived else [owner_id, 100, 0]
            plan = raw.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        assert "COVERING INDEX ix_conversations_owner_update" in str(plan)


def _indexed(session: Session, word: str) -> int | None:
    """How many messages SQLite's full-text index finds for ``word`` (None elsewhere)."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    sql = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?"
    return int(session.connection().exec_driver_sql(sql, (word,)).scalar_one())


class _Recording:
    """A ``binding`` that notes, each time it is let go, the messages stored and how many
    of them the full-text index finds."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[tuple[int, int | None]] = []

    def __enter__(self) -> None:
        pass

    def __exit__(self, *_: object) -> None:
        stored = self.session.scalar(select(func.count()).select_from(messages))
        self.seen.append((int(stored or 0), _indexed(self.session, "there")))


def test_save_many_binds_new_rows_inside_binding_and_indexes_them_outside(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        binding = _Recording(session)
        outcomes = conversations.save_many(
            session, owner_id=owner_id, items=[exploded(simple("b1"))], binding=binding
        )
        assert outcomes == ["imported"]
        stored, indexed = binding.seen[-1]
        assert stored > 0  # the messages went to the driver while it was held ...
        if indexed is not None:
            assert indexed == 0  # ... the statement that indexes them had not run yet
            assert _indexed(session, "there") == 1
