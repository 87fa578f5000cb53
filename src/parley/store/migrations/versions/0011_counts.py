"""List pages without counting or visiting rows: counts kept by triggers, a covering index.

``conversation_counts(owner_id, total, archived)``: how many conversations each owner has,
and how many of them are archived. Triggers on ``conversations`` keep it exact on every
insert, delete (cascades included) and change of ``is_archived`` or ``owner_id``; the
upgrade fills it from the rows already there.

The (owner, update_time) index becomes covering for a list page: it also holds the
columns a page shows, in the order the page reads them, so a page of a hundred reads a
few index pages instead of a hundred scattered table rows (PostgreSQL: INCLUDE).

``ix_messages_create_time`` goes: every query by message time names ``hidden`` too and
uses ``ix_messages_activity``; the other index only cost every insert its upkeep.

Revision ID: 0011_counts
Revises: 0010_activity
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_counts"
down_revision = "0010_activity"
branch_labels = None
depends_on = None

_ADD = (
    "INSERT INTO conversation_counts (owner_id, total, archived) "
    "VALUES (new.owner_id, 1, {archived}) ON CONFLICT (owner_id) DO UPDATE SET "
    "total = conversation_counts.total + 1, "
    "archived = conversation_counts.archived + excluded.archived"
)
_REMOVE = (
    "UPDATE conversation_counts SET total = total - 1, archived = archived - {archived} "
    "WHERE owner_id = old.owner_id"
)

SQLITE = [
    "CREATE TRIGGER conversation_counts_ai AFTER INSERT ON conversations BEGIN "
    + _ADD.format(archived="new.is_archived")
    + "; END",
    "CREATE TRIGGER conversation_counts_ad AFTER DELETE ON conversations BEGIN "
    + _REMOVE.format(archived="old.is_archived")
    + "; END",
    "CREATE TRIGGER conversation_counts_au AFTER UPDATE OF is_archived, owner_id "
    "ON conversations BEGIN "
    + _REMOVE.format(archived="old.is_archived")
    + "; "
    + _ADD.format(archived="new.is_archived")
    + "; END",
]

POSTGRES = [
    "CREATE FUNCTION parley_count_conversations() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF TG_OP IN ('DELETE', 'UPDATE') THEN "
    + _REMOVE.format(archived="(CASE WHEN old.is_archived THEN 1 ELSE 0 END)")
    + "; END IF; "
    "IF TG_OP IN ('INSERT', 'UPDATE') THEN "
    + _ADD.format(archived="(CASE WHEN new.is_archived THEN 1 ELSE 0 END)")
    + "; END IF; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER conversation_counts AFTER INSERT OR DELETE OR UPDATE OF is_archived, "
    "owner_id ON conversations FOR EACH ROW EXECUTE FUNCTION parley_count_conversations()",
]


LISTED = [
    "id",
    "title",
    "create_time",
    "is_archived",
    "is_starred",
    "default_model_slug",
    "gizmo_id",
    "template_id",
]


def upgrade() -> None:
    op.drop_index("ix_messages_create_time", table_name="messages")
    op.drop_index("ix_conversations_owner_update", table_name="conversations")
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(
            "ix_conversations_owner_update",
            "conversations",
            ["owner_id", "update_time", "pk", *LISTED],
        )
    else:
        op.create_index(
            "ix_conversations_owner_update",
            "conversations",
            ["owner_id", "update_time", "pk"],
            postgresql_include=LISTED,
        )
    op.create_table(
        "conversation_counts",
        sa.Column(
            "owner_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("archived", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO conversation_counts (owner_id, total, archived) "
        "SELECT owner_id, count(*), sum(CASE WHEN is_archived THEN 1 ELSE 0 END) "
        "FROM conversations GROUP BY owner_id"
    )
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("conversation_counts_ai", "conversation_counts_ad", "conversation_counts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS conversation_counts ON conversations")
        op.execute("DROP FUNCTION IF EXISTS parley_count_conversations()")
    op.drop_table("conversation_counts")
    op.drop_index("ix_conversations_owner_update", table_name="conversations")
    op.create_index("ix_conversations_owner_update", "conversations", ["owner_id", "update_time"])
    op.create_index("ix_messages_create_time", "messages", ["create_time"])
