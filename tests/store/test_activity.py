"""``parley.store.activity``: the SQL behind the heatmap, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from parley.store import activity, users
from parley.store.db import transaction
from tests.support.timeline import at, chat, store_all

DAY = 86400


@pytest.fixture
def library(factory: sessionmaker[Session], owner_id: str) -> str:
    store_all(
        factory,
        owner_id,
        [
            chat(
                "a",
                at("2024-01-01 10:00"),
                messages=[at("2024-01-01 10:00"), at("2024-01-02 09:00")],
            ),
            chat("b", at("2024-01-03 23:00"), messages=[at("2024-01-03 23:30")] * 3, model="o1"),
            chat("c", at("2024-01-03 05:00"), messages=[]),  # the hidden system message only
        ],
    )
    return owner_id


def count(factory: sessionmaker[Session], owner_id: str, **kw: object) -> list[tuple[int, int]]:
    with transaction(factory) as session:
        return activity.buckets(session, owner_id=owner_id, **kw)  # type: ignore[arg-type]


def test_buckets_per_day_and_hour(factory: sessionmaker[Session], library: str) -> None:
    lo, hi = at("2024-01-01 00:00"), at("2024-02-01 00:00")
    day0 = int(lo // DAY)
    assert count(factory, library, source="conversations", size=DAY, offset=0, lo=lo, hi=hi) == [
        (day0, 1),
        (day0 + 2, 2),
    ]
    assert count(factory, library, source="messages", size=DAY, offset=0, lo=lo, hi=hi) == [
        (day0, 1),
        (day0 + 1, 1),
        (day0 + 2, 3),
    ]
    hour = int(at("2024-01-03 23:00") // 3600)
    assert count(factory, library, source="messages", size=3600, offset=0, lo=lo, hi=hi)[-1] == (
        hour,
        3,
    )


def test_the_offset_moves_the_day_boundary(factory: sessionmaker[Session], library: str) -> None:
    lo, hi = at("2023-12-31 00:00"), at("2024-02-01 00:00")
    plus_two = count(factory, library, source="conversations", size=DAY, offset=7200, lo=lo, hi=hi)
    day3 = int(at("2024-01-03 00:00") // DAY)
    assert plus_two == [(day3 - 2, 1), (day3, 1), (day3 + 1, 1)]  # 23:00 UTC is 01:00 the next day


def test_lo_and_hi_cut_inside_a_bucket(factory: sessionmaker[Session], library: str) -> None:
    lo, hi = at("2024-01-03 06:00"), at("2024-01-03 23:15")
    day3 = int(lo // DAY)
    assert count(factory, library, source="conversations", size=DAY, offset=0, lo=lo, hi=hi) == [
        (day3, 1)
    ]


@pytest.mark.parametrize("source", ["conversations", "messages"])
@pytest.mark.parametrize("offset", [0, 19800, -18000])
def test_both_strategies_agree(
    factory: sessionmaker[Session], library: str, source: str, offset: int
) -> None:
    lo, hi = at("2023-12-30 00:00"), at("2024-01-05 00:00")
    ranges = count(factory, library, source=source, size=3600, offset=offset, lo=lo, hi=hi)
    grouped = count(
        factory, library, source=source, size=3600, offset=offset, lo=lo, hi=hi, range_limit=0
    )
    assert ranges == grouped and ranges


def test_other_owners_hidden_and_timeless_rows_are_not_counted(
    factory: sessionmaker[Session], library: str
) -> None:
    with transaction(factory) as session:
        other = users.create(session, name="other").id
    store_all(
        factory, other, [chat("x", at("2024-01-01 12:00"), messages=[at("2024-01-01 12:00")] * 5)]
    )
    store_all(factory, library, [chat("nulls", at("2024-01-01 12:00"), messages=[None, None])])
    store_all(factory, library, [chat("garbage", 5.0, messages=[5.0, 9e12])])
    lo, hi = at("2024-01-01 00:00"), at("2024-01-02 00:00")
    mine = count(factory, library, source="messages", size=DAY, offset=0, lo=lo, hi=hi)
    assert mine == [(int(lo // DAY), 1)]
    assert count(factory, other, source="messages", size=DAY, offset=0, lo=lo, hi=hi) == [
        (int(lo // DAY), 5)
    ]
    assert count(factory, library, source="messages", size=DAY, offset=0, lo=0, hi=1e13) == [
        (int(lo // DAY), 1),
        (int(lo // DAY) + 1, 1),
        (int(lo // DAY) + 2, 3),
    ]


def test_bounds(factory: sessionmaker[Session], library: str, owner_id: str) -> None:
    with transaction(factory) as session:
        assert activity.bounds(session, owner_id=owner_id, source="conversations") == (
            at("2024-01-01 10:00"),
            at("2024-01-03 23:00"),
        )
        assert activity.bounds(session, owner_id=owner_id, source="messages") == (
            at("2024-01-01 10:00"),
            at("2024-01-03 23:30"),
        )
        nobody = users.create(session, name="nobody").id
        assert activity.bounds(session, owner_id=nobody, source="messages") is None


def test_models_and_lengths(factory: sessionmaker[Session], library: str) -> None:
    lo, hi = at("2024-01-01 00:00"), at("2024-02-01 00:00")
    with transaction(factory) as session:
        groups = activity.conversation_groups(session, owner_id=library, lo=lo, hi=hi)
        models = activity.message_models(session, owner_id=library, lo=lo, hi=hi)
    assert sorted(groups, key=str) == sorted(
        [("gpt-4o", 3, 1), ("o1", 4, 1), ("gpt-4o", 1, 1)], key=str
    )  # message_count counts the hidden system message too
    assert models == {"gpt-4o": 1, "o1": 1}


def test_all_summaries_streams_newest_first(factory: sessionmaker[Session], library: str) -> None:
    with transaction(factory) as session:
        ids = [row.id for row in activity.all_summaries(session, owner_id=library, chunk=1)]
    assert ids == ["b", "c", "a"]


def test_a_personal_library_reads_only_the_index(
    factory: sessionmaker[Session], library: str
) -> None:
    with transaction(factory) as session:
        if session.get_bind().dialect.name != "sqlite":
            pytest.skip("SQLite's plan")
        where = activity._where(session, "messages", library)[1]
        plan = session.execute(
            text(
                f"EXPLAIN QUERY PLAN SELECT count(*) FROM messages WHERE {where} "
                "AND create_time >= 1 AND create_time < 2"
            )
        ).all()
    assert "COVERING INDEX ix_messages_activity" in " ".join(str(row[-1]) for row in plan)
    assert "conversations" not in where
