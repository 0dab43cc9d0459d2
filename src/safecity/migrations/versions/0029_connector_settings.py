"""connectors: configured connectors (secrets sealed), prison events, CT schedule listings, Rescue 1122 links

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 04:42:29.173961
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connector_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_connector_settings")),
    )
    op.create_table(
        "ct_listings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cnic", sa.String(length=15), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("father_name", sa.String(length=120), nullable=False),
        sa.Column("district", sa.String(length=120), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("delisted_on", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ct_listings")),
        sa.UniqueConstraint("source", "cnic", name="uq_ct_listings_source_cnic"),
    )
    with op.batch_alter_table("ct_listings", schema=None) as batch_op:
        batch_op.create_index("ix_ct_listings_cnic", ["cnic"], unique=False)

    op.create_table(
        "prison_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=64), nullable=False),
        sa.Column("cnic", sa.String(length=15), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prison", sa.String(length=120), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("district_code", sa.String(length=8), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prison_events")),
        sa.UniqueConstraint("source", "remote_id", name="uq_prison_events_source_remote_id"),
    )
    with op.batch_alter_table("prison_events", schema=None) as batch_op:
        batch_op.create_index("ix_prison_events_cnic_at", ["cnic", "at"], unique=False)

    op.create_table(
        "rescue_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("delivered_status", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("delivered_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_rescue_deliveries_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rescue_deliveries")),
        sa.UniqueConstraint("connector", "incident_id", name="uq_rescue_deliveries_connector_incident"),
    )
    op.create_table(
        "rescue_received",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_rescue_received_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rescue_received")),
        sa.UniqueConstraint("connector", "remote_id", name="uq_rescue_received_connector_remote_id"),
    )


def downgrade() -> None:
    op.drop_table("rescue_received")
    op.drop_table("rescue_deliveries")
    with op.batch_alter_table("prison_events", schema=None) as batch_op:
        batch_op.drop_index("ix_prison_events_cnic_at")

    op.drop_table("prison_events")
    with op.batch_alter_table("ct_listings", schema=None) as batch_op:
        batch_op.drop_index("ix_ct_listings_cnic")

    op.drop_table("ct_listings")
    op.drop_table("connector_settings")
