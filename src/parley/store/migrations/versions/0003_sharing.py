"""Sharing: shares, comments, saves, reports, web sessions and one-time login links.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _fk(table: str, ondelete: str = "CASCADE") -> sa.ForeignKey:
    return sa.ForeignKey(table, ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("conversation_pk", sa.Integer, _fk("conversations.pk"), nullable=False),
        sa.Column("node_id", sa.String(200), nullable=False),
        sa.Column("owner_id", sa.String(36), _fk("users.id")),
        sa.Column("manage_token_hash", sa.String(64)),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("avatar", sa.Text),
        sa.Column("model", sa.String(200)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("views", sa.BigInteger, nullable=False),
        sa.Column("saves", sa.Integer, nullable=False),
        sa.Column("comments", sa.Integer, nullable=False),
        sa.UniqueConstraint("conversation_pk", name="uq_shares_conversation"),
    )
    op.create_index("ix_shares_visibility_created", "shares", ["visibility", "created_at"])
    op.create_index("ix_shares_visibility_views", "shares", ["visibility", "views"])
    op.create_index("ix_shares_owner_updated", "shares", ["owner_id", "updated_at"])
    op.create_table(
        "comments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("share_id", sa.String(16), _fk("shares.id"), nullable=False),
        sa.Column("author_id", sa.String(36), _fk("users.id"), nullable=False),
        sa.Column("node_id", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("edited_at", sa.Double),
        sa.Column("deleted", sa.Boolean, nullable=False),
    )
    op.create_index("ix_comments_share_created", "comments", ["share_id", "created_at"])
    op.create_table(
        "saves",
        sa.Column("user_id", sa.String(36), _fk("users.id"), nullable=False),
        sa.Column("share_id", sa.String(16), _fk("shares.id"), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("user_id", "share_id", name="uq_saves_user_share"),
    )
    op.create_index("ix_saves_share", "saves", ["share_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("share_id", sa.String(16), _fk("shares.id"), nullable=False),
        sa.Column("reporter_id", sa.String(36), _fk("users.id", "SET NULL")),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_reports_created", "reports", ["created_at"])
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(36), _fk("users.id"), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("csrf_secret", sa.String(64), nullable=False),
    )
    op.create_index("ix_web_sessions_expires", "web_sessions", ["expires_at"])
    op.create_table(
        "login_links",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(36), _fk("users.id"), nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("used_at", sa.Double),
    )


def downgrade() -> None:
    for table in ("login_links", "web_sessions", "reports", "saves", "comments", "shares"):
        op.drop_table(table)
