"""Import and search speed on a generated export, against orjson in the same run.

    python bench/import_bench.py                      # ~2,500 conversations, ~60 MB
    python bench/import_bench.py --megabytes 1024     # the 1 GB memory check

Prints: export size, orjson.loads time of the same bytes (the baseline), import time,
MB/s and conversations/s end to end (indexing included), the ratio of import time to the
baseline, the importing process's peak RSS, and search p50/p95 over the new library.
The import runs in a child process; its peak RSS is the kernel's VmHWM for it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import orjson

from parley import synth

TARGETS = {"mb_per_s": 30.0, "search_p50_ms": 10.0, "rss_mb_1gb": 500.0}

CHILD = """
import json, sys, time
from pathlib import Path
from parley.importer import import_paths
from parley.store import users
from parley.store.db import open_engine, session_factory, transaction
url, path = sys.argv[1], Path(sys.argv[2])
factory = session_factory(open_engine(url))
with transaction(factory) as session:
    owner = users.local_owner(session).id
started = time.perf_counter()
report = import_paths(factory, paths=[path], owner_id=owner)
seconds = time.perf_counter() - started
status = Path("/proc/self/status").read_text()
rss = int(status.split("VmHWM:")[1].split()[0]) / 1024  # this process's own peak
print(json.dumps({"seconds": seconds, "rss_mb": rss, **report.as_json(), "failed": len(report.failed)}))
"""


def build_export(folder: Path, *, count: int, megabytes: int) -> tuple[Path, int]:
    path = synth.write_export_zip(
        folder / "export.zip",
        synth.generate(count, seed=7, target_bytes=megabytes * 1_000_000),
    )
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo("conversations.json").file_size
    return path, size


def baseline_seconds(path: Path, repeats: int = 3) -> float | None:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("conversations.json")
        if info.file_size > 400_000_000:
            return None  # would not fit the point of the exercise
        data = archive.read(info)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        orjson.loads(data)
        best = min(best, time.perf_counter() - started)
    return best


def run_import(url: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(path)], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def search_latency(url: str, *, queries: int = 300) -> tuple[float, float, int]:
    from parley.store import search, users
    from parley.store.db import open_engine, session_factory, transaction

    factory = session_factory(open_engine(url))
    rng = random.Random(3)
    from parley.synth import text as synth_text

    vocabulary = sorted({w for w in (*synth_text.NOUNS, *synth_text.VERBS, *synth_text.ADJECTIVES)
                         if isinstance(w, str) and " " not in w and len(w) > 3})  # fmt: skip
    with transaction(factory) as session:
        owner = users.local_owner(session).id
    timings: list[float] = []
    hits = 0
    with transaction(factory) as session:
        for _ in range(queries):
            words = rng.sample(vocabulary, rng.choice([1, 1, 2]))
            started = time.perf_counter()
            found = search.search(session, owner_id=owner, query=" ".join(words), limit=20)
            timings.append((time.perf_counter() - started) * 1000)
            hits += bool(found)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], hits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--conversations", type=int, default=2500)
    parser.add_argument("--megabytes", type=int, default=60)
    args = parser.parse_args()
    count = (
        args.conversations if args.megabytes <= 100 else args.conversations * args.megabytes // 60
    )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        path, size = build_export(folder, count=count, megabytes=args.megabytes)
        print(
            f"export: {count:,} conversations, {size / 1e6:.1f} MB of JSON "
            f"({path.stat().st_size / 1e6:.1f} MB zipped), generated in {time.perf_counter() - started:.1f}s"
        )
        base = baseline_seconds(path)
        url = f"sqlite:///{folder / 'library.sqlite3'}"
        result = run_import(url, path)
        seconds = result["seconds"]
        mbps = size / 1e6 / seconds
        print(
            f"import: {seconds:.2f}s  {mbps:.1f} MB/s  {count / seconds:,.0f} conversations/s  "
            f"peak RSS {result['rss_mb']:.0f} MB  "
            f"(imported {result['imported']:,}, failed {result['failed']:,})"
        )
        if base is not None:
            print(
                f"baseline orjson.loads of the same bytes: {base:.2f}s ({size / 1e6 / base:.0f} MB/s); "
                f"import/orjson time ratio: {seconds / base:.1f}x"
            )
        p50, p95, hits = search_latency(url)
        print(f"search: p50 {p50:.2f} ms  p95 {p95:.2f} ms  ({hits} of 300 queries had hits)")
        print(
            f"target: >= {TARGETS['mb_per_s']:.0f} MB/s: {'PASS' if mbps >= TARGETS['mb_per_s'] else 'FAIL'}; "
            f"search p50 < {TARGETS['search_p50_ms']:.0f} ms: {'PASS' if p50 < TARGETS['search_p50_ms'] else 'FAIL'}"
        )
        if args.megabytes >= 1000:
            ok = result["rss_mb"] < TARGETS["rss_mb_1gb"]
            print(
                f"target: peak RSS < {TARGETS['rss_mb_1gb']:.0f} MB on {size / 1e9:.2f} GB: {'PASS' if ok else 'FAIL'}"
            )


if __name__ == "__main__":
    main()
