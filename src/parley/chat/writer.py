"""Write transactions for the chat, off the event loop; on SQLite, queued ones together.

:class:`Writer` runs a unit of work (a function of a session, or of a
:class:`parley.store.direct.Direct`: the store's turn functions take either) in a
transaction and hands its result back to the awaiting coroutine.

* On SQLite every unit joins the queue of one thread per database, on a connection of
  its own. Units that queue up while a transaction runs share the next one (group
  commit, at most ``MAX_BATCH``, so that the lock is never held long): each runs in its
  own SAVEPOINT, so one that raises is rolled back alone and its error goes to its
  caller, while the others commit together. A lone unit runs without a SAVEPOINT. Units
  commit in the order they were queued. The thread ends after a few idle seconds and
  starts again when needed. Its commits never checkpoint the WAL (a checkpoint copies
  pages and syncs): every ``CHECKPOINT_EVERY`` commits, another thread does it.
  Why a thread even for a unit of a few small statements: SQLite works without the GIL,
  so the event loop streams other replies meanwhile, and under load the commits are
  shared; measured with ``bench/chat_bench.py``, running the units on the loop instead
  made the time to the backend under a burst more than twice as long. The same holds
  for the end of a turn alone: committed on the loop whenever the thread was idle, a
  reply's end came back sooner under a batching backend's bursts (p50 about 8 -> 5.5
  ms), but the loop stood still while SQLite worked, and the time to the backend or to
  the first text of the other streams grew by as much.
* On any other database, each unit runs in its own transaction in the thread pool.
* Awaiting a unit is not interrupted by cancellation: the unit completes (or fails) and
  the cancellation is delivered afterwards, as with ``anyio.to_thread.run_sync``.
* Database errors reach the caller as SQLAlchemy's (``IntegrityError`` ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from parley.store.db import LOCK_WAIT_SECONDS, transaction
from parley.store.direct import Db, Direct

T = TypeVar("T")
log = logging.getLogger("parley.chat")

Work = Callable[[Db], Any]
Unit = tuple[Work, asyncio.Future[Any], asyncio.AbstractEventLoop]
IDLE_SECONDS = 5.0
MAX_BATCH = 16  # keeps the write lock short for the other writers
LOCK_SECONDS = LOCK_WAIT_SECONDS  # how long a transaction waits for another writer
LOCK_RETRY_SECONDS = 0.001
CHECKPOINT_EVERY = 500  # the writer thread's commits between two WAL checkpoints


class Writer:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        bind = factory.kw.get("bind")
        self.batched = bind is not None and bind.dialect.name == "sqlite"
        self._queue: queue.SimpleQueue[Unit] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._since_checkpoint = 0

    async def run(self, work: Callable[[Db], T]) -> T:
        """``work(db)`` in a committed transaction; its error if it raised."""
        if not self.batched:
            return await anyio.to_thread.run_sync(self._alone, work)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((work, future, loop))
        self._wake()
        with anyio.CancelScope(shield=True):
            result = await future
        return result

    def _checkpoint(self) -> None:
        """Copy the WAL into the database (PASSIVE: it waits for nobody)."""
        try:
            with self.factory.kw["bind"].connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as error:  # the next one will do; writes are not affected
            log.warning("WAL checkpoint failed: %s", error)

    def _alone(self, work: Callable[[Db], T]) -> T:
        with transaction(self.factory) as session:
            return work(session)

    def _wake(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="parley-chat-writer", daemon=True
                )
                self._thread.start()

    def _serve(self) -> None:
        bind = self.factory.kw["bind"]
        pooled = bind.raw_connection()  # the engine's connection settings (WAL, timeouts)
        connection = pooled.driver_connection
        pooled.detach()  # this thread's own until it ends
        connection.execute("PRAGMA wal_autocheckpoint=0")  # see _checkpoint
        connection.execute("PRAGMA busy_timeout=0")  # see _begin
        db = Direct(connection, bind.dialect)
        try:
            while True:
                try:
                    first = self._queue.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    with self._lock:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                batch = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self._commit(db, batch)
        finally:
            connection.close()

    def _commit(self, db: Direct, batch: list[Unit]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            _begin(db)
            try:
                if len(batch) == 1:  # alone: its own transaction is enough
                    outcomes.append((True, batch[0][0](db)))
                else:
                    for work, _future, _loop in batch:
                        db.sql("SAVEPOINT unit")
                        try:
                            outcomes.append((True, work(db)))
                        except Exception as error:
                            db.sql("ROLLBACK TO unit")
                            outcomes.append((False, error))
                        db.sql("RELEASE unit")
                db.sql("COMMIT")
            except BaseException:
                if db.connection.in_transaction:
                    db.sql("ROLLBACK")
                raise
        except Exception as error:  # the commit (or a lone unit) failed: so did every unit
            if len(batch) > 1:
                log.warning("a batch of %d chat writes failed: %s", len(batch), error)
            outcomes = [(False, error)] * len(batch)
        self._since_checkpoint += 1
        if self._since_checkpoint >= CHECKPOINT_EVERY:
            self._since_checkpoint = 0
            threading.Thread(target=self._checkpoint, name="parley-checkpoint", daemon=True).start()
        for (_work, future, loop), (ok, value) in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # RuntimeError: that loop is gone
                loop.call_soon_threadsafe(_settle, future, ok, value)


def _begin(db: Direct) -> None:
    """``BEGIN IMMEDIATE``, trying again every millisecond or so while another connection
    (another server process) writes, for up to ``LOCK_SECONDS``. SQLite's own busy
    handler sleeps up to 100 ms between tries, long after the lock came free: with two
    processes writing it made some writes wait for seconds."""
    deadline = time.monotonic() + LOCK_SECONDS
    while True:
        try:
            db.sql("BEGIN IMMEDIATE")
            return
        except OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(LOCK_RETRY_SECONDS)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
