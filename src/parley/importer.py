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

import hashlib
from collections.abc import Callable, Sequence
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

BATCH_SIZE = 100


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


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _guess_id(item: RawConversation) -> str:
    data = item.data
    if isinstance(data, dict):
        for key in ("id", "conversation_id"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return item.source


class Importer:
    """Feeds conversations to the store for one owner; use :meth:`add` then :meth:`finish`."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        owner_id: str,
        batch_size: int = BATCH_SIZE,
        on_conversation: Callable[[], None] | None = None,
    ) -> None:
        self.factory = factory
        self.owner_id = owner_id
        self.batch_size = batch_size
        self.on_conversation = on_conversation
        self.report = ImportReport()
        self._batch: list[Exploded] = []

    def add(self, item: RawConversation) -> None:
        if item.data is None:
            self._fail(_guess_id(item), item.error or "not a JSON object")
            return
        try:
            exploded = explode(item.data, content_hash=content_hash(item.raw))
        except MalformedConversation as error:
            self._fail(error.conversation_id or _guess_id(item), error.detail)
            return
        self._batch.append(exploded)
        if len(self._batch) >= self.batch_size:
            self.flush()

    def _fail(self, conversation_id: str, reason: str) -> None:
        self.report.failed.append({"id": conversation_id, "reason": reason})
        if self.on_conversation:
            self.on_conversation()

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        try:
            with transaction(self.factory) as session:
                outcomes = conversations.save_many(session, owner_id=self.owner_id, items=batch)
        except SQLAlchemyError:
            for item in batch:
                self._save_one(item)
            return
        for outcome in outcomes:
            self.report.count(outcome)
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
        self.report.count(outcome)
        if self.on_conversation:
            self.on_conversation()

    def finish(self) -> ImportReport:
        self.flush()
        return self.report


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
    """Import every conversation found in ``paths`` (see parley.formats.chatgpt)."""
    importer = Importer(
        factory, owner_id=owner_id, batch_size=batch_size, on_conversation=on_conversation
    )
    for item in read_export(paths, limits=limits or ZipLimits(), on_bytes=on_bytes):
        importer.add(item)
    return importer.finish()
