"""video wall: camera tours per tile, and named layouts each user saves

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wall_layouts", schema=None) as batch_op:
        # Walls saved before tours existed have none on any tile.
        batch_op.add_column(sa.Column("tours", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    with op.batch_alter_table("wall_layouts", schema=None) as batch_op:
        batch_op.alter_column("tours", server_default=None)

    op.create_table(
        "wall_presets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("layout", sa.Integer(), nullable=False),
        sa.Column("camera_ids", sa.JSON(), nullable=False),
        sa.Column("tours", sa.JSON(), nullable=False),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("layout IN (1, 4, 9, 16)", name=op.f("ck_wall_presets_layout")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_wall_presets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wall_presets")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_wall_presets_user_id")),
    )


def downgrade() -> None:
    op.drop_table("wall_presets")
    with op.batch_alter_table("wall_layouts", schema=None) as batch_op:
        batch_op.drop_column("tours")
