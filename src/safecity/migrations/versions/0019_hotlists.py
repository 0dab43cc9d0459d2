"""hotlists: lists of sought plates, the districts they cover, their entries and hits on sightings

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 03:48:41.203514
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hotlists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "stolen",
                "wanted",
                "expired_registration",
                "unpaid_challans",
                "watch",
                name="hotlist_kind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("agency", sa.String(length=120), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("owner_name", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("legal_reference", sa.String(length=200), nullable=False),
        sa.Column("instructions", sa.String(length=1000), nullable=False),
        sa.Column("expires_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("province_wide", sa.Boolean(), nullable=False),
        sa.Column(
            "match_mode",
            sa.Enum("exact", "fuzzy", name="hotlist_match_mode", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("max_edits", sa.SmallInteger(), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_hotlists_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotlists")),
    )
    with op.batch_alter_table("hotlists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hotlists_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "hotlist_districts",
        sa.Column("hotlist_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_hotlist_districts_district_id_districts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hotlist_id"],
            ["hotlists.id"],
            name=op.f("fk_hotlist_districts_hotlist_id_hotlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hotlist_id", "district_id", name=op.f("pk_hotlist_districts")),
    )
    with op.batch_alter_table("hotlist_districts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hotlist_districts_district_id"), ["district_id"], unique=False)

    op.create_table(
        "hotlist_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hotlist_id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("folded", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.Uuid(), nullable=True),
        sa.Column("added_by_name", sa.String(length=64), nullable=False),
        sa.Column("expires_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by"], ["users.id"], name=op.f("fk_hotlist_entries_added_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["hotlist_id"],
            ["hotlists.id"],
            name=op.f("fk_hotlist_entries_hotlist_id_hotlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotlist_entries")),
        sa.UniqueConstraint("hotlist_id", "plate", name="uq_hotlist_entries_hotlist_id_plate"),
    )
    with op.batch_alter_table("hotlist_entries", schema=None) as batch_op:
        batch_op.create_index("ix_hotlist_entries_folded", ["folded"], unique=False)
        batch_op.create_index("ix_hotlist_entries_plate", ["plate"], unique=False)

    op.create_table(
        "hotlist_hits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sighting_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("hotlist_id", sa.Uuid(), nullable=True),
        sa.Column("hotlist_name", sa.String(length=120), nullable=False),
        sa.Column("hotlist_kind", sa.String(length=24), nullable=False),
        sa.Column("read_plate", sa.String(length=16), nullable=False),
        sa.Column("listed_plate", sa.String(length=16), nullable=False),
        sa.Column("matched", sa.String(length=16), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=True),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("seen_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "confirmed", "dismissed", name="hotlist_hit_status", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("handled_by", sa.Uuid(), nullable=True),
        sa.Column("handled_by_name", sa.String(length=64), nullable=True),
        sa.Column("handled_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_hotlist_hits_alert_id_alerts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_hotlist_hits_camera_id_cameras"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_hotlist_hits_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hotlist_entries.id"],
            name=op.f("fk_hotlist_hits_entry_id_hotlist_entries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["handled_by"], ["users.id"], name=op.f("fk_hotlist_hits_handled_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["hotlist_id"],
            ["hotlists.id"],
            name=op.f("fk_hotlist_hits_hotlist_id_hotlists"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_hotlist_hits_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["plate_sightings.id"],
            name=op.f("fk_hotlist_hits_sighting_id_plate_sightings"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotlist_hits")),
        sa.UniqueConstraint("sighting_id", "entry_id", name="uq_hotlist_hits_sighting_id_entry_id"),
    )
    with op.batch_alter_table("hotlist_hits", schema=None) as batch_op:
        batch_op.create_index("ix_hotlist_hits_camera_id_status", ["camera_id", "status"], unique=False)
        batch_op.create_index("ix_hotlist_hits_district_id_seen_at", ["district_id", "seen_at"], unique=False)
        batch_op.create_index("ix_hotlist_hits_hotlist_id_status", ["hotlist_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hotlist_hits", schema=None) as batch_op:
        batch_op.drop_index("ix_hotlist_hits_hotlist_id_status")
        batch_op.drop_index("ix_hotlist_hits_district_id_seen_at")
        batch_op.drop_index("ix_hotlist_hits_camera_id_status")

    op.drop_table("hotlist_hits")
    with op.batch_alter_table("hotlist_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_hotlist_entries_plate")
        batch_op.drop_index("ix_hotlist_entries_folded")

    op.drop_table("hotlist_entries")
    with op.batch_alter_table("hotlist_districts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hotlist_districts_district_id"))

    op.drop_table("hotlist_districts")
    with op.batch_alter_table("hotlists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hotlists_updated_at"))

    op.drop_table("hotlists")
