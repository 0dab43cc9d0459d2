"""commercial cameras: compliance checks due in the background; requests to watch on-request cameras

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 01:04:16.085773
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "camera_access_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("requester_name", sa.String(length=64), nullable=False),
        sa.Column(
            "scope",
            sa.Enum("live", "recorded", "both", name="camera_access_scope", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("incident_ref", sa.String(length=64), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("starts_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "granted",
                "refused",
                "revoked",
                name="camera_access_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("auto_granted", sa.Boolean(), nullable=False),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by_name", sa.String(length=64), nullable=False),
        sa.Column("decided_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("last_used_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_camera_access_requests_camera_id_cameras"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_camera_access_requests_decided_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_camera_access_requests_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_camera_access_requests_requester_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_access_requests")),
    )
    with op.batch_alter_table("camera_access_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_camera_access_requests_camera_id"), ["camera_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_camera_access_requests_district_id"), ["district_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_camera_access_requests_requester_id"), ["requester_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_camera_access_requests_status"), ["status"], unique=False)

    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("compliance_due_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_cameras_compliance_due_at"), ["compliance_due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cameras_compliance_due_at"))
        batch_op.drop_column("compliance_due_at")

    with op.batch_alter_table("camera_access_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_camera_access_requests_status"))
        batch_op.drop_index(batch_op.f("ix_camera_access_requests_requester_id"))
        batch_op.drop_index(batch_op.f("ix_camera_access_requests_district_id"))
        batch_op.drop_index(batch_op.f("ix_camera_access_requests_camera_id"))

    op.drop_table("camera_access_requests")
