"""plates: camera_plates (how each camera reads number plates)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 03:44:36.764772
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "camera_plates",
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("min_plate_px", sa.SmallInteger(), nullable=False),
        sa.Column("min_vehicle_px", sa.SmallInteger(), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_camera_plates_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_camera_plates_updated_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_camera_plates")),
    )


def downgrade() -> None:
    op.drop_table("camera_plates")
