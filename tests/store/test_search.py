from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from parley.store import conversations, search, users
from parley.store.db import transaction
from parley.store.rows import explode


def conv(cid: str, title: str | None, *texts: str) -> dict[str, Any]:
    mapping: dict[str, Any] = {"root": {"id": "root", "message": None, "parent": None}}
    parent = "root"
    for index, body in enumerate(texts):
        node_id = f"{cid}-{index}"
        role = "user" if index % 2 == 0 else "assistant"
        mapping[node_id] = {
            "id": node_id,
            "parent": parent,
            "message": {
                "author": {"role": role},
                "content": {"content_type": "text", "parts": [body]},
            },
        }
        parent = node_id
    return {
        "id": cid,
        "title": title,
        "create_time": 1.0,
        "update_time": 2.0,
        "mapping": mapping,
        "current_node": parent,
    }


def fill(factory: sessionmaker[Session], owner_id: str, *items: dict[str, Any]) -> None:
    with transaction(factory) as session:
        conversations.save_many(session, owner_id=owner_id, items=[explode(i) for i in items])


def find(factory: sessionmaker[Session], owner_id: str, query: str, **kw: Any) -> list[search.Hit]:
    with transaction(factory) as session:
        return search.search(session, owner_id=owner_id, query=query, **kw)


def test_finds_message_text_with_snippet_and_stemming(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    fill(
        factory,
        owner_id,
        conv("a", "Cooking", "How do I bake bread?", "Knead the dough and let it rise."),
        conv("b", "Travel", "Where to go in Lisbon?", "Visit Belém and Alfama."),
    )
    hits = find(factory, owner_id, "kneading dough")
    assert [h.id for h in hits] == ["a"]
    assert hits[0].node_id == "a-1"
    assert "«" in hits[0].snippet and "dough" in hits[0].snippet.lower()
    assert hits[0].score > 0


def test_all_words_must_match_and_syntax_is_inert(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    fill(factory, owner_id, conv("a", "x", "alpha beta"), conv("b", "y", "alpha gamma"))
    assert {h.id for h in find(factory, owner_id, "alpha")} == {"a", "b"}
    assert [h.id for h in find(factory, owner_id, "alpha beta")] == ["a"]
    for hostile in ['alpha" OR "gamma', "NEAR(alpha", "alpha*", "-beta", "':*&|!"]:
        find(factory, owner_id, hostile)  # must not raise a syntax error
    assert find(factory, owner_id, "   ") == []


def test_title_matches_rank_first_and_hits_group_per_conversation(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    fill(
        factory,
        owner_id,
        conv("body", "Unrelated", "python python python", "more python here"),
        conv("title", "Python tips", "something else entirely"),
    )
    hits = find(factory, owner_id, "python")
    assert [h.id for h in hits] == ["title", "body"]
    assert len({h.id for h in hits}) == len(hits)


def test_search_sees_only_the_owner(factory: sessionmaker[Session], owner_id: str) -> None:
    with transaction(factory) as session:
        other = users.create(session, name="eve").id
    fill(factory, other, conv("secret", "Private", "the password is swordfish"))
    assert find(factory, owner_id, "swordfish") == []
    assert [h.id for h in find(factory, other, "swordfish")] == ["secret"]


def test_index_follows_deletes_and_renames(factory: sessionmaker[Session], owner_id: str) -> None:
    fill(factory, owner_id, conv("a", "Old name", "zebra crossing"))
    with transaction(factory) as session:
        conversations.set_fields(session, owner_id=owner_id, conversation_id="a", title="Giraffe")
    assert [h.id for h in find(factory, owner_id, "giraffe")] == ["a"]
    assert find(factory, owner_id, "old name") == []
    with transaction(factory) as session:
        conversations.remove(session, owner_id=owner_id, conversation_id="a")
    assert find(factory, owner_id, "zebra") == []


def test_owner_hits_are_found_when_other_owners_crowd_the_ranking(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    with transaction(factory) as session:
        other = users.create(session, name="crowd").id
    crowd = [
        conv(f"x{i}", "noise", "falcon falcon falcon falcon") for i in range(search.CANDIDATES + 10)
    ]
    fill(factory, other, *crowd)
    fill(factory, owner_id, conv("mine", "Birds", "a falcon flew by, among many other words here"))
    hits = find(factory, owner_id, "falcon")
    assert [h.id for h in hits] == ["mine"]
    assert "«falcon»" in hits[0].snippet


def test_sqlite_ranks_a_bounded_window_of_the_newest_matches(
    factory: sessionmaker[Session], owner_id: str, monkeypatch: Any
) -> None:
    if factory.kw["bind"].dialect.name != "sqlite":
        pytest.skip("the ranking window is SQLite's; PostgreSQL ranks every match")
    monkeypatch.setattr(search, "RANK_WINDOW", 3)
    fill(factory, owner_id, conv("old", "a", "kiwi kiwi kiwi kiwi"))
    fill(
        factory,
        owner_id,
        *[conv(f"new{i}", "b", f"kiwi and other words number {i}") for i in range(4)],
    )
    found = {h.id for h in find(factory, owner_id, "kiwi")}
    assert found == {"new1", "new2", "new3"}  # the three newest matching messages
