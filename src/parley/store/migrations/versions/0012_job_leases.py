"""Import jobs hold a lease, renewed by the process running them (see parley.store.jobs).

A server process that starts fails only the unfinished jobs whose lease ran out, not those
another live process sharing the library is running. Jobs left from before this revision
have no lease and count as lapsed.

Revision ID: 0012_job_leases
Revises: 0011_counts
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_job_leases"
down_revision = "0011_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.add_column(sa.Column("lease_until", sa.Double))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("lease_until")
