"""Users, tokens, conversations, messages and their full-text indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', "
    "content_rowid='pk', tokenize='porter unicode61 remove_diacritics 2')",
    # No insert trigger: parley.store.conversations.insert_messages indexes each batch with
    # one INSERT ... SELECT, five times faster than a trigger per row.
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages WHEN old.text != '' BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.pk, old.text); END",
    "CREATE TRIGGER messages_fts_au AFTER UPDATE OF text ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) SELECT 'delete', old.pk, old.text "
    "WHERE old.text != ''; "
    "INSERT INTO messages_fts(rowid, text) SELECT new.pk, new.text WHERE new.text != ''; END",
    "CREATE VIRTUAL TABLE conversations_fts USING fts5(title, content='conversations', "
    "content_rowid='pk', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER conversations_fts_ai AFTER INSERT ON conversations BEGIN "
    "INSERT INTO conversations_fts(rowid, title) VALUES (new.pk, coalesce(new.title, '')); END",
    "CREATE TRIGGER conversations_fts_ad AFTER DELETE ON conversations BEGIN "
    "INSERT INTO conversations_fts(conversations_fts, rowid, title) "
    "VALUES ('delete', old.pk, coalesce(old.title, '')); END",
    "CREATE TRIGGER conversations_fts_au AFTER UPDATE OF title ON conversations BEGIN "
    "INSERT INTO conversations_fts(conversations_fts, rowid, title) "
    "VALUES ('delete', old.pk, coalesce(old.title, '')); "
    "INSERT INTO conversations_fts(rowid, title) VALUES (new.pk, coalesce(new.title, '')); END",
]

POSTGRES_FTS = [
    "ALTER TABLE messages ADD COLUMN text_tsv tsvector GENERATED ALWAYS AS "
    "(to_tsvector('english', left(text, 500000))) STORED",
    "CREATE INDEX ix_messages_text_tsv ON messages USING gin (text_tsv)",
    "ALTER TABLE conversations ADD COLUMN title_tsv tsvector GENERATED ALWAYS AS "
    "(to_tsvector('english', coalesce(title, ''))) STORED",
    "CREATE INDEX ix_conversations_title_tsv ON conversations USING gin (title_tsv)",
]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("password_hash", sa.Text),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_used_at", sa.Double),
    )
    op.create_table(
        "conversations",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column(
            "owner_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("title", sa.Text),
        sa.Column("create_time", sa.Double),
        sa.Column("update_time", sa.Double),
        sa.Column("current_node", sa.String(200)),
        sa.Column("default_model_slug", sa.String(200)),
        sa.Column("is_archived", sa.Boolean, nullable=False),
        sa.Column("is_starred", sa.Boolean, nullable=False),
        sa.Column("gizmo_id", sa.String(200)),
        sa.Column("template_id", sa.String(200)),
        sa.Column("extra", sa.Text, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.UniqueConstraint("owner_id", "id", name="uq_conversations_owner_id"),
    )
    op.create_index("ix_conversations_owner_update", "conversations", ["owner_id", "update_time"])
    op.create_index("ix_conversations_owner_create", "conversations", ["owner_id", "create_time"])
    op.create_table(
        "messages",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "conversation_pk",
            sa.Integer,
            sa.ForeignKey("conversations.pk", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("node_id", sa.String(200), nullable=False),
        sa.Column("parent_id", sa.String(200)),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("node_extra", sa.Text),
        sa.Column("role", sa.String(32)),
        sa.Column("author_name", sa.String(200)),
        sa.Column("content_type", sa.String(64)),
        sa.Column("recipient", sa.String(200)),
        sa.Column("model_slug", sa.String(200)),
        sa.Column("create_time", sa.Double),
        sa.Column("hidden", sa.Boolean, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.UniqueConstraint("conversation_pk", "node_id", name="uq_messages_conversation_node"),
    )
    op.create_index("ix_messages_create_time", "messages", ["create_time"])
    statements = SQLITE_FTS if op.get_bind().dialect.name == "sqlite" else POSTGRES_FTS
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("messages_fts", "conversations_fts"):
            op.execute(f"DROP TABLE IF EXISTS {name}")
    for table in ("messages", "conversations", "tokens", "users"):
        op.drop_table(table)
