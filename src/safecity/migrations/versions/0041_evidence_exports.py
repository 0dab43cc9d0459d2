"""evidence_exports: exports of case items, their redaction, unredacted approval and signed package

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-06 12:16:49.543070
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("item_ids", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "preparing",
                "review",
                "exporting",
                "ready",
                "failed",
                name="evidence_export_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("unredacted", sa.Boolean(), nullable=False),
        sa.Column("unredacted_reason", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("approval_reason", sa.Text(), nullable=True),
        sa.Column("approved_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("package_path", sa.String(length=400), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("exported_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["approved_by"],
            ["users.id"],
            name=op.f("fk_evidence_exports_approved_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_evidence_exports_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_evidence_exports_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_exports")),
    )
    with op.batch_alter_table("evidence_exports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_evidence_exports_case_id_created_at", ["case_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence_exports", schema=None) as batch_op:
        batch_op.drop_index("ix_evidence_exports_case_id_created_at")

    op.drop_table("evidence_exports")
