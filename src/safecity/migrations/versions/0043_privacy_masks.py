"""privacy_masks, privacy_unmasks: masked areas per camera, and each audited lifting of them

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-06 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_masks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("polygon", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_privacy_masks_camera_id", "privacy_masks", ["camera_id"])
    op.create_table(
        "privacy_unmasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("since", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["district_id"], ["districts.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_privacy_unmasks_camera_user_until", "privacy_unmasks", ["camera_id", "user_id", "until"]
    )
    op.create_index("ix_privacy_unmasks_district_id", "privacy_unmasks", ["district_id"])
    op.create_index("ix_privacy_unmasks_user_id", "privacy_unmasks", ["user_id"])
    op.create_index("ix_privacy_unmasks_since", "privacy_unmasks", ["since"])


def downgrade() -> None:
    op.drop_table("privacy_unmasks")
    op.drop_table("privacy_masks")
