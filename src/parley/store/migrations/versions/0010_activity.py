"""Activity: a covering index for per-day / per-hour message counts (see parley.store.activity).

``(hidden, create_time, conversation_pk, model_slug)``: an equality on ``hidden`` and a
range on ``create_time`` read only the index, the owner check needs ``conversation_pk``
and the per-model counts ``model_slug``. (A partial index ``WHERE hidden = 0`` would be
smaller, but SQLite 3.40 does not treat it as covering for a query naming ``hidden``.)

Revision ID: 0010_activity
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0010_activity"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_activity",
        "messages",
        ["hidden", "create_time", "conversation_pk", "model_slug"],
    )


def downgrade() -> None:
    op.drop_index("ix_messages_activity", table_name="messages")
