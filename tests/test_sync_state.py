"""``parley.sync_state``: what a sync run remembers, and that two runs cannot share it."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.errors import Conflict
from parley.sync_state import DONE, FAILED, TODO, SyncState, state_path

REMOTE = "http://127.0.0.1:1/backend-api"


def open_state(home: Path) -> SyncState:
    return SyncState(state_path(home, REMOTE, "owner"), remote=REMOTE, owner_id="owner")


def test_two_runs_at_once_conflict(tmp_path: Path) -> None:
    first = open_state(tmp_path)
    try:
        with pytest.raises(Conflict, match="running"):
            open_state(tmp_path)
    finally:
        first.close()
    open_state(tmp_path).close()  # free again once the first is closed


def test_the_state_file_is_private_and_per_server_and_user(tmp_path: Path) -> None:
    path = state_path(tmp_path, REMOTE, "owner")
    assert path != state_path(tmp_path, REMOTE, "someone-else")
    assert path != state_path(tmp_path, "https://chatgpt.com/backend-api", "owner")
    open_state(tmp_path).close()
    assert path.stat().st_mode & 0o077 == 0


def test_items_are_keyed_by_id_and_a_new_update_time_makes_them_due(tmp_path: Path) -> None:
    state = open_state(tmp_path)
    try:
        state.start_run(now=1.0)
        assert (
            state.add_items([{"id": "a", "update_time": "1"}, {"id": "b", "update_time": "1"}]) == 2
        )
        assert state.add_items([{"id": "a", "update_time": "1"}]) == 0  # seen: nothing new
        state.mark_synced([("a", "1"), ("b", "1")])
        assert state.count_todo(DONE) == 2
        assert state.add_items([{"id": "b", "update_time": "2"}, {"id": "c"}]) == 2
        assert [item["id"] for item in state.items()] == ["a", "b", "c"]  # first-seen order
        assert state.pending(TODO) == [("b", "2"), ("c", None)]
        state.set_todo(["c"], FAILED, "server error 500")
        assert state.failures() == [{"id": "c", "reason": "server error 500"}]
    finally:
        state.close()


def test_a_new_run_forgets_the_listing_but_not_what_was_synced(tmp_path: Path) -> None:
    state = open_state(tmp_path)
    try:
        state.start_run(now=1.0)
        state.add_items([{"id": "a", "update_time": "1"}])
        state.fail_offset(100, "server error 500")
        state.mark_synced([("a", "1")])
        state.set("phase", "done")
    finally:
        state.close()
    state = open_state(tmp_path)  # as the next run does
    try:
        assert state.phase == "done"
        state.start_run(now=2.0)
        assert (state.phase, state.listed_count(), state.failed_offsets()) == ("listing", 0, [])
        assert state.synced(["a", "b"]) == {"a": "1"}
    finally:
        state.close()
