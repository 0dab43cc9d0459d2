"""analytics_replays: rule replays started from the rule editor, on a row so every web node sees them

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-06 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_replays",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("since", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "running", "done", "failed", "cancelled", name="replay_status", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(length=120), nullable=True),
        sa.Column("heartbeat", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_replays_camera_id", "analytics_replays", ["camera_id"])
    op.create_index("ix_analytics_replays_user_id", "analytics_replays", ["user_id"])
    op.create_index("ix_analytics_replays_status_runner", "analytics_replays", ["status", "runner"])


def downgrade() -> None:
    op.drop_table("analytics_replays")
