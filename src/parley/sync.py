"""Sync from a ChatGPT-style backend API (chatgpt.com, or another Parley) into the library.

A run (:func:`run_sync`):

1. lists ``GET {remote}/backend-api/conversations?offset&limit=100&order=updated`` page
   after page. A page that still fails after the retries below is recorded as a failed
   offset and the run goes on; failed offsets are retried at the end of the pass. Then
   the head of the list is read again until a page brings nothing new, which catches
   conversations created or updated while paging; when the total shrank while paging (a
   deletion shifts later items into pages already read), the whole list is read again
   (at most :data:`MAX_PASSES` times). Conversations are keyed by id: none is counted twice.
2. fetches ``GET {remote}/backend-api/conversation/{id}`` for every listed conversation
   whose listed ``update_time`` differs from the one recorded when it was last imported
   (or that the library lacks), newest first, and imports it through
   :class:`parley.importer.Importer` (idempotent: an unchanged conversation stays
   unchanged). A detail that keeps failing is reported and retried at the end of the run
   and again by the next run; one the server no longer has (404) is counted as gone.

Retries: 429 waits ``Retry-After`` (seconds or an HTTP date) capped at
``max_retry_after``, else capped exponential backoff; 5xx, 408, a dropped connection, a
timeout or a body that is not JSON retry with capped exponential backoff. 401/403 stop
the run (the server refused the token). After ``give_up_after`` consecutive requests
failed for good the run stops with Unavailable. The wait function is injectable.

Resume: progress lives in :class:`parley.sync_state.SyncState` (``PARLEY_HOME/sync``) and
every step is committed as it happens, so running the same command again after a crash,
Ctrl-C or an outage continues where the last run stopped. The token is sent only in the
``Authorization`` header: never logged, printed or stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from sqlalchemy.orm import Session, sessionmaker

from parley import rawlist
from parley.errors import BadRequest
from parley.formats.chatgpt import RawConversation
from parley.importer import Importer
from parley.store import conversations
from parley.store.db import transaction
from parley.store.rows import epoch
from parley.sync_remote import Failed, Remote, RetryPolicy
from parley.sync_state import DONE, FAILED, TODO, SyncState, state_path

PAGE = 100
MAX_PASSES = 3
DETAIL_BATCH = 20
Progress = Callable[[str, int, int | None], None]  # (phase, done, total)


def normalize_remote(url: str) -> str:
    """``https://chatgpt.com`` or ``.../backend-api`` -> ``https://chatgpt.com/backend-api``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest(f"--from must be an http(s) URL such as https://chatgpt.com, not {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/backend-api"):
        path += "/backend-api"
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass
class SyncReport:
    listed: int = 0
    expected_total: int | None = None
    fetched: int = 0
    skipped: int = 0  # unchanged since they were last imported
    gone: int = 0  # listed, then deleted on the server before their detail was fetched
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    failed_offsets: list[int] = field(default_factory=list)
    resumed: bool = False

    def as_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


