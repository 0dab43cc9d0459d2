"""analytics: each camera's own detector settings (tiles, input size, classes, scores)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "camera_detection",
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_camera_detection_camera_id_cameras"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_camera_detection_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_camera_detection")),
    )


def downgrade() -> None:
    op.drop_table("camera_detection")
