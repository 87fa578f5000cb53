"""Activity queries (heatmap data and stats) on a big SQLite library.

    python bench/activity_bench.py                          # 100,000 conversations, temp library
    python bench/activity_bench.py --db /tmp/activity.sqlite3   # keep / reuse the library

Builds (or reuses) a SQLite library of ``--conversations`` synthetic conversations (about
20 messages each: 2 million for 100,000) spread over three years, 2023-2025, imported
through ``parley.importer.Importer``. Then times each query ``--repeats`` times after one
warm-up run and prints the best and the median, and the ratio of the best to a baseline
measured in the same run: counting the year's visible messages with one index range scan
(no grouping, no owner check), the least any per-day count has to read.

Target: the daily counts of a year (2024) under 200 ms, for conversations and for
messages, in UTC and in a zone with DST. The exit status is 0 only when they all pass.
Other work on the machine slows every figure; the load average is printed around the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from parley import analytics, rawlist, synth
from parley.formats.chatgpt import RawConversation
from parley.importer import Importer
from parley.store import activity, conversations, users
from parley.store.db import open_engine, session_factory, transaction

START = 1_672_531_200.0  # 2023-01-01 UTC
SPAN_DAYS = 3 * 365
TARGET_MS = 200.0


def build(factory: sessionmaker[Session], owner_id: str, count: int) -> None:
    importer = Importer(factory, owner_id=owner_id, batch_size=500)
    started = time.perf_counter()
    for index, item in enumerate(synth.generate(count, seed=5, start=START, span_days=SPAN_DAYS)):
        importer.add(RawConversation(orjson.dumps(item), item, f"bench[{index}]"))
        if index and index % 20_000 == 0:
            print(
                f"  ... {index:,} conversations, {time.perf_counter() - started:.0f}s", flush=True
            )
    report = importer.finish()
    print(
        f"built: {report.imported:,} conversations imported ({len(report.failed)} failed) "
        f"in {time.perf_counter() - started:.0f}s"
    )


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    fn()  # warm-up: the page cache, SQLite's prepared statements
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return min(runs), statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="library file to build once and reuse")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "activity.sqlite3"
        factory = session_factory(open_engine(f"sqlite:///{path}"))
        with transaction(factory) as session:
            owner = users.local_owner(session).id
            have = conversations.count(session, owner_id=owner)
        if have != args.conversations:
            if have:
                print(f"{path} holds {have:,} conversations, not {args.conversations:,}")
                return 2
            build(factory, owner, args.conversations)
        return measure(factory, owner, args.repeats)


def measure(factory: sessionmaker[Session], owner: str, repeats: int) -> int:
    with transaction(factory) as session:
        n_conv = session.execute(text("SELECT count(*) FROM conversations")).scalar_one()
        n_msg = session.execute(text("SELECT count(*) FROM messages")).scalar_one()
    print(f"library: {n_conv:,} conversations, {n_msg:,} messages (SQLite)")
    print(f"CPUs: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")

    def year(tz: str, by: str) -> analytics.ActivityQuery:
        return analytics.year_query(2024, tz=ZoneInfo(tz), by=by)  # type: ignore[arg-type]

    lo, hi = analytics.utc_range(year("UTC", "messages"))
    baseline_sql = text(
        "SELECT count(*) FROM messages WHERE hidden = 0 AND create_time >= :lo AND create_time < :hi"
    )

    def run(fn: Callable[[Session], Any]) -> Callable[[], Any]:
        def once() -> Any:
            with transaction(factory) as session:
                return fn(session)

        return once

    cases: list[tuple[str, Callable[[Session], Any], bool]] = [
        (
            "baseline: count the year's messages (1 range scan)",
            lambda s: s.execute(baseline_sql, {"lo": lo, "hi": hi}).scalar_one(),
            False,
        ),
    ]

    def daily(query: analytics.ActivityQuery) -> Callable[[Session], Any]:
        return lambda s: analytics.daily(s, owner_id=owner, query=query)

    for by in ("conversations", "messages"):
        for tz in ("UTC", "America/New_York", "Asia/Kolkata"):
            cases.append((f"daily counts, 2024, {by}, {tz}", daily(year(tz, by)), True))
    cases += [
        (
            "  (same, GROUP BY instead of range counts)",
            lambda s: activity.buckets(
                s,
                owner_id=owner,
                source="messages",
                size=86400,
                offset=0,
                lo=lo,
                hi=hi,
                range_limit=0,
            ),
            False,
        ),
        (
            "weekday x hour, 2024, messages, Europe/Berlin",
            lambda s: analytics.weekday_hours(
                s, owner_id=owner, query=year("Europe/Berlin", "messages")
            ),
            False,
        ),
        (
            "stats, 2024, messages, Europe/Berlin",
            lambda s: analytics.stats(s, owner_id=owner, query=year("Europe/Berlin", "messages")),
            False,
        ),
        (
            "daily counts, all time (3 years), messages, UTC",
            lambda s: analytics.daily(
                s, owner_id=owner, query=analytics.parse_query(tz="UTC", by="messages")
            ),
            False,
        ),
        (
            "raw list export, every conversation",
            lambda s: sum(len(c) for c in rawlist.library_raw(s, owner_id=owner, exported_at=0)),
            False,
        ),
    ]
    base = None
    failures = 0
    for label, fn, targeted in cases:
        best, median = timed(run(fn), repeats)
        base = base or best
        verdict = ""
        if targeted:
            ok = best < TARGET_MS
            failures += not ok
            verdict = f"  target < {TARGET_MS:.0f} ms: {'PASS' if ok else 'FAIL'}"
        print(
            f"{label:<52} best {best:8.1f} ms  median {median:8.1f} ms  "
            f"{best / base:6.1f}x baseline{verdict}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("all targets pass" if not failures else f"{failures} target(s) missed")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
