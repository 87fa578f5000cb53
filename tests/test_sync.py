"""``parley.sync`` against real servers on 127.0.0.1: a Parley, and a misbehaving backend.

"Nothing missed, nothing duplicated" is checked the same way everywhere: the library ends
up holding exactly the server's conversations, each equal to the server's copy, and the
server's request log shows which details were fetched how often.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.orm import Session, sessionmaker

from parley.config import Settings
from parley.errors import BadRequest, Unauthorized, Unavailable
from parley.store import conversations
from parley.store.db import transaction
from parley.sync import SyncReport, normalize_remote, run_sync
from parley.sync_remote import RetryPolicy
from parley.web.app import create_app
from tests.support.fake_llm_server import serve
from tests.support.flaky_backend import TOKEN, Fault, FlakyBackend, Logged, running
from tests.web.conftest import conversation, make_caller, seed

POLICY = RetryPolicy(attempts=4, base=1.0, cap=8.0, max_retry_after=30.0, give_up_after=3)
T0 = 1_700_000_000.0


def make(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    """Conversations c0000.. with distinct times, the highest number the newest."""
    return [
        conversation(f"c{i:04d}", title=f"Chat {i}", create=T0 + i * 60, update=T0 + i * 60 + 5)
        for i in range(start, start + count)
    ]


def library(factory: sessionmaker[Session], owner_id: str) -> dict[str, dict[str, Any]]:
    with transaction(factory) as session:
        rows = conversations.summaries(session, owner_id=owner_id, limit=10**6)
        loaded = conversations.load_many(session, pks=[row.pk for row in rows])
        return {data["id"]: data for data in loaded}


def newer(item: dict[str, Any], seconds: float = 1000) -> dict[str, Any]:
    """The conversation, continued: one more node and a later update_time."""
    changed = orjson.loads(orjson.dumps(item))
    changed["update_time"] += seconds
    last = changed["current_node"]
    changed["mapping"][last]["children"] = ["more"]
    changed["mapping"]["more"] = {
        "id": "more",
        "parent": last,
        "children": [],
        "message": {
            "id": "more",
            "author": {"role": "user"},
            "create_time": T0,
            "content": {"content_type": "text", "parts": ["and then?"]},
        },
    }
    changed["current_node"] = "more"
    return changed


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "sync-home"


Sync = Callable[..., SyncReport]


@pytest.fixture
def sync(factory: sessionmaker[Session], owner_id: str, home: Path, sleeps: list[float]) -> Sync:
    def run(url: str, **options: Any) -> SyncReport:
        options.setdefault("token", TOKEN)
        options.setdefault("policy", POLICY)
        return run_sync(
            factory, home=home, remote_url=url, owner_id=owner_id, sleep=sleeps.append, **options
        )

    return run


@pytest.fixture
def backend() -> Iterator[FlakyBackend]:
    fake = FlakyBackend()
    fake.add(*make(250))
    with running(fake):
        yield fake


def assert_mirrors(backend: FlakyBackend, factory: sessionmaker[Session], owner_id: str) -> None:
    stored = library(factory, owner_id)
    assert sorted(stored) == sorted(backend.conversations), "missed or extra conversations"
    for cid, item in backend.conversations.items():
        assert stored[cid] == item, cid


def fetch_counts(backend: FlakyBackend) -> Counter[str]:
    return Counter(backend.details_fetched())


# -- against a real Parley ---------------------------------------------------------------


def test_sync_from_a_real_parley_server(
    tmp_path: Path, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    settings = Settings(
        home=tmp_path / "source",
        database_url=f"sqlite:///{tmp_path / 'source.sqlite3'}",
        admin_key="source-admin-key-0123456789",
        rate_read="100000/minute",
    )
    app = create_app(settings)
    try:
        alice = make_caller(app, "alice")
        bob = make_caller(app, "bob")
        items = make(130)
        seed(app, alice, *items)
        seed(app, bob, conversation("bobs-own"))
        with serve(app) as url:
            first = sync(url, token=alice.token)
            assert (first.listed, first.expected_total, first.fetched) == (130, 130, 130)
            assert first.imported == 130 and first.failed == [] and first.failed_offsets == []
            stored = library(factory, owner_id)
            assert sorted(stored) == sorted(i["id"] for i in items)  # not bob's
            for item in items:  # the backend adds conversation_id; all else is the same
                got = {k: v for k, v in stored[item["id"]].items() if k != "conversation_id"}
                assert got == item

            seed(app, alice, newer(items[7]))
            second = sync(url, token=alice.token)
            assert (second.fetched, second.skipped, second.updated) == (1, 129, 1)
            assert "more" in library(factory, owner_id)[items[7]["id"]]["mapping"]
    finally:
        app.state.runtime.close()


# -- paging, retries, rate limits ----------------------------------------------------------


def test_pages_of_100_then_every_detail_once(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    report = sync(backend.url)
    pages = backend.list_requests()
    assert {e.query["limit"] for e in pages} == {"100"}
    assert [e.query["offset"] for e in pages[:3]] == ["0", "100", "200"]
    assert set(fetch_counts(backend).values()) == {1} and len(fetch_counts(backend)) == 250
    assert (report.listed, report.fetched, report.imported) == (250, 250, 250)
    assert_mirrors(backend, factory, owner_id)


def test_retry_after_is_honoured_and_capped(
    backend: FlakyBackend,
    sync: Sync,
    sleeps: list[float],
    factory: sessionmaker[Session],
    owner_id: str,
) -> None:
    plan = {1: Fault.rate_limited("7"), 4: Fault.rate_limited("100000"), 9: Fault("429")}
    backend.faults = lambda n, path, query: plan.get(n)
    sync(backend.url)
    assert sleeps == [7.0, 30.0, 1.0]  # as asked; capped at max_retry_after; backoff
    assert [e.answer for e in backend.log[:2]] == ["429", "200"]  # the same page, again
    assert backend.log[0].query == backend.log[1].query
    assert_mirrors(backend, factory, owner_id)


def test_errors_drops_and_cut_bodies_are_retried_with_capped_backoff(
    backend: FlakyBackend,
    sync: Sync,
    sleeps: list[float],
    factory: sessionmaker[Session],
    owner_id: str,
) -> None:
    plan = {2: Fault("500"), 3: Fault("drop"), 4: Fault("truncate")}  # page 2, three times
    plan |= {10: Fault("500"), 20: Fault("drop"), 30: Fault("truncate"), 31: Fault("500")}
    backend.faults = lambda n, path, query: plan.get(n)
    report = sync(backend.url)
    assert sleeps == [1.0, 2.0, 4.0, 1.0, 1.0, 1.0, 2.0]
    assert report.failed == [] and report.failed_offsets == []
    assert set(fetch_counts(backend).values()) == {1}
    assert_mirrors(backend, factory, owner_id)


def test_a_page_that_keeps_failing_is_recorded_then_retried(
    backend: FlakyBackend,
    sync: Sync,
    tmp_path: Path,
    factory: sessionmaker[Session],
    owner_id: str,
) -> None:
    failing = {"offset": "100"}
    backend.faults = lambda n, path, query: (
        Fault("500") if query.get("offset") == failing["offset"] else None
    )
    out = tmp_path / "list.json"
    report = sync(backend.url, output=out)
    assert report.failed_offsets == [100]
    raw = orjson.loads(out.read_bytes())
    assert raw["failedOffsets"] == [100] and raw["isComplete"] is False
    assert raw["expectedTotal"] == 250 and raw["totalCount"] == len(raw["conversations"]) == 150
    assert len(library(factory, owner_id)) == 150

    failing["offset"] = "never"  # the server recovers: the next run fills the gap
    again = sync(backend.url)
    assert again.failed_offsets == [] and again.listed == 250
    assert again.fetched == 100 and again.skipped == 150
    assert_mirrors(backend, factory, owner_id)
    assert set(fetch_counts(backend).values()) == {1}


def test_a_page_that_fails_once_is_retried_at_the_end_of_the_pass(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    tries: Counter[str] = Counter()

    def fault(n: int, path: str, query: dict[str, str]) -> Fault | None:
        if query.get("offset") == "100":
            tries["100"] += 1
            return Fault("500") if tries["100"] <= POLICY.attempts else None
        return None

    backend.faults = fault
    report = sync(backend.url)
    assert report.failed_offsets == [] and report.listed == 250
    assert_mirrors(backend, factory, owner_id)


# -- a list that changes while it is read ---------------------------------------------------


def test_conversations_created_between_pages_are_not_missed(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    def add_some(offset: int) -> None:
        if offset == 100 and "c0900" not in backend.conversations:
            backend.add(*make(5, start=900))  # the newest: they go to the front

    backend.before_list = add_some
    report = sync(backend.url)
    assert report.listed == 255 and report.expected_total == 255
    assert_mirrors(backend, factory, owner_id)
    assert set(fetch_counts(backend).values()) == {1}


def test_a_deletion_between_pages_makes_the_list_read_again(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    def delete_one(offset: int) -> None:
        if offset == 100 and "c0249" in backend.conversations:
            del backend.conversations["c0249"]  # was on page 1: page 2 shifts up by one

    backend.before_list = delete_one
    report = sync(backend.url)
    offsets = [e.query["offset"] for e in backend.list_requests()]
    assert offsets.count("0") >= 3  # pass, head check, second pass
    assert report.gone == 1 and report.failed == []  # listed, then 404
    assert_mirrors(backend, factory, owner_id)  # c0149, shifted onto page 1, is there too


def test_a_conversation_updated_while_paging_is_caught_at_the_head(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    def touch(offset: int) -> None:
        if offset == 100 and backend.conversations["c0010"]["update_time"] < T0 + 10**6:
            backend.add(newer(backend.conversations["c0010"], seconds=10**6))

    backend.before_list = touch
    sync(backend.url)
    assert_mirrors(backend, factory, owner_id)
    assert "more" in library(factory, owner_id)["c0010"]["mapping"]


# -- resume and incremental runs ------------------------------------------------------------


def test_resumes_the_listing_where_the_server_went_down(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    down = {"after": 1}
    backend.faults = lambda n, path, query: Fault("500") if n > down["after"] else None
    with pytest.raises(Unavailable, match="run the same command again"):
        sync(backend.url)
    assert library(factory, owner_id) == {}

    down["after"] = 10**9
    start = len(backend.log)
    report = sync(backend.url)
    assert report.resumed
    assert backend.log[start].query["offset"] == "100"  # page 1 is not read again
    assert_mirrors(backend, factory, owner_id)
    assert set(fetch_counts(backend).values()) == {1}


def test_resumes_the_details_where_the_server_went_down(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    down = {"after": 60}  # 3 list pages, the head check, then ~56 details
    backend.faults = lambda n, path, query: Fault("drop") if n > down["after"] else None
    with pytest.raises(Unavailable):
        sync(backend.url)
    first_run: list[Logged] = list(backend.log)
    done = set(backend.details_fetched())
    assert 0 < len(library(factory, owner_id)) == len(done) < 250

    down["after"] = 10**9
    report = sync(backend.url)
    second = [e for e in backend.log[len(first_run) :]]
    assert report.resumed
    assert not [e for e in second if e.path.endswith("/conversations")]  # no re-listing
    fetched_now = Counter(backend.details_fetched()) - Counter(done)
    assert set(fetched_now) == set(backend.conversations) - done  # only what was missing
    assert set(fetched_now.values()) == {1}
    assert_mirrors(backend, factory, owner_id)


def test_a_second_run_fetches_only_what_changed(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    sync(backend.url)
    backend.add(newer(backend.conversations["c0003"]), newer(backend.conversations["c0100"]))
    backend.add(*make(1, start=700))
    before = len(backend.details_fetched())
    report = sync(backend.url)
    assert sorted(backend.details_fetched()[before:]) == ["c0003", "c0100", "c0700"]
    assert (report.skipped, report.imported, report.updated) == (248, 1, 2)
    assert_mirrors(backend, factory, owner_id)
    full = sync(backend.url, full=True)
    assert full.fetched == 251 and full.unchanged == 251


def test_conversations_already_imported_from_an_export_are_not_fetched(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    from parley.formats.chatgpt import RawConversation
    from parley.importer import Importer

    importer = Importer(factory, owner_id=owner_id)
    for item in list(backend.conversations.values())[:100]:
        importer.add(RawConversation(orjson.dumps(item), item, "export"))
    importer.finish()
    report = sync(backend.url)
    assert (report.skipped, report.fetched) == (100, 150)
    assert_mirrors(backend, factory, owner_id)


# -- the list-only export, odd servers, secrets ---------------------------------------------


def test_list_only_writes_the_seeds_raw_file(
    backend: FlakyBackend,
    sync: Sync,
    tmp_path: Path,
    factory: sessionmaker[Session],
    owner_id: str,
) -> None:
    out = tmp_path / "raw.json"
    report = sync(backend.url, list_only=True, output=out)
    raw = orjson.loads(out.read_bytes())
    assert list(raw) == [
        "conversations",
        "exportDate",
        "totalCount",
        "failedOffsets",
        "isComplete",
        "expectedTotal",
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", raw["exportDate"])
    assert (raw["totalCount"], raw["expectedTotal"], raw["isComplete"]) == (250, 250, True)
    assert raw["failedOffsets"] == []
    assert [c["id"] for c in raw["conversations"]] == [f"c{i:04d}" for i in range(249, -1, -1)]
    assert raw["conversations"][0]["update_time"].endswith("Z")
    assert backend.details_fetched() == [] and report.fetched == 0
    assert library(factory, owner_id) == {}


def test_details_without_an_id_get_the_listed_one(
    backend: FlakyBackend, sync: Sync, factory: sessionmaker[Session], owner_id: str
) -> None:
    backend.without_ids = True
    sync(backend.url)
    assert sorted(library(factory, owner_id)) == sorted(backend.conversations)


def test_a_refused_token_stops_the_run_without_echoing_it(
    backend: FlakyBackend, sync: Sync
) -> None:
    with pytest.raises(Unauthorized) as caught:
        sync(backend.url, token="wrong-token-secret-value")
    assert "401" in caught.value.detail and "wrong-token-secret-value" not in caught.value.detail


def test_a_server_that_is_not_a_backend_api_is_a_clear_error(tmp_path: Path, sync: Sync) -> None:
    fake = FlakyBackend()
    with running(fake), pytest.raises(BadRequest, match="does not answer like a ChatGPT"):
        sync(fake.url + "/elsewhere")


def test_the_token_is_never_stored(backend: FlakyBackend, sync: Sync, home: Path) -> None:
    sync(backend.url)
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files and not [p for p in files if TOKEN.encode() in p.read_bytes()]
    assert all(p.stat().st_mode & 0o077 == 0 for p in files if p.suffix == ".sqlite3")


def test_normalize_remote() -> None:
    assert normalize_remote("https://chatgpt.com") == "https://chatgpt.com/backend-api"
    assert normalize_remote("https://chatgpt.com/backend-api/") == "https://chatgpt.com/backend-api"
    assert normalize_remote("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/backend-api"
    with pytest.raises(BadRequest):
        normalize_remote("ftp://example.org")
