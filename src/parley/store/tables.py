"""The schema, as SQLAlchemy Core tables. Migrations in ``migrations/`` create it.

* ``conversations``: one row per (owner, conversation id). ``extra`` holds every top-level
  key of the imported object except ``mapping``, verbatim (JSON text); the columns are
  extracted copies that Parley may change (rename, archive, move ``current_node``).
  ``content_hash`` is the fingerprint of the last imported content (``rows.fingerprint``):
  re-importing the same content is a no-op.
* ``messages``: one row per mapping node. ``message`` is the message object verbatim
  (JSON text, NULL for the root and empty nodes); ``node_extra`` keeps any other node keys
  (and whether the node listed ``children``). Children are never stored: they are derived
  from ``parent_id`` and ordered by ``position``. The other columns are extracted for
  queries: role, content type, text, hidden (the visible-transcript rule).
* ``import_jobs``: one row per upload imported over HTTP (``parley.jobs``): its state
  (queued, running, done, failed), progress, and final summary (``failed_json`` is the
  JSON list of ``{id, reason}``).
* Full-text search: on SQLite, FTS5 tables with external content; new messages are
  indexed by ``conversations.insert_messages`` (the only way messages are inserted),
  updates and deletes by triggers. On PostgreSQL, generated tsvector columns with GIN
  indexes. Both are created in the migration.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("password_hash", Text),
    Column("created_at", Double, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False, default="user"),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("label", String(200)),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double),
)

conversations = Table(
    "conversations",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(200), nullable=False),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("title", Text),
    Column("create_time", Double),
    Column("update_time", Double),
    Column("current_node", String(200)),
    Column("default_model_slug", String(200)),
    Column("is_archived", Boolean, nullable=False, default=False),
    Column("is_starred", Boolean, nullable=False, default=False),
    Column("gizmo_id", String(200)),
    Column("template_id", String(200)),
    Column("extra", Text, nullable=False, default="{}"),
    Column("source", String(32), nullable=False, default="import"),
    Column("content_hash", String(64)),
    Column("message_count", Integer, nullable=False, default=0),
    UniqueConstraint("owner_id", "id", name="uq_conversations_owner_id"),
)
# Covers a list page (revision 0011): the listed columns ride along, after the sort keys.
_LISTED = ("id", "title", "create_time", "is_archived", "is_starred", "default_model_slug",
           "gizmo_id", "template_id")  # fmt: skip
Index(
    "ix_conversations_owner_update",
    conversations.c.owner_id,
    conversations.c.update_time,
    conversations.c.pk,
    *(conversations.c[name] for name in _LISTED),
)

# How many conversations (and archived ones) each owner has; kept exact by triggers
# (revision 0011), so a list page reads its total instead of counting.
conversation_counts = Table(
    "conversation_counts",
    metadata,
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("total", BigInteger, nullable=False),
    Column("archived", BigInteger, nullable=False),
)
Index("ix_conversations_owner_create", conversations.c.owner_id, conversations.c.create_time)

messages = Table(
    "messages",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column(
        "conversation_pk",
        Integer,
        ForeignKey("conversations.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("node_id", String(200), nullable=False),
    Column("parent_id", String(200)),
    Column("position", Integer, nullable=False, default=0),
    Column("message", Text),
    Column("node_extra", Text),
    Column("role", String(32)),
    Column("author_name", String(200)),
    Column("content_type", String(64)),
    Column("recipient", String(200)),
    Column("model_slug", String(200)),
    Column("create_time", Double),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("text", Text, nullable=False, default=""),
    UniqueConstraint("conversation_pk", "node_id", name="uq_messages_conversation_node"),
)
Index(
    "ix_messages_activity",
    messages.c.hidden,
    messages.c.create_time,
    messages.c.conversation_pk,
    messages.c.model_slug,
)

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(16), nullable=False, default="queued"),
    Column("filename", Text),
    Column("bytes_total", BigInteger, nullable=False, default=0),
    Column("bytes_done", BigInteger, nullable=False, default=0),
    Column("conversations_done", Integer, nullable=False, default=0),
    Column("imported", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("failed_json", Text, nullable=False, default="[]"),
    Column("error", Text),
    Column("created_at", Double, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("lease_until", Double),  # revision 0012: see parley.store.jobs
)
Index("ix_import_jobs_owner_created", import_jobs.c.owner_id, import_jobs.c.created_at)
Index("ix_import_jobs_state", import_jobs.c.state)

# --- Sharing (revision 0003) ------------------------------------------------------------
# * ``shares``: one per shared conversation (unique ``conversation_pk``: re-sharing keeps the
#   link). ``node_id`` is the leaf of the shared path; messages are immutable, so root ->
#   leaf is a snapshot. ``owner_id`` is NULL for anonymous ShareGPT posts, which carry a
#   ``manage_token_hash`` (SHA-256) instead. ``views``/``saves``/``comments`` are counters.
# * ``comments`` (soft-deleted: ``deleted`` and an emptied body), ``saves`` (one per user and
#   share), ``reports`` (moderation), ``web_sessions`` and ``login_links`` (tokens hashed).

shares = Table(
    "shares",
    metadata,
    Column("id", String(16), primary_key=True),
    Column(
        "conversation_pk",
        Integer,
        ForeignKey("conversations.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("node_id", String(200), nullable=False),
    Column("owner_id", String(36), ForeignKey("users.id", ondelete="CASCADE")),
    Column("manage_token_hash", String(64)),
    Column("visibility", String(16), nullable=False, default="unlisted"),
    Column("title", Text),
    Column("avatar", Text),
    Column("model", String(200)),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("views", BigInteger, nullable=False, default=0),
    Column("saves", Integer, nullable=False, default=0),
    Column("comments", Integer, nullable=False, default=0),
    UniqueConstraint("conversation_pk", name="uq_shares_conversation"),
)
Index("ix_shares_visibility_created", shares.c.visibility, shares.c.created_at)
Index("ix_shares_visibility_views", shares.c.visibility, shares.c.views)
Index("ix_shares_owner_updated", shares.c.owner_id, shares.c.updated_at)

comments = Table(
    "comments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("share_id", String(16), ForeignKey("shares.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("node_id", String(200), nullable=False),
    Column("body", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
    Column("edited_at", Double),
    Column("deleted", Boolean, nullable=False, default=False),
)
Index("ix_comments_share_created", comments.c.share_id, comments.c.created_at)

saves = Table(
    "saves",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("share_id", String(16), ForeignKey("shares.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("user_id", "share_id", name="uq_saves_user_share"),
)
Index("ix_saves_share", saves.c.share_id)

reports = Table(
    "reports",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("share_id", String(16), ForeignKey("shares.id", ondelete="CASCADE"), nullable=False),
    Column("reporter_id", String(36), ForeignKey("users.id", ondelete="SET NULL")),
    Column("reason", Text, nullable=False),
    Column("created_at", Double, nullable=False),
)
Index("ix_reports_created", reports.c.created_at)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("csrf_secret", String(64), nullable=False),
)
Index("ix_web_sessions_expires", web_sessions.c.expires_at)

login_links = Table(
    "login_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("used_at", Double),
)
