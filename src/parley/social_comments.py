"""Comments, saves and reports on shares (service functions).

Contracts:

* only someone who may see a share (:func:`parley.social_shares.visible_share`) can
  comment on it, save it or report it; anyone else gets NotFound;
* a comment sits on one message the share shows (``node_id``); its body is plain text,
  1-:data:`MAX_COMMENT_CHARS` characters after trimming, rendered by pages through
  :func:`parley.render.render_text`;
* its author edits it; its author or the share's owner deletes it (a soft delete that
  erases the body); anyone else gets NotFound, as for a comment that does not exist;
* the share's ``comments`` and ``saves`` counters move in the same transaction as the
  rows they count, and saving twice counts once;
* a report needs a reason (1-:data:`MAX_REPORT_CHARS` characters); admins list every
  report, anyone else only their own.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from parley.errors import NotFound, Unprocessable
from parley.social_shares import visible_share
from parley.store import comments as store
from parley.store import shares as shares_store
from parley.store.comments import Comment, Report

MAX_COMMENT_CHARS = 5000
MAX_REPORT_CHARS = 2000


def _text(value: object, *, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Unprocessable(f"{what} must not be empty")
    value = value.strip()
    if len(value) > limit:
        raise Unprocessable(f"{what} is longer than {limit} characters")
    return value


def add_comment(
    session: Session, *, share_id: str, author_id: str, node_id: str, body: str
) -> Comment:
    share = visible_share(session, share_id=share_id, viewer_id=author_id)
    text = _text(body, what="the comment", limit=MAX_COMMENT_CHARS)
    shape = shares_store.node_shape(session, conversation_pk=share.conversation_pk)
    shown = shares_store.shared_node_ids(shape, leaf=share.node_id, shared_at=share.updated_at)
    if node_id not in shown:
        raise NotFound("no such message in this share")
    comment_id = store.add(
        session, share_id=share.id, author_id=author_id, node_id=node_id, body=text
    )
    shares_store.bump(session, share_id=share.id, column="comments", delta=1)
    comment = store.get(session, comment_id=comment_id)
    assert comment is not None
    return comment


def _live(session: Session, comment_id: str) -> Comment:
    comment = store.get(session, comment_id=comment_id)
    if comment is None or comment.deleted:
        raise NotFound(f"no comment {comment_id!r}")
    return comment


def edit_comment(session: Session, *, comment_id: str, user_id: str, body: str) -> Comment:
    comment = _live(session, comment_id)
    if comment.author_id != user_id:
        raise NotFound(f"no comment {comment_id!r}")
    visible_share(session, share_id=comment.share_id, viewer_id=user_id)
    store.edit(
        session,
        comment_id=comment_id,
        body=_text(body, what="the comment", limit=MAX_COMMENT_CHARS),
    )
    edited = store.get(session, comment_id=comment_id)
    assert edited is not None
    return edited


def delete_comment(session: Session, *, comment_id: str, user_id: str) -> None:
    comment = _live(session, comment_id)
    share = shares_store.get(session, share_id=comment.share_id)
    owner = share.owner_id if share else None
    if user_id not in (comment.author_id, owner):
        raise NotFound(f"no comment {comment_id!r}")
    if store.mark_deleted(session, comment_id=comment_id):
        shares_store.bump(session, share_id=comment.share_id, column="comments", delta=-1)


def comments_by_node(session: Session, *, share_id: str) -> dict[str, list[Comment]]:
    """Live comments of a share per message node, oldest first (check visibility first)."""
    grouped: dict[str, list[Comment]] = {}
    for comment in store.for_share(session, share_id=share_id):
        grouped.setdefault(comment.node_id, []).append(comment)
    return grouped


def set_saved(session: Session, *, share_id: str, user_id: str, saved: bool) -> None:
    """Save or unsave, idempotently for anyone who sees the share; a share you saved can be
    unsaved even once it is out of sight (made private)."""
    if not saved and store.remove_save(session, user_id=user_id, share_id=share_id):
        shares_store.bump(session, share_id=share_id, column="saves", delta=-1)
        return
    visible_share(session, share_id=share_id, viewer_id=user_id)
    if saved and store.add_save(session, user_id=user_id, share_id=share_id):
        shares_store.bump(session, share_id=share_id, column="saves", delta=1)


def report_share(
    session: Session, *, share_id: str, reporter_id: str | None, reason: str
) -> Report:
    visible_share(session, share_id=share_id, viewer_id=reporter_id)
    text = _text(reason, what="the reason", limit=MAX_REPORT_CHARS)
    return store.add_report(session, share_id=share_id, reporter_id=reporter_id, reason=text)


def list_reports(session: Session, *, user_id: str, is_admin: bool) -> list[Report]:
    return store.list_reports(session, reporter_id=None if is_admin else user_id)
