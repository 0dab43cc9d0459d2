"""records quality: other departments' databases to import from, and merges of duplicate persons

Revision ID: 0032
Revises: 0029
Create Date: 2026-12-06 04:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0032"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "record_import_sources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url_sealed", sa.Text(), nullable=False),
        sa.Column("url_shown", sa.String(length=300), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_record_import_sources_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_import_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_record_import_sources_name")),
    )
    op.create_table(
        "record_merges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kept_id", sa.Uuid(), nullable=False),
        sa.Column("merged_id", sa.Uuid(), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_by", sa.String(length=64), nullable=False),
        sa.Column("undone_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undo_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["kept_id"],
            ["record_persons.id"],
            name=op.f("fk_record_merges_kept_id_record_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merged_id"],
            ["record_persons.id"],
            name=op.f("fk_record_merges_merged_id_record_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_merges")),
    )
    with op.batch_alter_table("record_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_merges_kept_id"), ["kept_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_record_merges_merged_id"), ["merged_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_merges_merged_id"))
        batch_op.drop_index(batch_op.f("ix_record_merges_kept_id"))
    op.drop_table("record_merges")
    op.drop_table("record_import_sources")
