"""plates: the plate index also holds district and id, so prefix and wildcard searches are covered

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 04:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plate_sightings", schema=None) as batch_op:
        batch_op.drop_index("ix_plate_sightings_plate", postgresql_ops={"plate": "varchar_pattern_ops"})
        batch_op.create_index(
            "ix_plate_sightings_plate",
            ["plate", "seen_at", "district_id", "id"],
            unique=False,
            postgresql_ops={"plate": "varchar_pattern_ops"},
        )


def downgrade() -> None:
    with op.batch_alter_table("plate_sightings", schema=None) as batch_op:
        batch_op.drop_index("ix_plate_sightings_plate", postgresql_ops={"plate": "varchar_pattern_ops"})
        batch_op.create_index(
            "ix_plate_sightings_plate",
            ["plate", "seen_at"],
            unique=False,
            postgresql_ops={"plate": "varchar_pattern_ops"},
        )
