"""units: the machine account a unit's own terminal signs in as (it may set that unit's status)

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.Uuid(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_units_account_id"), ["account_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_units_account_id_users"), "users", ["account_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_units_account_id_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_units_account_id"), type_="unique")
        batch_op.drop_column("account_id")
