"""Export files -> the store, in batches, idempotently.

Guarantees:

* memory is bounded by one batch of conversations (the reader streams the files);
* each batch is one transaction, so an import killed half-way leaves whole conversations
  only, and running it again finishes the job: the end state is the same as one
  uninterrupted run (already stored conversations come back ``unchanged``);
* a conversation that cannot be read or stored is reported with its id and the reason,
  and the rest still import; a batch that the database rejects is retried one
  conversation at a time to find the culprit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from parley.errors import MalformedConversation
from parley.formats.chatgpt import RawConversation, ZipLimits, read_export
from parley.store import conversations
from parley.store.db import transaction
from parley.store.rows import Exploded, explode

BATCH_SIZE = 500
BATCH_BYTES = 8 * 1024 * 1024  # a batch also ends once its conversations' JSON passes this
QUEUE_DEPTH = 2


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.imported + self.updated + self.unchanged + len(self.failed)

    def as_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
        }

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def _guess_id(item: RawConversation) -> str:
    data = item.data
    if isinstance(data, dict):
        for key in ("id", "conversation_id"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return item.source


Prepared = Exploded | dict[str, str]  # a conversation ready to store, or a failure


class Importer:
    """Feeds conversations to the store for one owner.

    :meth:`prepare` (parse, validate, explode) needs no database and may run on another
    thread than :meth:`store`; :meth:`add` and :meth:`finish` do both, in order.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        owner_id: str,
        batch_size: int = BATCH_SIZE,
        on_conversation: Callable[[], None] | None = None,
        binding: AbstractContextManager[Any] = nullcontext(),
    ) -> None:
        self.factory = factory
        self.binding = binding
        self.owner_id = owner_id
        self.batch_size = batch_size
        self.on_conversation = on_conversation
        self.report = ImportReport()
        self._batch: list[Prepared] = []

    @staticmethod
    def prepare(item: RawConversation) -> Prepared:
        if item.data is None:
            return {"id": _guess_id(item), "reason": item.error or "not a JSON object"}
        try:
            return explode(item.data)
        except MalformedConversation as error:
            return {"id": error.conversation_id or _guess_id(item), "reason": error.detail}

    def add(self, item: RawConversation) -> None:
        self._batch.append(self.prepare(item))
        if len(self._batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        self.store(batch)

    def finish(self) -> ImportReport:
        self.flush()
        return self.report

    def store(self, batch: Sequence[Prepared]) -> None:
        """Save one batch in one transaction; failures in it are reported in order."""
        items = [item for item in batch if isinstance(item, Exploded)]
        for item in batch:
            if not isinstance(item, Exploded):
                self._fail(item["id"], item["reason"])
        if not items:
            return
        try:
            with transaction(self.factory) as session:
                outcomes = conversations.save_many(
                    session, owner_id=self.owner_id, items=items, binding=self.binding
                )
        except SQLAlchemyError:
            for one in items:
                self._save_one(one)
            return
        for outcome in outcomes:
            self._done(outcome)

    def _done(self, outcome: str) -> None:
        self.report.count(outcome)
        if self.on_conversation:
            self.on_conversation()

    def _fail(self, conversation_id: str, reason: str) -> None:
        self.report.failed.append({"id": conversation_id, "reason": reason})
        if self.on_conversation:
            self.on_conversation()

    def _save_one(self, item: Exploded) -> None:
        try:
            with transaction(self.factory) as session:
                outcome = conversations.save(session, owner_id=self.owner_id, item=item)
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).splitlines()[0]
            self._fail(item.id, f"the database rejected it: {reason}")
            return
        self._done(outcome)


_END = object()


def import_paths(
    factory: sessionmaker[Session],
    *,
    paths: Sequence[Path],
    owner_id: str,
    limits: ZipLimits | None = None,
    on_bytes: Callable[[int], None] | None = None,
    on_conversation: Callable[[], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import every conversation found in ``paths`` (see parley.formats.chatgpt).

    A batch holds up to ``batch_size`` conversations or BATCH_BYTES of their JSON.
    Reading, parsing and validating run on a helper thread while this thread writes the
    previous batch. At most ``QUEUE_DEPTH`` prepared batches wait in between, which bounds
    memory. An error while reading (a truncated file, say) is raised here after every
    batch read before it has been stored.

    The two overlap where the database driver works without the GIL: the statement that
    indexes a batch and the commit. Its executemany lets go of the GIL for each row it
    steps, which beside a Python-bound thread makes every row a GIL hand-over (measured:
    the inserts ran 2.5 times slower and the import was no faster than one thread). So
    the threads share ``binding``, a lock: this one holds it while rows go to the driver,
    the reader while it prepares a conversation.
    """
    binding = threading.Lock()
    importer = Importer(
        factory,
        owner_id=owner_id,
        batch_size=batch_size,
        on_conversation=on_conversation,
        binding=binding,
    )
    handoff: queue.Queue[object] = queue.Queue(maxsize=QUEUE_DEPTH)
    stop = threading.Event()

    def give(value: object) -> None:
        while not stop.is_set():
            try:
                handoff.put(value, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce() -> None:
        batch: list[Prepared] = []
        size = 0
        try:
            for item in read_export(paths, limits=limits or ZipLimits(), on_bytes=on_bytes):
                with binding:
                    batch.append(Importer.prepare(item))
                size += len(item.raw)
                if len(batch) >= batch_size or size >= BATCH_BYTES:
                    give(batch)
                    batch, size = [], 0
            give(batch)
            give(_END)
        except BaseException as error:  # handed to the writing thread, raised there
            give(batch)
            give(error)

    reader = threading.Thread(target=produce, name="parley-import-reader", daemon=True)
    reader.start()
    try:
        while True:
            value = handoff.get()
            if value is _END:
                break
            if isinstance(value, BaseException):
                raise value
            importer.store(value)  # type: ignore[arg-type]
    finally:
        stop.set()
        reader.join()
    return importer.report
