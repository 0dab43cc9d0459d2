"""federation: what district centres send to the province (one row per centre and original id), links

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-06 19:29:13.232204
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "federation_links",
        sa.Column("centre", sa.String(length=32), nullable=False),
        sa.Column("last_received_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("centre", name=op.f("pk_federation_links")),
    )
    op.create_table(
        "federated_alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("centre", sa.String(length=32), nullable=False),
        sa.Column("original_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("camera_name", sa.String(length=120), nullable=True),
        sa.Column("repeat_count", sa.Integer(), nullable=False),
        sa.Column("raised_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_federated_alerts_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federated_alerts")),
        sa.UniqueConstraint("centre", "original_id", name="uq_federated_alerts_original"),
    )
    with op.batch_alter_table("federated_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_federated_alerts_raised_at", ["raised_at"], unique=False)

    op.create_table(
        "federated_hits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("centre", sa.String(length=32), nullable=False),
        sa.Column("original_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("read_plate", sa.String(length=16), nullable=False),
        sa.Column("listed_plate", sa.String(length=16), nullable=False),
        sa.Column("list_name", sa.String(length=120), nullable=False),
        sa.Column("list_kind", sa.String(length=32), nullable=False),
        sa.Column("camera_name", sa.String(length=120), nullable=True),
        sa.Column("seen_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_federated_hits_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federated_hits")),
        sa.UniqueConstraint("centre", "original_id", name="uq_federated_hits_original"),
    )
    with op.batch_alter_table("federated_hits", schema=None) as batch_op:
        batch_op.create_index("ix_federated_hits_seen_at", ["seen_at"], unique=False)

    op.create_table(
        "federated_incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("centre", sa.String(length=32), nullable=False),
        sa.Column("original_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_federated_incidents_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federated_incidents")),
        sa.UniqueConstraint("centre", "original_id", name="uq_federated_incidents_original"),
    )
    with op.batch_alter_table("federated_incidents", schema=None) as batch_op:
        batch_op.create_index("ix_federated_incidents_opened_at", ["opened_at"], unique=False)

    op.create_table(
        "federated_plate_reads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("centre", sa.String(length=32), nullable=False),
        sa.Column("original_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("folded", sa.String(length=16), nullable=True),
        sa.Column("folded_rev", sa.String(length=16), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("jurisdiction", sa.String(length=40), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=True),
        sa.Column("camera_name", sa.String(length=120), nullable=True),
        sa.Column("seen_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_federated_plate_reads_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federated_plate_reads")),
        sa.UniqueConstraint("centre", "original_id", name="uq_federated_plate_reads_original"),
    )
    with op.batch_alter_table("federated_plate_reads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_federated_plate_reads_folded",
            ["folded"],
            unique=False,
            postgresql_ops={"folded": "varchar_pattern_ops"},
        )
        batch_op.create_index(
            "ix_federated_plate_reads_folded_rev",
            ["folded_rev"],
            unique=False,
            postgresql_ops={"folded_rev": "varchar_pattern_ops"},
        )
        batch_op.create_index(
            "ix_federated_plate_reads_plate",
            ["plate", "seen_at"],
            unique=False,
            postgresql_ops={"plate": "varchar_pattern_ops"},
        )
        batch_op.create_index("ix_federated_plate_reads_seen_at", ["seen_at"], unique=False)


def downgrade() -> None:
    for table in (
        "federated_plate_reads",
        "federated_incidents",
        "federated_hits",
        "federated_alerts",
        "federation_links",
    ):
        op.drop_table(table)
