"""analytics: what counting lines counted, per class, direction and time bucket

Revision ID: 0014
Revises: 0011
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "line_counts",
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("interval_min", sa.SmallInteger(), nullable=False),
        sa.Column("bucket_start", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("class_name", sa.String(length=32), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_line_counts_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["analytics_rules.id"],
            name=op.f("fk_line_counts_rule_id_analytics_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "rule_id", "interval_min", "bucket_start", "direction", "class_name", name=op.f("pk_line_counts")
        ),
    )
    with op.batch_alter_table("line_counts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_line_counts_camera_id_interval_min_bucket_start",
            ["camera_id", "interval_min", "bucket_start"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("line_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_line_counts_camera_id_interval_min_bucket_start")
    op.drop_table("line_counts")
