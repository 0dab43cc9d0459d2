"""audit log: an index of entries by client address and time, for the per-address login throttle

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain index operations, never a batch: a batch rebuilds the SQLite table and would drop its append-only triggers.
def upgrade() -> None:
    op.create_index("ix_audit_log_client_addr_at", "audit_log", ["client_addr", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_client_addr_at", table_name="audit_log")
