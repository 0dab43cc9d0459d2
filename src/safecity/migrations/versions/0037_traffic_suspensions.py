"""traffic_suspensions: one in force per camera (a unique partial index), and how many withheld violations
its lifting released to the review queue

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-06 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FORCE = sa.text("lifted_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("traffic_suspensions") as batch:
        batch.add_column(sa.Column("released", sa.Integer(), nullable=True))
    op.create_index(
        "uq_traffic_suspensions_in_force",
        "traffic_suspensions",
        ["camera_id"],
        unique=True,
        sqlite_where=IN_FORCE,
        postgresql_where=IN_FORCE,
    )


def downgrade() -> None:
    op.drop_index("uq_traffic_suspensions_in_force", table_name="traffic_suspensions")
    with op.batch_alter_table("traffic_suspensions") as batch:
        batch.drop_column("released")
