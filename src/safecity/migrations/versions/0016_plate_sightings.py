"""plates: sightings (one per vehicle pass, with look-alike-folded keys for search)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 03:38:45.736138
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "plate_sightings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=True),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("seen_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_seen", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("folded", sa.String(length=16), nullable=True),
        sa.Column("folded_rev", sa.String(length=16), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("char_confidences", sa.JSON(), nullable=False),
        sa.Column("alternatives", sa.JSON(), nullable=False),
        sa.Column("layout", sa.String(length=40), nullable=False),
        sa.Column("jurisdiction", sa.String(length=40), nullable=False),
        sa.Column("vehicle_class", sa.String(length=32), nullable=True),
        sa.Column("colour", sa.String(length=16), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("frames", sa.SmallInteger(), nullable=False),
        sa.Column("crop", sa.String(length=200), nullable=True),
        sa.Column("snapshot", sa.String(length=200), nullable=True),
        sa.Column("hold", sa.String(length=32), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_plate_sightings_camera_id_cameras"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_plate_sightings_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plate_sightings")),
    )
    with op.batch_alter_table("plate_sightings", schema=None) as batch_op:
        batch_op.create_index("ix_plate_sightings_camera_id_seen_at", ["camera_id", "seen_at"], unique=False)
        batch_op.create_index(
            "ix_plate_sightings_district_id_seen_at", ["district_id", "seen_at"], unique=False
        )
        batch_op.create_index(
            "ix_plate_sightings_folded",
            ["folded"],
            unique=False,
            postgresql_ops={"folded": "varchar_pattern_ops"},
        )
        batch_op.create_index(
            "ix_plate_sightings_folded_rev",
            ["folded_rev"],
            unique=False,
            postgresql_ops={"folded_rev": "varchar_pattern_ops"},
        )
        batch_op.create_index(
            "ix_plate_sightings_plate",
            ["plate", "seen_at"],
            unique=False,
            postgresql_ops={"plate": "varchar_pattern_ops"},
        )
        batch_op.create_index("ix_plate_sightings_seen_at", ["seen_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("plate_sightings", schema=None) as batch_op:
        batch_op.drop_index("ix_plate_sightings_seen_at")
        batch_op.drop_index("ix_plate_sightings_plate", postgresql_ops={"plate": "varchar_pattern_ops"})
        batch_op.drop_index(
            "ix_plate_sightings_folded_rev", postgresql_ops={"folded_rev": "varchar_pattern_ops"}
        )
        batch_op.drop_index("ix_plate_sightings_folded", postgresql_ops={"folded": "varchar_pattern_ops"})
        batch_op.drop_index("ix_plate_sightings_district_id_seen_at")
        batch_op.drop_index("ix_plate_sightings_camera_id_seen_at")

    op.drop_table("plate_sightings")
