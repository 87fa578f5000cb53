"""What ``parley sync`` remembers between runs, in a small SQLite file per (server, user).

``PARLEY_HOME/sync/<hash of server URL and user id>.sqlite3`` (mode 0600) holds:

* ``meta``: the server URL, the user id and the current run's progress (``phase``
  listing / fetching / done, ``next_offset``, ``pass``, the totals the server reported);
* ``listed``: the conversations listed in the current run (list item JSON, its
  ``update_time`` as listed, the order they were first seen in, whether the detail still
  has to be fetched: ``todo`` 1, done 0, failed 2 with ``reason``);
* ``failed_offsets``: list pages that failed in the current run;
* ``synced``: per conversation, the listed ``update_time`` of the last detail imported,
  kept across runs: that is what makes runs incremental.

Every change is committed at once, so a run killed at any point resumes where it stopped.
The token is never stored. The file is opened in SQLite's exclusive locking mode, so a
second ``parley sync`` of the same server and user fails at once with Conflict instead
of racing the first.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from parley.errors import Conflict

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS listed (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, "
    "update_time TEXT, item TEXT NOT NULL, todo INTEGER NOT NULL DEFAULT 1, reason TEXT)",
    "CREATE TABLE IF NOT EXISTS failed_offsets (page_offset INTEGER PRIMARY KEY, reason TEXT)",
    "CREATE TABLE IF NOT EXISTS synced (id TEXT PRIMARY KEY, update_time TEXT)",
    "CREATE INDEX IF NOT EXISTS listed_seq ON listed (seq)",
    "CREATE INDEX IF NOT EXISTS listed_todo ON listed (todo, seq)",
)
TODO, DONE, FAILED = 1, 0, 2


def state_path(home: Path, remote: str, owner_id: str) -> Path:
    digest = hashlib.sha256(f"{remote}\n{owner_id}".encode()).hexdigest()[:24]
    return home / "sync" / f"{digest}.sqlite3"


class SyncState:
    def __init__(self, path: Path, *, remote: str, owner_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            self.db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self.db.execute("BEGIN EXCLUSIVE")
            self.db.execute("COMMIT")
        except sqlite3.OperationalError:
            self.db.close()
            raise Conflict(
                "another `parley sync` from this server for this user is running; "
                "wait for it to finish"
            ) from None
        for statement in SCHEMA:
            self.db.execute(statement)
        self.set("remote", remote)
        self.set("owner_id", owner_id)
        self._seq = int(self.db.execute("SELECT coalesce(max(seq), 0) FROM listed").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    # -- meta --------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else default

    def set(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, orjson.dumps(value).decode()),
        )

    @property
    def phase(self) -> str:
        return str(self.get("phase", "done"))

    def start_run(self, *, now: float) -> None:
        """Forget the last run's listing (``synced`` stays) and start listing anew."""
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM listed")
        self.db.execute("DELETE FROM failed_offsets")
        self.db.execute("DELETE FROM meta WHERE key NOT IN ('remote', 'owner_id')")
        self._seq = 0
        for key, value in {"phase": "listing", "next_offset": 0, "pass": 1, "started": now}.items():
            self.set(key, value)
        self.db.execute("COMMIT")

    # -- listing -----------------------------------------------------------------------

    def add_items(self, items: Iterable[dict[str, Any]]) -> int:
        """Record list items (the latest listing wins); returns how many were new or had
        another ``update_time`` than when last listed (their detail is due again)."""
        new = 0
        self.db.execute("BEGIN")
        for item in items:
            cid, updated = item["id"], item.get("update_time")
            row = self.db.execute("SELECT update_time FROM listed WHERE id = ?", (cid,))
            found = row.fetchone()
            if found is None:
                self._seq += 1
                self.db.execute(
                    "INSERT INTO listed (id, seq, update_time, item) VALUES (?, ?, ?, ?)",
                    (cid, self._seq, updated, orjson.dumps(item).decode()),
                )
                new += 1
            elif found[0] != updated:
                self.db.execute(
                    "UPDATE listed SET update_time = ?, item = ?, todo = ? WHERE id = ?",
                    (updated, orjson.dumps(item).decode(), TODO, cid),
                )
                new += 1
        self.db.execute("COMMIT")
        return new

    def listed_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM listed").fetchone()[0])

    def items(self) -> Iterator[dict[str, Any]]:
        """The listed items, in the order they were first seen."""
        for (item,) in self.db.execute("SELECT item FROM listed ORDER BY seq"):
            yield orjson.loads(item)

    def fail_offset(self, offset: int, reason: str) -> None:
        self.db.execute(
            "INSERT INTO failed_offsets (page_offset, reason) VALUES (?, ?) "
            "ON CONFLICT (page_offset) DO UPDATE SET reason = excluded.reason",
            (offset, reason),
        )

    def clear_offset(self, offset: int) -> None:
        self.db.execute("DELETE FROM failed_offsets WHERE page_offset = ?", (offset,))

    def failed_offsets(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT page_offset FROM failed_offsets ORDER BY 1")]

    # -- fetching ----------------------------------------------------------------------

    def synced(self, ids: Iterable[str]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for cid in ids:
            row = self.db.execute("SELECT update_time FROM synced WHERE id = ?", (cid,))
            found = row.fetchone()
            if found is not None:
                out[cid] = found[0]
        return out

    def listed_page(self, after_seq: int, size: int) -> list[tuple[int, str, str | None]]:
        return self.db.execute(
            "SELECT seq, id, update_time FROM listed WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, size),
        ).fetchall()

    def set_todo(self, ids: Iterable[str], todo: int, reason: str | None = None) -> None:
        self.db.execute("BEGIN")
        for cid in ids:
            self.db.execute(
                "UPDATE listed SET todo = ?, reason = ? WHERE id = ?", (todo, reason, cid)
            )
        self.db.execute("COMMIT")

    def pending(self, todo: int = TODO) -> list[tuple[str, str | None]]:
        """(id, listed update_time) still to fetch (or failed, with ``FAILED``), in order."""
        rows = self.db.execute(
            "SELECT id, update_time FROM listed WHERE todo = ? ORDER BY seq", (todo,)
        )
        return [(r[0], r[1]) for r in rows]

    def count_todo(self, todo: int) -> int:
        row = self.db.execute("SELECT count(*) FROM listed WHERE todo = ?", (todo,)).fetchone()
        return int(row[0])

    def failures(self) -> list[dict[str, str]]:
        rows = self.db.execute(
            "SELECT id, reason FROM listed WHERE todo = ? ORDER BY seq", (FAILED,)
        )
        return [{"id": r[0], "reason": r[1] or "failed"} for r in rows]

    def mark_synced(self, done: Iterable[tuple[str, str | None]]) -> None:
        """Details imported: remember their listed ``update_time`` and tick them off."""
        self.db.execute("BEGIN")
        for cid, updated in done:
            self.db.execute(
                "INSERT INTO synced (id, update_time) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET update_time = excluded.update_time",
                (cid, updated),
            )
            self.db.execute("UPDATE listed SET todo = ?, reason = NULL WHERE id = ?", (DONE, cid))
        self.db.execute("COMMIT")
