"""Activity analytics: per-day counts (the heatmap seed's "processed data"), weekday x hour
counts and stats. (The seed's "raw data", the conversation list, is :mod:`parley.rawlist`.)

Per-day entries, oldest first, only days with a count above zero::

    {"count": 23, "date": "2024-09-17", "dayOfWeek": 2, "weekNumber": 38}

* ``date``: the local date in the requested time zone (default UTC);
* ``dayOfWeek``: 0 = Sunday ... 6 = Saturday (JavaScript's ``Date.getDay()``, as the seed);
* ``weekNumber``: the ISO 8601 week, 1-53 (weeks start on Monday; week 1 holds the year's
  first Thursday, so 2024-12-30 is in week 1 and 2021-01-01 in week 53).

A query has a zone, ``from``/``to`` local dates (both inclusive; either may be open) and
``by``: ``conversations`` (counted when created, as the seed) or ``messages`` (visible
messages, when sent). See :mod:`parley.store.activity` for what is counted and the SQL.

Time zones. SQLite has none, and rows are never looped over in Python. Instead:

1. the local range becomes UTC instants (local midnights, via zoneinfo), clamped to the
   data's earliest and latest times;
2. the zone's UTC offset changes (DST) in it are found by sampling every 6 hours and
   bisecting each change to the second, which cuts the range into stretches of constant
   offset (one stretch for UTC or Asia/Kolkata, about three per year for Europe/Berlin);
3. per stretch, SQL counts rows per local day (or hour) with that stretch's fixed offset:
   key ``floor((t + offset) / 86400)`` is the local date (any offset works: +05:45 too);
4. a day cut by a change comes back in two parts, which the fold adds up: a loop over at
   most a few hundred buckets per year (a few thousand for hours), never over rows.

So a local day is always midnight to midnight, 23 or 25 hours long on DST days, and an
hour repeated when clocks go back counts twice toward that hour of the weekday x hour
grid. SQLite and PostgreSQL give the same numbers: both use Python's zone database.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from parley.errors import Unprocessable
from parley.store import activity
from parley.store.activity import MAX_TIME, MIN_TIME, SOURCES, Source

DAY, HOUR = 86_400, 3_600
SAMPLE_STEP = 6 * HOUR
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class ActivityQuery:
    tz: ZoneInfo
    first: date | None = None  # inclusive local dates; None = open
    last: date | None = None
    by: Source = "conversations"


def zone(name: str | None) -> ZoneInfo:
    """The IANA zone ``name`` (default UTC); Unprocessable when there is no such zone."""
    if not name:
        return ZoneInfo("UTC")
    try:
        if len(name) > 64:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Unprocessable(
            f"unknown time zone {name[:64]!r}; use an IANA name such as 'UTC', "
            "'Europe/Berlin' or 'America/New_York'"
        ) from None


def parse_day(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Unprocessable(f"'{what}' must be a date as YYYY-MM-DD, not {value[:40]!r}") from None


def parse_query(
    *, tz: str | None, start: str | None = None, end: str | None = None, by: str | None = None
) -> ActivityQuery:
    """A query from request values; Unprocessable says which value is wrong and why."""
    source = by or "conversations"
    if source not in SOURCES:
        raise Unprocessable(f"'by' must be one of {', '.join(SOURCES)}, not {source[:40]!r}")
    first, last = parse_day(start, "from"), parse_day(end, "to")
    if first and last and first > last:
        raise Unprocessable(f"'from' ({first}) is after 'to' ({last})")
    return ActivityQuery(zone(tz), first, last, source)


def year_query(year: int, *, tz: ZoneInfo, by: Source = "conversations") -> ActivityQuery:
    if not 1971 <= year <= 2099:
        raise Unprocessable(f"'year' must be between 1971 and 2099, not {year}")
    return ActivityQuery(tz, date(year, 1, 1), date(year, 12, 31), by)


def active_years(session: Session, *, owner_id: str, tz: ZoneInfo) -> list[int]:
    """Every local year from the owner's first conversation or message to the last one."""
    found = [activity.bounds(session, owner_id=owner_id, source=source) for source in SOURCES]
    times = [t for pair in found if pair for t in pair]
    if not times:
        return []
    first, last = (datetime.fromtimestamp(t, tz).year for t in (min(times), max(times)))
    return list(range(first, last + 1))


