"""records search: the index of person name keys

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06 04:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "record_search_names",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["record_persons.id"],
            name=op.f("fk_record_search_names_person_id_record_persons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "key", "field", "name", name=op.f("pk_record_search_names")),
    )
    with op.batch_alter_table("record_search_names", schema=None) as batch_op:
        batch_op.create_index("ix_record_search_names_key", ["key", "person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("record_search_names", schema=None) as batch_op:
        batch_op.drop_index("ix_record_search_names_key")
    op.drop_table("record_search_names")
