"""``parley.rawlist``: the heatmap seed's raw conversation-list file, streamed."""

from __future__ import annotations

import orjson
from sqlalchemy.orm import Session, sessionmaker

from parley import rawlist
from parley.store.conversations import Summary
from parley.store.db import transaction
from tests.support.timeline import at, chat, store_all


def test_the_raw_list(factory: sessionmaker[Session], owner_id: str) -> None:
    store_all(
        factory,
        owner_id,
        [chat("old", at("2024-01-01 10:00")), chat("new", at("2024-02-01 10:00"))],
    )
    with transaction(factory) as session:
        body = b"".join(
            rawlist.library_raw(
                session, owner_id=owner_id, exported_at=at("2024-12-22 09:23:56.397")
            )
        )
    raw = orjson.loads(body)
    assert list(raw) == [
        "conversations",
        "exportDate",
        "totalCount",
        "failedOffsets",
        "isComplete",
        "expectedTotal",
    ]
    assert raw["exportDate"] == "2024-12-22T09:23:56.397Z"
    assert [c["id"] for c in raw["conversations"]] == ["new", "old"]
    assert raw["conversations"][0]["create_time"] == "2024-02-01T10:00:00.000000Z"
    assert raw["conversations"][0]["mapping"] is None
    assert (raw["totalCount"], raw["expectedTotal"], raw["isComplete"], raw["failedOffsets"]) == (
        2,
        2,
        True,
        [],
    )
    partial = orjson.loads(
        b"".join(rawlist.raw_chunks([], expected_total=3, exported_at=0, failed_offsets=[100]))
    )
    assert (partial["isComplete"], partial["failedOffsets"], partial["totalCount"]) == (
        False,
        [100],
        0,
    )


def test_list_items_have_chatgpts_list_shape() -> None:
    row = Summary(1, "c1", None, 1726531200.5, None, False, True, "gpt-4o", 3, "g-x", None)
    item = rawlist.list_item(row)
    assert item["create_time"] == "2024-09-17T00:00:00.500000Z" and item["update_time"] is None
    assert (item["title"], item["mapping"], item["current_node"], item["safe_urls"]) == (
        None,
        None,
        None,
        [],
    )
    assert (item["is_starred"], item["gizmo_id"], item["default_model_slug"]) == (
        True,
        "g-x",
        "gpt-4o",
    )
    assert rawlist.iso_z(1e20) is None  # a time no calendar holds
    assert rawlist.export_date(1734859436.397) == "2024-12-22T09:23:56.397Z"


def test_a_page_of_rows_renders_as_its_summaries_do(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    from parley.store import conversations

    store_all(
        factory,
        owner_id,
        [chat("a", at("2024-01-01 10:00")), chat("b", at("2024-02-01 10:00:00.25"))],
    )
    with transaction(factory) as session:
        conversations.set_fields(session, owner_id=owner_id, conversation_id="a", is_archived=True)
        summaries = conversations.summaries(session, owner_id=owner_id)
        rows = conversations.list_rows(session, owner_id=owner_id)
    expected = [rawlist.list_item(row) for row in summaries]
    assert rawlist.list_items(rows) == expected
    assert orjson.loads(orjson.dumps(rawlist.list_fragments(rows))) == expected
    assert [item["is_archived"] for item in expected] == [False, True]  # bools, not 0/1


def test_list_fragments_render_a_changed_row_anew() -> None:
    row = ("c1", "old title", 1.0, 2.0, 0, 0, None, None, None)
    first = orjson.loads(orjson.dumps(rawlist.list_fragments([row])))[0]
    renamed = orjson.loads(orjson.dumps(rawlist.list_fragments([("c1", "new title", *row[2:])])))
    assert (first["title"], renamed[0]["title"]) == ("old title", "new title")
    starred = orjson.loads(orjson.dumps(rawlist.list_fragments([(*row[:5], 1, *row[6:])])))
    assert starred[0]["is_starred"] is True
