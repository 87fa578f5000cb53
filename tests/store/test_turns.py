"""Chat turns in the store, on SQLite and PostgreSQL: new conversations, nodes, paths."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from parley import tree
from parley.chat.turns import message, new_conversation
from parley.errors import NotFound
from parley.store import conversations, search
from parley.store import turns as store
from parley.store.db import transaction
from parley.store.rows import explode

NOW = 1_700_000_000.0


def conversation(cid: str = "c1") -> dict[str, Any]:
    return new_conversation(
        cid,
        title="A chat",
        model="m",
        now=NOW,
        nodes=[
            ("u1", message("u1", "user", "first question", now=NOW)),
            ("a1", message("a1", "assistant", "first answer", now=NOW + 1)),
        ],
    )


def make(factory: sessionmaker[Session], owner_id: str, cid: str = "c1") -> int:
    with transaction(factory) as session:
        return store.create_conversation(session, owner_id=owner_id, conversation=conversation(cid))


def load(factory: sessionmaker[Session], owner_id: str, cid: str = "c1") -> dict[str, Any]:
    with transaction(factory) as session:
        return conversations.load(session, owner_id=owner_id, conversation_id=cid)


def test_a_new_conversation_loads_back_as_given(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    make(factory, owner_id)
    assert load(factory, owner_id) == conversation()
    with transaction(factory) as session:
        (summary,) = conversations.summaries(session, owner_id=owner_id)
    assert (summary.title, summary.message_count, summary.default_model_slug) == ("A chat", 2, "m")


def test_appended_nodes_export_like_imported_ones(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    pk = make(factory, owner_id)
    with transaction(factory) as session:
        position = store.next_position(session, pk=pk, parent_id="a1")
        store.append_nodes(
            session,
            pk=pk,
            nodes=[
                store.NewNode("u2", "a1", message("u2", "user", "second", now=NOW + 2), position),
                store.NewNode("a2", "u2", message("a2", "assistant", "reply", now=NOW + 3)),
            ],
            current_node="a2",
            now=NOW + 3,
        )
    data = load(factory, owner_id)
    assert data["current_node"] == "a2" and data["update_time"] == NOW + 3
    assert data["mapping"]["a1"]["children"] == ["u2"]
    assert data["mapping"]["u2"] == {
        "id": "u2",
        "message": message("u2", "user", "second", now=NOW + 2),
        "parent": "a1",
        "children": ["a2"],
    }
    # exactly what importing the same conversation would store
    assert explode(data).messages == explode(load(factory, owner_id)).messages
    assert [m["content"]["parts"][0] for m in tree.visible_messages(data)] == [
        "first question",
        "first answer",
        "second",
        "reply",
    ]


def test_append_message_puts_siblings_in_order_and_counts_them(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    make(factory, owner_id)
    with transaction(factory) as session:
        for index in range(3):
            node_id = f"alt{index}"
            store.append_message(
                session,
                owner_id=owner_id,
                conversation_id="c1",
                node_id=node_id,
                parent_id="u1",
                message=message(node_id, "assistant", f"answer {index}", now=NOW + 5 - index),
            )
    data = load(factory, owner_id)
    assert data["mapping"]["u1"]["children"] == ["a1", "alt0", "alt1", "alt2"]
    with transaction(factory) as session:
        assert conversations.summaries(session, owner_id=owner_id)[0].message_count == 5
        assert store.next_position(session, pk=conversations.get_pk(
            session, owner_id=owner_id, conversation_id="c1"), parent_id="u1") == 4  # fmt: skip
        hits = search.search(session, owner_id=owner_id, query="answer 2")
    assert [(h.id, h.node_id) for h in hits][:1] == [("c1", "alt2")]


def test_touch_finds_only_the_owners_conversation(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    make(factory, owner_id)
    with transaction(factory) as session:
        head = store.touch(session, owner_id=owner_id, conversation_id="c1", now=NOW + 9)
        assert (head.current_node, head.title) == ("a1", "A chat")
        with pytest.raises(NotFound):
            store.touch(session, owner_id="someone-else", conversation_id="c1", now=NOW)
    assert load(factory, owner_id)["update_time"] == NOW + 9


def test_path_walks_up_from_a_node(factory: sessionmaker[Session], owner_id: str) -> None:
    pk = make(factory, owner_id)
    with transaction(factory) as session:
        path = store.path(session, pk=pk, node_id="a1")
        assert [n.node_id for n in path] == ["client-created-root", "u1", "a1"]
        assert [(n.role, n.text, n.hidden) for n in path[1:]] == [
            ("user", "first question", False),
            ("assistant", "first answer", False),
        ]
        assert store.path(session, pk=pk, node_id="missing") == []
        assert store.node(session, pk=pk, node_id="u1") == path[1]
        assert store.existing_nodes(session, pk=pk, node_ids=["u1", "zz", "a1"]) == {"u1", "a1"}


def test_a_parent_cycle_ends_the_path(factory: sessionmaker[Session], owner_id: str) -> None:
    cyclic = {
        "id": "loop",
        "mapping": {
            "x": {"id": "x", "parent": "y", "children": [], "message": None},
            "y": {"id": "y", "parent": "x", "children": [], "message": None},
        },
    }
    with transaction(factory) as session:
        conversations.save_many(session, owner_id=owner_id, items=[explode(cyclic)])
        pk = conversations.get_pk(session, owner_id=owner_id, conversation_id="loop")
        assert [n.node_id for n in store.path(session, pk=pk, node_id="x")] == ["y", "x"]


def test_an_answer_is_completed_in_place(factory: sessionmaker[Session], owner_id: str) -> None:
    pk = make(factory, owner_id)
    done = message("a1", "assistant", "a finished zebra answer", now=NOW + 4)
    with transaction(factory) as session:
        store.update_message(session, pk=pk, node_id="a1", message=done)
        store.set_current_node(session, pk=pk, node_id="a1", now=NOW + 4)
    data = load(factory, owner_id)
    assert data["mapping"]["a1"]["message"] == done
    assert data["mapping"]["a1"]["parent"] == "u1"
    with transaction(factory) as session:
        hits = search.search(session, owner_id=owner_id, query="zebra")
        assert [h.node_id for h in hits] == ["a1"]
        assert search.search(session, owner_id=owner_id, query="first answer") == []


def test_nodes_enter_through_the_one_insert_path(
    factory: sessionmaker[Session], owner_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = store.insert_messages

    def counting(session: Session, *, pk: int, rows: Any) -> None:
        calls.append(len(rows))
        original(session, pk=pk, rows=rows)

    monkeypatch.setattr(store, "insert_messages", counting)
    pk = make(factory, owner_id)
    with transaction(factory) as session:
        store.append_nodes(
            session,
            pk=pk,
            nodes=[store.NewNode("n", "a1", message("n", "user", "x", now=time.time()))],
        )
    assert calls == [3, 1]