def local_midnight(day: date, tz: ZoneInfo) -> float:
    """The first instant of ``day`` in ``tz`` (also when midnight falls in a DST gap)."""
    return datetime.combine(day, time(), tzinfo=tz).timestamp()


def utc_range(query: ActivityQuery) -> tuple[float, float]:
    """``[lo, hi)`` of the query in epoch seconds, within [MIN_TIME, MAX_TIME)."""
    lo = local_midnight(query.first, query.tz) if query.first else MIN_TIME
    hi = local_midnight(query.last + timedelta(days=1), query.tz) if query.last else MAX_TIME
    return max(lo, MIN_TIME), min(hi, MAX_TIME)


def _offset_at(tz: ZoneInfo, instant: float) -> int:
    delta = datetime.fromtimestamp(instant, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


@dataclass(frozen=True)
class Offsets:
    """A zone's UTC offsets over a span: ``initial``, then ``(instant, offset)`` changes."""

    initial: int
    changes: tuple[tuple[int, int], ...]

    @classmethod
    def scan(cls, tz: ZoneInfo, lo: float, hi: float) -> Offsets:
        start = math.floor(lo)
        initial = previous = _offset_at(tz, start)
        changes: list[tuple[int, int]] = []
        at = start
        while at < hi:
            step = min(at + SAMPLE_STEP, math.ceil(hi))
            now = _offset_at(tz, step)
            if now != previous:
                a, b = at, step  # the change is in (a, b]: bisect to the second
                while b - a > 1:
                    mid = (a + b) // 2
                    a, b = (mid, b) if _offset_at(tz, mid) == previous else (a, mid)
                changes.append((b, now))
                previous = now
            at = step
        return cls(initial, tuple(changes))

    @cached_property
    def _instants(self) -> list[int]:
        return [instant for instant, _ in self.changes]

    def at(self, instant: float) -> int:
        index = bisect.bisect_right(self._instants, instant)
        return self.changes[index - 1][1] if index else self.initial

    def segments(self, lo: float, hi: float) -> Iterator[tuple[float, float, int]]:
        """``(start, end, offset)``: ``[lo, hi)`` cut where the offset changes."""
        start, offset = lo, self.at(lo)
        for instant, new in self.changes:
            if lo < instant < hi:
                yield start, instant, offset
                start, offset = instant, new
        yield start, hi, offset


def _buckets(
    session: Session, *, owner_id: str, query: ActivityQuery, source: Source, unit: int
) -> Iterator[tuple[datetime, int]]:
    """(local start, count) per non-empty local day or hour (``unit``) of ``source``; a day
    or hour cut by an offset change comes as two parts."""
    data = activity.bounds(session, owner_id=owner_id, source=source)
    if data is None:
        return
    lo, hi = utc_range(query)
    lo, hi = max(lo, data[0]), min(hi, data[1] + 1)
    if lo >= hi:
        return
    for start, end, offset in Offsets.scan(query.tz, lo, hi).segments(lo, hi):
        rows = activity.buckets(
            session, owner_id=owner_id, source=source, size=unit, offset=offset, lo=start, hi=end
        )
        for key, count in rows:
            yield EPOCH + timedelta(seconds=key * unit), count


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int

    def as_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "date": self.day.isoformat(),
            "dayOfWeek": self.day.isoweekday() % 7,
            "weekNumber": self.day.isocalendar()[1],
        }


def daily(
    session: Session, *, owner_id: str, query: ActivityQuery, source: Source | None = None
) -> list[DayCount]:
    """Per local day counts (days with a count above zero, oldest first)."""
    days: Counter[date] = Counter()
    for start, count in _buckets(
        session, owner_id=owner_id, query=query, source=source or query.by, unit=DAY
    ):
        days[start.date()] += count
    return [DayCount(day, days[day]) for day in sorted(days)]


