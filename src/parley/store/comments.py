"""Comments, saves and reports on shares (repository functions).

Invariants:

* a comment belongs to one share and one message position (``node_id``); deleting it is a
  soft delete that also empties its body, so deleted text is gone for good; listings
  leave deleted comments out;
* a user saves a share at most once (``uq_saves_user_share``); :func:`add_save` and
  :func:`remove_save` report whether they changed anything, so callers keep the share's
  ``saves`` counter exact;
* reports are append-only.

Every function takes the session first and never commits.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parley.store.tables import comments, reports, saves, users


@dataclass(frozen=True)
class Comment:
    id: str
    share_id: str
    author_id: str
    author_name: str | None
    node_id: str
    body: str
    created_at: float
    edited_at: float | None
    deleted: bool


@dataclass(frozen=True)
class Report:
    id: str
    share_id: str
    reporter_id: str | None
    reason: str
    created_at: float


_COMMENT_COLUMNS = (
    comments.c.id,
    comments.c.share_id,
    comments.c.author_id,
    users.c.name.label("author_name"),
    comments.c.node_id,
    comments.c.body,
    comments.c.created_at,
    comments.c.edited_at,
    comments.c.deleted,
)


def add(session: Session, *, share_id: str, author_id: str, node_id: str, body: str) -> str:
    comment_id = str(uuid.uuid4())
    session.execute(
        comments.insert().values(
            id=comment_id,
            share_id=share_id,
            author_id=author_id,
            node_id=node_id,
            body=body,
            created_at=time.time(),
            edited_at=None,
            deleted=False,
        )
    )
    return comment_id


def get(session: Session, *, comment_id: str) -> Comment | None:
    row = session.execute(
        select(*_COMMENT_COLUMNS)
        .outerjoin(users, users.c.id == comments.c.author_id)
        .where(comments.c.id == comment_id)
    ).first()
    return Comment(**row._asdict()) if row else None


def edit(session: Session, *, comment_id: str, body: str) -> None:
    session.execute(
        update(comments).where(comments.c.id == comment_id).values(body=body, edited_at=time.time())
    )


def mark_deleted(session: Session, *, comment_id: str) -> bool:
    """Soft-delete (body emptied); False when it was already deleted or does not exist."""
    result = session.execute(
        update(comments)
        .where(comments.c.id == comment_id, comments.c.deleted.is_(False))
        .values(deleted=True, body="", edited_at=time.time())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def for_share(session: Session, *, share_id: str) -> list[Comment]:
    """The share's live comments, oldest first."""
    rows = session.execute(
        select(*_COMMENT_COLUMNS)
        .outerjoin(users, users.c.id == comments.c.author_id)
        .where(comments.c.share_id == share_id, comments.c.deleted.is_(False))
        .order_by(comments.c.created_at, comments.c.id)
    )
    return [Comment(**row._asdict()) for row in rows]


# --- Saves ------------------------------------------------------------------------------


def is_saved(session: Session, *, user_id: str, share_id: str) -> bool:
    row = session.execute(
        select(saves.c.share_id).where(saves.c.user_id == user_id, saves.c.share_id == share_id)
    ).first()
    return row is not None


def add_save(session: Session, *, user_id: str, share_id: str) -> bool:
    """Save; True when this created the save (False: it existed, maybe from a racing call)."""
    if is_saved(session, user_id=user_id, share_id=share_id):
        return False
    try:
        with session.begin_nested():
            session.execute(
                saves.insert().values(user_id=user_id, share_id=share_id, created_at=time.time())
            )
    except IntegrityError:
        return False
    return True


def remove_save(session: Session, *, user_id: str, share_id: str) -> bool:
    result = session.execute(
        delete(saves).where(saves.c.user_id == user_id, saves.c.share_id == share_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- Reports ----------------------------------------------------------------------------


def add_report(session: Session, *, share_id: str, reporter_id: str | None, reason: str) -> Report:
    report = Report(str(uuid.uuid4()), share_id, reporter_id, reason, time.time())
    session.execute(reports.insert().values(**report.__dict__))
    return report


def list_reports(
    session: Session, *, reporter_id: str | None = None, limit: int = 500
) -> list[Report]:
    """Newest first; all of them, or only those one user filed."""
    query = select(reports).order_by(reports.c.created_at.desc(), reports.c.id).limit(limit)
    if reporter_id is not None:
        query = query.where(reports.c.reporter_id == reporter_id)
    return [Report(**row._asdict()) for row in session.execute(query)]
