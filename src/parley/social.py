"""Sharing, explore, comments, saves and reports: the service layer pages and APIs call.

This module is the public surface; the work is split over
:mod:`parley.social_shares` (share, update, view, feeds, lists, delete),
:mod:`parley.social_comments` (comments, saves, reports) and
:mod:`parley.social_sharegpt` (ShareGPT posts; :mod:`parley.social_html` turns posted
HTML into Markdown). Their docstrings state the contracts; in short:

* private shares are seen by their owner only, unlisted ones by anyone with the link,
  public ones also appear in :func:`feed` (new / top / trending, 50 per page, page N =
  items ``(N-1)*50 .. N*50``) and its full-text search. Anyone who may not see a share
  gets NotFound, as for a share that does not exist;
* sharing a conversation again keeps its link; a share is a snapshot up to its leaf;
* every function takes the session first, keyword arguments after, and never commits;
  errors are :mod:`parley.errors` exceptions. Views are counted by :mod:`parley.views`.

Message text, titles and comments are plain data here: pages render them through
:mod:`parley.render` only.
"""

from __future__ import annotations

from parley.social_comments import (
    MAX_COMMENT_CHARS,
    MAX_REPORT_CHARS,
    add_comment,
    comments_by_node,
    delete_comment,
    edit_comment,
    list_reports,
    report_share,
    set_saved,
)
from parley.social_sharegpt import MAX_ITEMS, ROLES, anonymous_owner, post_sharegpt
from parley.social_shares import (
    ANONYMOUS_NAME,
    FEED_KINDS,
    MAX_TITLE_CHARS,
    PAGE_SIZE,
    ShareView,
    delete_share,
    feed,
    my_saves,
    my_shares,
    share_conversation,
    update_share,
    view_share,
    visible_share,
)
from parley.store.comments import Comment, Report
from parley.store.shares import VISIBILITIES, FeedKind, Share, ShareMeta, Visibility

__all__ = [
    "ANONYMOUS_NAME",
    "FEED_KINDS",
    "MAX_COMMENT_CHARS",
    "MAX_ITEMS",
    "MAX_REPORT_CHARS",
    "MAX_TITLE_CHARS",
    "PAGE_SIZE",
    "ROLES",
    "VISIBILITIES",
    "Comment",
    "FeedKind",
    "Report",
    "Share",
    "ShareMeta",
    "ShareView",
    "Visibility",
    "add_comment",
    "anonymous_owner",
    "comments_by_node",
    "delete_comment",
    "delete_share",
    "edit_comment",
    "feed",
    "list_reports",
    "my_saves",
    "my_shares",
    "post_sharegpt",
    "report_share",
    "set_saved",
    "share_conversation",
    "update_share",
    "view_share",
    "visible_share",
]
