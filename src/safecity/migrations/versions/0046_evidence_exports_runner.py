"""evidence exports: the process preparing or signing one, and its last sign of life

With several web nodes, one starting again must fail only the exports its own earlier process left
unfinished (or another node's silent for minutes), not those another node is still working on.

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-06 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runner", sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column("heartbeat", safecity.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence_exports", schema=None) as batch_op:
        batch_op.drop_column("heartbeat")
        batch_op.drop_column("runner")
