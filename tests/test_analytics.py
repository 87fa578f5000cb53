"""``parley.analytics``: per-day counts in real time zones, weekday x hour, stats, raw list.

Every test runs on SQLite and, when configured, PostgreSQL (the ``factory`` fixture).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from parley import analytics
from parley.analytics import ActivityQuery, Offsets
from parley.errors import Unprocessable
from parley.store import users
from parley.store.db import transaction
from tests.support.timeline import at, chat, store_all


def days(
    factory: sessionmaker[Session], owner_id: str, tz: str = "UTC", **query: Any
) -> dict[str, int]:
    q = analytics.parse_query(tz=tz, **query)
    with transaction(factory) as session:
        return {
            d.day.isoformat(): d.count for d in analytics.daily(session, owner_id=owner_id, query=q)
        }


def test_the_seeds_example(factory: sessionmaker[Session], owner_id: str) -> None:
    items = [chat(f"a{i}", at("2024-09-17 00:00") + i * 3000) for i in range(23)]
    items += [chat("b1", at("2024-09-18 08:00")), chat("b2", at("2024-09-18 23:59:59"))]
    store_all(factory, owner_id, items)
    with transaction(factory) as session:
        found = analytics.daily(session, owner_id=owner_id, query=analytics.parse_query(tz=None))
    assert [d.as_json() for d in found] == [
        {"count": 23, "date": "2024-09-17", "dayOfWeek": 2, "weekNumber": 38},
        {"count": 2, "date": "2024-09-18", "dayOfWeek": 3, "weekNumber": 38},
    ]


@pytest.mark.parametrize(
    ("day", "day_of_week", "week"),
    [("2024-09-15", 0, 37), ("2024-09-21", 6, 38), ("2024-12-30", 1, 1), ("2021-01-01", 5, 53)],
)
def test_day_of_week_is_sunday_based_and_weeks_are_iso(
    day: str, day_of_week: int, week: int
) -> None:
    entry = analytics.DayCount(date.fromisoformat(day), 1).as_json()
    assert (entry["dayOfWeek"], entry["weekNumber"]) == (day_of_week, week)


def test_new_york_days_across_both_dst_changes(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    ny = "America/New_York"
    times = {
        "2024-03-09": [at("2024-03-09 23:30", ny)],  # EST
        "2024-03-10": [
            at("2024-03-10 00:30", ny),
            at("2024-03-10 01:59", ny),
            at("2024-03-10 03:00", ny),
            at("2024-03-10 23:30", ny),
        ],  # 23 hours
        "2024-03-11": [at("2024-03-11 00:30", ny)],  # EDT
        "2024-11-02": [at("2024-11-02 23:59", ny)],
        "2024-11-03": [
            at("2024-11-03 00:00", ny),
            1730611800.0,
            1730615400.0,  # 01:30 twice
            at("2024-11-03 23:30", ny),
        ],  # 25 hours
        "2024-11-04": [at("2024-11-04 00:00", ny)],
    }
    flat = [t for ts in times.values() for t in ts]
    store_all(factory, owner_id, [chat(f"c{i}", t) for i, t in enumerate(flat)])
    expected = {day: len(ts) for day, ts in times.items()}
    assert days(factory, owner_id, ny) == expected
    assert days(factory, owner_id, "UTC") != expected  # the zone matters
    query = analytics.parse_query(tz=ny, start="2024-11-03", end="2024-11-03")
    with transaction(factory) as session:
        grid = analytics.weekday_hours(session, owner_id=owner_id, query=query)
    assert grid[0][1] == 2 and grid[0][0] == 1 and grid[0][23] == 1  # Sunday, 01:00 twice
    assert sum(map(sum, grid)) == 4


def test_berlin_days_across_both_dst_changes(factory: sessionmaker[Session], owner_id: str) -> None:
    utc = [
        at("2024-03-30 23:30"),  # 00:30 CET, Mar 31
        at("2024-03-31 21:59"),  # 23:59 CEST, Mar 31 (a fixed +01:00 would say 22:59, right)
        at("2024-03-31 22:30"),  # 00:30 CEST, Apr 1 (a fixed +01:00 would say Mar 31)
        at("2024-10-26 22:30"),  # 00:30 CEST, Oct 27
        at("2024-10-27 22:30"),  # 23:30 CET, Oct 27 (a fixed +02:00 would say Oct 28)
        at("2024-10-27 23:30"),  # 00:30 CET, Oct 28
    ]
    store_all(factory, owner_id, [chat(f"c{i}", t) for i, t in enumerate(utc)])
    assert days(factory, owner_id, "Europe/Berlin") == {
        "2024-03-31": 2,
        "2024-04-01": 1,
        "2024-10-27": 2,
        "2024-10-28": 1,
    }


def test_offsets_find_each_change_to_the_second() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    found = Offsets.scan(berlin, at("2024-01-01 00:00"), at("2025-01-01 00:00"))
    assert found.initial == 3600
    assert found.changes == (
        (int(at("2024-03-31 01:00")), 7200),
        (int(at("2024-10-27 01:00")), 3600),
    )
    segments = list(found.segments(at("2024-03-01 00:00"), at("2024-04-01 00:00")))
    assert [offset for _, _, offset in segments] == [3600, 7200]
    kolkata = Offsets.scan(ZoneInfo("Asia/Kolkata"), 86400, 2e9)  # +05:30 since 1945
    assert (kolkata.initial, kolkata.changes) == (19800, ())


def test_from_and_to_are_inclusive_local_dates(
    factory: sessionmaker[Session], owner_id: str
) -> None:
    tz = "Asia/Kathmandu"  # +05:45
    times = ["2024-04-30 23:59", "2024-05-01 00:00", "2024-05-31 23:59", "2024-06-01 00:00"]
    store_all(factory, owner_id, [chat(f"c{i}", at(t, tz)) for i, t in enumerate(times)])
    assert days(factory, owner_id, tz, start="2024-05-01", end="2024-05-31") == {
        "2024-05-01": 1,
        "2024-05-31": 1,
    }
    assert days(factory, owner_id, tz, start="2024-05-31") == {"2024-05-31": 1, "2024-06-01": 1}
    assert days(factory, owner_id, tz, end="2024-04-30") == {"2024-04-30": 1}
    assert days(factory, owner_id, tz, start="2025-01-01") == {}


def test_messages_are_counted_when_sent(factory: sessionmaker[Session], owner_id: str) -> None:
    created = at("2024-01-01 23:59:58")
    store_all(
        factory,
        owner_id,
        [
            chat(
                "late", created, messages=[created + 1, created + 3, created + 4], hidden_at=created
            )
        ],
    )
    assert days(factory, owner_id) == {"2024-01-01": 1}
    assert days(factory, owner_id, by="messages") == {"2024-01-01": 1, "2024-01-02": 2}


def test_only_the_owners_library_counts(factory: sessionmaker[Session], owner_id: str) -> None:
    store_all(
        factory, owner_id, [chat("mine", at("2024-02-01 10:00"), messages=[at("2024-02-01 10:00")])]
    )
    alone = days(factory, owner_id, by="messages")
    with transaction(factory) as session:
        other = users.create(session, name="someone-else").id
    store_all(
        factory,
        other,
        [chat("theirs", at("2024-02-01 11:00"), messages=[at("2024-02-01 11:00")] * 3)],
    )
    assert days(factory, owner_id, by="messages") == alone == {"2024-02-01": 1}
    assert days(factory, other, by="messages") == {"2024-02-01": 3}
    assert days(factory, other) == {"2024-02-01": 1}


def test_weekday_hours_rows_start_on_sunday(factory: sessionmaker[Session], owner_id: str) -> None:
    tz = "Asia/Kolkata"
    store_all(
        factory,
        owner_id,
        [chat("sun", at("2024-09-15 09:10", tz)), chat("sat", at("2024-09-21 23:59", tz))],
    )
    query = analytics.parse_query(tz=tz)
    with transaction(factory) as session:
        grid = analytics.weekday_hours(session, owner_id=owner_id, query=query)
    assert len(grid) == 7 and {len(row) for row in grid} == {24}
    assert grid[0][9] == 1 and grid[6][23] == 1 and sum(map(sum, grid)) == 2


def test_stats(factory: sessionmaker[Session], owner_id: str) -> None:
    day = 86400
    start = at("2024-06-01 12:00")
    items = [chat(f"run{i}", start + i * day, messages=[start + i * day] * 4) for i in range(3)]
    items += [chat("alone", start + 5 * day, messages=[start + 5 * day] * 2, model="o3")]
    items += [chat("busy", start + 5 * day + 60, messages=[start + 5 * day + 60] * 6, model="o3")]
    items += [chat("before", at("2023-12-31 12:00"))]
    store_all(factory, owner_id, items)
    query = analytics.parse_query(tz="UTC", start="2024-01-01", end="2024-12-31", by="messages")
    with transaction(factory) as session:
        result = analytics.stats(session, owner_id=owner_id, query=query)
    assert (result["conversations"], result["messages"], result["activeDays"]) == (5, 20, 4)
    assert result["busiestDay"] == {
        "count": 8,
        "date": "2024-06-06",
        "dayOfWeek": 4,
        "weekNumber": 23,
    }
    assert result["longestStreak"] == {"days": 3, "start": "2024-06-01", "end": "2024-06-03"}
    # every stored message counts here: the hidden system message too
    assert result["messagesPerConversation"] == {
        "conversations": 5,
        "mean": 5.0,
        "median": 5,
        "max": 7,
    }
    assert result["models"] == [
        {"model": "gpt-4o", "conversations": 3, "messages": 6},  # most messages first
        {"model": "o3", "conversations": 2, "messages": 4},
    ]
    assert (result["tz"], result["from"], result["to"], result["by"]) == (
        "UTC",
        "2024-01-01",
        "2024-12-31",
        "messages",
    )


def test_an_empty_library(factory: sessionmaker[Session], owner_id: str) -> None:
    query = analytics.parse_query(tz="Europe/Berlin")
    with transaction(factory) as session:
        assert analytics.daily(session, owner_id=owner_id, query=query) == []
        assert sum(map(sum, analytics.weekday_hours(session, owner_id=owner_id, query=query))) == 0
        result = analytics.stats(session, owner_id=owner_id, query=query)
        assert analytics.active_years(session, owner_id=owner_id, tz=query.tz) == []
    assert (
        result["busiestDay"] is None and result["longestStreak"] is None and result["models"] == []
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tz": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"tz": "../../etc/passwd"}, "unknown time zone"),
        ({"tz": "x" * 500}, "unknown time zone"),
        ({"start": "2024-02-30"}, "'from' must be a date"),
        ({"end": "yesterday"}, "'to' must be a date"),
        ({"start": "2024-03-01", "end": "2024-02-01"}, "is after"),
        ({"by": "tokens"}, "'by' must be one of conversations, messages"),
    ],
)
def test_bad_values_say_what_is_wrong(values: dict[str, str], message: str) -> None:
    with pytest.raises(Unprocessable, match=message):
        analytics.parse_query(tz=values.pop("tz", None), **values)


def test_year_query_covers_the_local_year() -> None:
    q = analytics.year_query(2024, tz=ZoneInfo("Pacific/Auckland"))
    assert (q.first, q.last) == (date(2024, 1, 1), date(2024, 12, 31))
    lo, hi = analytics.utc_range(q)
    assert (lo, hi) == (
        at("2024-01-01 00:00", "Pacific/Auckland"),
        at("2025-01-01 00:00", "Pacific/Auckland"),
    )
    with pytest.raises(Unprocessable, match="year"):
        analytics.year_query(1900, tz=ZoneInfo("UTC"))


def test_a_day_that_starts_in_a_dst_gap() -> None:
    santiago = ZoneInfo("America/Santiago")  # 2024-09-08: 00:00 -> 01:00
    assert analytics.local_midnight(date(2024, 9, 8), santiago) == at("2024-09-08 04:00")
    assert ActivityQuery(santiago).tz.key == "America/Santiago"
