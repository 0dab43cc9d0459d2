"""object_tracks: an index on (camera, class, colour, first seen) for forensic search by what was seen

A search for "a green truck in this district this month" read every object of the district's cameras in
the month and filtered by class and colour (seconds at a million objects); with class and colour in the
index it reads only the matching entries of each camera.

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-06 13:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_object_tracks_camera_id_class_name_colour_first_seen",
        "object_tracks",
        ["camera_id", "class_name", "colour", "first_seen"],
    )


def downgrade() -> None:
    op.drop_index("ix_object_tracks_camera_id_class_name_colour_first_seen", table_name="object_tracks")
