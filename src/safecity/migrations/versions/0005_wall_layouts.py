"""video wall layouts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 02:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wall_layouts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("layout", sa.Integer(), nullable=False),
        sa.Column("camera_ids", sa.JSON(), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("layout IN (1, 4, 9, 16)", name=op.f("ck_wall_layouts_layout")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_wall_layouts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_wall_layouts")),
    )


def downgrade() -> None:
    op.drop_table("wall_layouts")