class Syncer:
    def __init__(
        self,
        factory: sessionmaker[Session],
        state: SyncState,
        remote: Remote,
        *,
        owner_id: str,
        full: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.factory, self.state, self.remote = factory, state, remote
        self.owner_id, self.full = owner_id, full
        self.progress = progress or (lambda phase, done, total: None)
        self.report = SyncReport()

    # -- listing ---------------------------------------------------------------------

    def _page(self, offset: int) -> tuple[list[dict[str, Any]], int | None]:
        params = {"offset": offset, "limit": PAGE, "order": "updated"}
        data = self.remote.get_json("/conversations", params)
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise Failed("the list answer has no 'items' list")
        items = [i for i in data["items"] if isinstance(i, dict) and isinstance(i.get("id"), str)]
        total = data.get("total")
        return items, total if isinstance(total, int) and not isinstance(total, bool) else None

    def _saw_total(self, total: int | None) -> None:
        st = self.state
        if total is None:
            return
        if total < max(st.get("total_max", total), total):
            st.set("shrank", True)
        st.set("total_max", max(st.get("total_max", total), total))
        st.set("total", total)
        self.report.expected_total = total

    def list_all(self) -> None:
        st = self.state
        while st.phase == "listing":
            offset, total = int(st.get("next_offset", 0)), st.get("total")
            if total is not None and offset >= total:
                self._end_pass()
                continue
            try:
                items, page_total = self._page(offset)
            except Failed as failure:
                if total is None and failure.status in (400, 404, 405, 410, 422):
                    raise BadRequest(
                        f"{self.remote.base} does not answer like a ChatGPT backend API: "
                        f"{failure.reason}"
                    ) from None
                if total is None:  # not even the first page: there is nothing to go on
                    raise failure.unavailable() from None
                st.fail_offset(offset, failure.reason)
                st.set("next_offset", offset + PAGE)
                continue
            st.clear_offset(offset)
            st.add_items(items)
            self._saw_total(page_total)
            self.progress("listing", st.listed_count(), st.get("total"))
            if not items or page_total is None:
                self._end_pass()
                continue
            st.set("next_offset", offset + len(items))

    def _end_pass(self) -> None:
        st = self.state
        for offset in st.failed_offsets():  # one more try each
            try:
                items, total = self._page(offset)
            except Failed as failure:
                st.fail_offset(offset, failure.reason)
                continue
            st.clear_offset(offset)
            st.add_items(items)
            self._saw_total(total)
        offset = 0
        while True:  # the head: what was created or updated while paging
            try:
                items, total = self._page(offset)
            except Failed:
                break
            self._saw_total(total)
            if not items or not st.add_items(items):
                break
            offset += len(items)
        if st.get("shrank") and int(st.get("pass", 1)) < MAX_PASSES:
            st.set("pass", int(st.get("pass", 1)) + 1)
            st.set("next_offset", 0)
            st.set("shrank", False)
            st.set("total_max", st.get("total"))
            return
        st.set("phase", "fetching")
        self._plan()

    def _plan(self) -> None:
        """Mark which listed conversations need their detail (see the module docstring)."""
        st, seq = self.state, 0
        while page := st.listed_page(seq, 500):
            seq = page[-1][0]
            ids = [cid for _, cid, _ in page]
            synced = st.synced(ids)
            with transaction(self.factory) as session:
                rows = conversations.summaries(
                    session, owner_id=self.owner_id, ids=ids, limit=len(ids)
                )
            local = {row.id: row.update_time for row in rows}
            due = [cid for _, cid, listed in page if self._due(cid, listed, synced, local)]
            st.set_todo(set(ids) - set(due), DONE)
            st.set_todo(due, TODO)
        st.set("skipped", st.count_todo(DONE))

    def _due(
        self,
        cid: str,
        listed: str | None,
        synced: dict[str, str | None],
        local: dict[str, float | None],
    ) -> bool:
        if self.full or cid not in local:
            return True
        if cid in synced:
            return synced[cid] != listed
        mine, theirs = local[cid], epoch(listed)  # imported some other way: compare times
        return mine is None or theirs is None or abs(mine - theirs) > 1e-3

    # -- fetching --------------------------------------------------------------------

    def fetch_all(self) -> None:
        st = self.state
        importer = Importer(self.factory, owner_id=self.owner_id)
        total = st.count_todo(TODO)
        done = 0
        for todo in (TODO, FAILED):  # then one more round for the failures
            batch: list[tuple[str, str | None, RawConversation]] = []
            try:
                for cid, listed in st.pending(todo):
                    fetched = self._fetch(cid)
                    if fetched is not None:
                        batch.append((cid, listed, fetched))
                    if len(batch) >= DETAIL_BATCH:
                        self._store(importer, batch)
                    done += todo == TODO
                    self.progress("fetching", done, total)
            finally:  # also when the run stops: keep what already arrived
                self._store(importer, batch)
        for outcome in ("imported", "updated", "unchanged"):
            setattr(self.report, outcome, getattr(importer.report, outcome))

    def _fetch(self, cid: str) -> RawConversation | None:
        """One detail, or None when it failed (recorded in the state)."""
        try:
            raw, data = self.remote.get_bytes(f"/conversation/{quote(cid, safe='')}")
        except Failed as failure:
            gone = failure.status == 404
            self.state.set_todo([cid], DONE if gone else FAILED, failure.reason)
            self.report.gone += gone
            return None
        self.report.fetched += 1
        if not isinstance(data, dict):
            self.state.set_todo([cid], FAILED, "the detail is not a JSON object")
            return None
        if "id" not in data and "conversation_id" not in data:
            data["id"] = cid
            raw = orjson.dumps(data)
        return RawConversation(raw, data, f"{cid} from the server")

    def _store(
        self, importer: Importer, batch: list[tuple[str, str | None, RawConversation]]
    ) -> None:
        if not batch:
            return
        before = len(importer.report.failed)
        importer.store([Importer.prepare(raw) for _, _, raw in batch])
        failed = {f["id"]: f["reason"] for f in importer.report.failed[before:]}
        del importer.report.failed[before:]
        for cid, _, _ in batch:
            if cid in failed:
                self.state.set_todo([cid], FAILED, f"could not be imported: {failed[cid]}")
        self.state.mark_synced((cid, listed) for cid, listed, _ in batch if cid not in failed)
        batch.clear()

    def finish(self) -> SyncReport:
        st, report = self.state, self.report
        report.listed = st.listed_count()
        report.expected_total = st.get("total")
        report.skipped = int(st.get("skipped", 0))
        report.failed = st.failures()
        report.failed_offsets = st.failed_offsets()
        return report


def raw_file(state: SyncState, *, exported_at: float) -> Iterable[bytes]:
    """The listing of the current run as the heatmap seed's raw file."""
    return rawlist.raw_chunks(
        state.items(),
        expected_total=int(state.get("total") or 0),
        exported_at=exported_at,
        failed_offsets=state.failed_offsets(),
    )


def run_sync(
    factory: sessionmaker[Session],
    *,
    home: Path,
    remote_url: str,
    token: str,
    owner_id: str,
    list_only: bool = False,
    output: Path | None = None,
    full: bool = False,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
    now: Callable[[], float] = time.time,
) -> SyncReport:
    """One sync run (see the module docstring); ``output`` gets the raw list file."""
    remote_base = normalize_remote(remote_url)
    state = SyncState(
        state_path(home, remote_base, owner_id), remote=remote_base, owner_id=owner_id
    )
    try:
        with Remote(remote_base, token, policy=policy or RetryPolicy(), sleep=sleep) as remote:
            resumed = state.phase != "done"
            if not resumed:
                state.start_run(now=now())
            syncer = Syncer(factory, state, remote, owner_id=owner_id, full=full, progress=progress)
            syncer.report.resumed = resumed
            syncer.list_all()
            if output is not None:
                with output.open("wb") as out:
                    out.writelines(raw_file(state, exported_at=now()))
            if not list_only:
                syncer.fetch_all()
            report = syncer.finish()
            state.set("phase", "done")
            return report
    finally:
        state.close()
