"""synopses: video synopsis and heatmap jobs of a camera over a period, with progress and outputs

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-06 12:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "synopses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=True),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("since", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued", "rendering", "done", "failed", name="synopsis_status", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("video_path", sa.String(length=300), nullable=True),
        sa.Column("index_path", sa.String(length=300), nullable=True),
        sa.Column("heatmap_path", sa.String(length=300), nullable=True),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("render_s", sa.Float(), nullable=False),
        sa.Column("runner", sa.String(length=120), nullable=True),
        sa.Column("heartbeat", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["district_id"], ["districts.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_synopses_camera_id", "synopses", ["camera_id"])
    op.create_index("ix_synopses_district_id", "synopses", ["district_id"])
    op.create_index("ix_synopses_created_by_created_at", "synopses", ["created_by", "created_at"])


def downgrade() -> None:
    op.drop_table("synopses")