def weekday_hours(session: Session, *, owner_id: str, query: ActivityQuery) -> list[list[int]]:
    """``grid[dayOfWeek][hour]`` in local time; row 0 is Sunday, as ``dayOfWeek``."""
    grid = [[0] * 24 for _ in range(7)]
    for start, count in _buckets(
        session, owner_id=owner_id, query=query, source=query.by, unit=HOUR
    ):
        grid[start.isoweekday() % 7][start.hour] += count
    return grid


def streak(days: Sequence[DayCount]) -> tuple[int, date, date] | None:
    """The longest run of consecutive active days: (length, first, last)."""
    best: tuple[int, date, date] | None = None
    run_start: date | None = None
    previous: date | None = None
    for entry in days:
        if entry.count <= 0:
            continue
        if previous is None or entry.day - previous != timedelta(days=1):
            run_start = entry.day
        previous = entry.day
        assert run_start is not None
        length = (entry.day - run_start).days + 1
        if best is None or length > best[0]:
            best = (length, run_start, entry.day)
    return best


def stats(
    session: Session, *, owner_id: str, query: ActivityQuery, days: list[DayCount] | None = None
) -> dict[str, Any]:
    """Totals (conversations created and visible messages sent in the range), active days,
    the busiest day and the longest streak (of ``query.by``), messages per conversation
    (of those created in the range; every stored message, see
    :func:`parley.store.activity.conversation_groups`) and counts per model. ``days``:
    the query's :func:`daily` counts, when the caller has them already."""
    per_source = {
        source: days
        if days is not None and source == query.by
        else daily(session, owner_id=owner_id, query=query, source=source)
        for source in SOURCES
    }
    days = per_source[query.by]
    lo, hi = utc_range(query)
    lengths: Counter[int] = Counter()
    models: dict[str | None, dict[str, Any]] = {}

    def model(slug: str | None) -> dict[str, Any]:
        return models.setdefault(slug, {"model": slug, "conversations": 0, "messages": 0})

    for slug, length, count in activity.conversation_groups(
        session, owner_id=owner_id, lo=lo, hi=hi
    ):
        lengths[length] += count
        model(slug)["conversations"] += count
    for slug, count in activity.message_models(session, owner_id=owner_id, lo=lo, hi=hi).items():
        model(slug)["messages"] += count
    busiest = max(days, key=lambda d: (d.count, -d.day.toordinal()), default=None)
    longest = streak(days)
    return {
        "tz": query.tz.key,
        "from": query.first.isoformat() if query.first else None,
        "to": query.last.isoformat() if query.last else None,
        "by": query.by,
        "conversations": sum(d.count for d in per_source["conversations"]),
        "messages": sum(d.count for d in per_source["messages"]),
        "activeDays": len(days),
        "busiestDay": busiest.as_json() if busiest else None,
        "longestStreak": (
            {"days": longest[0], "start": longest[1].isoformat(), "end": longest[2].isoformat()}
            if longest
            else None
        ),
        "messagesPerConversation": _spread(sorted(lengths.items())),
        "models": sorted(
            models.values(),
            key=lambda m: (-m["messages"], -m["conversations"], m["model"] or ""),
        ),
    }


def _spread(histogram: Sequence[tuple[int, int]]) -> dict[str, Any]:
    total = sum(c for _, c in histogram)
    if not total:
        return {"conversations": 0, "mean": None, "median": None, "max": None}
    middle, seen, median = (total + 1) // 2, 0, histogram[-1][0]
    for n, c in histogram:
        seen += c
        if seen >= middle:
            median = n
            break
    mean = sum(n * c for n, c in histogram) / total
    return {
        "conversations": total,
        "mean": round(mean, 2),
        "median": median,
        "max": histogram[-1][0],
    }
