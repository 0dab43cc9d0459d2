"""cameras.pinned_worker: the worker that should run a camera while it is alive (NULL: any worker)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06 05:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("pinned_worker", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("pinned_worker")
