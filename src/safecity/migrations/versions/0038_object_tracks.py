"""object_tracks: every finished object track, for forensic search, synopsis and heatmaps

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-06 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "object_tracks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("class_name", sa.String(length=32), nullable=False),
        sa.Column("colour", sa.String(length=16), nullable=True),
        sa.Column("colour_share", sa.Float(), nullable=False),
        sa.Column("first_seen", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=12), nullable=True),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("frame_width", sa.SmallInteger(), nullable=False),
        sa.Column("frame_height", sa.SmallInteger(), nullable=False),
        sa.Column("snapshot", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["district_id"], ["districts.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_object_tracks_camera_id_first_seen", "object_tracks", ["camera_id", "first_seen"])
    op.create_index("ix_object_tracks_district_id_first_seen", "object_tracks", ["district_id", "first_seen"])


def downgrade() -> None:
    op.drop_table("object_tracks")
