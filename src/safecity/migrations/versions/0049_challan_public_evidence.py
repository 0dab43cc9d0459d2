"""traffic_challans.public_evidence: the blurred copies of the evidence frames, made when a challan is issued

Evidence packets no longer hold public copies (most violations never become a challan); a challan gets
them when it is issued. Challans issued before take the copies their packets hold.

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-07 08:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLIC_ROLES = ("public_before", "public_at", "public_after")


def upgrade() -> None:
    with op.batch_alter_table("traffic_challans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_evidence", sa.JSON(), nullable=True))
    challans = sa.table("traffic_challans", sa.column("id", sa.Uuid()), sa.column("violation_id", sa.Uuid()))
    violations = sa.table("traffic_violations", sa.column("id", sa.Uuid()), sa.column("evidence", sa.JSON()))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(challans.c.id, violations.c.evidence).join(
            violations, violations.c.id == challans.c.violation_id
        )
    )
    update = sa.table("traffic_challans", sa.column("id", sa.Uuid()), sa.column("public_evidence", sa.JSON()))
    for challan_id, manifest in list(rows):
        files: list[dict[str, Any]] = (manifest or {}).get("files", []) if isinstance(manifest, dict) else []
        public = [f for f in files if isinstance(f, dict) and f.get("role") in PUBLIC_ROLES]
        connection.execute(update.update().where(update.c.id == challan_id).values(public_evidence=public))
    with op.batch_alter_table("traffic_challans", schema=None) as batch_op:
        batch_op.alter_column("public_evidence", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("traffic_challans", schema=None) as batch_op:
        batch_op.drop_column("public_evidence")
