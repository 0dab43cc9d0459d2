"""recordings: whether a segment was recorded with the camera's privacy masks burned in

Cameras with privacy masks are now recorded masked (decoded, masks blacked out, encoded again); the flag
says which segments hold no clear picture of a masked area. Segments recorded before were all remuxed.

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-06 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("masked", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("masked")
