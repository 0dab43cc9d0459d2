"""analytics: rules drawn on cameras, and the camera of each event

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The built-in roles that draw rules (as roles.toml says). Roles are seeded after migrating, so a new
# database gets the permission from roles.toml; an existing one gets it here, since seeding never
# changes a role that exists.
MANAGE = "analytics.manage"
GRANTED_TO = ("admin", "supervisor")
_GRANTS = sa.table("role_permissions", sa.column("role_name", sa.String), sa.column("permission", sa.String))


def upgrade() -> None:
    op.create_table(
        "analytics_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_analytics_rules_camera_id_cameras"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_analytics_rules_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_rules")),
        sa.UniqueConstraint("camera_id", "name", name=op.f("uq_analytics_rules_camera_id")),
    )
    with op.batch_alter_table("analytics_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analytics_rules_camera_id"), ["camera_id"], unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("camera_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_events_camera_id_cameras"), "cameras", ["camera_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_events_camera_id_occurred_at", ["camera_id", "occurred_at"], unique=False)
    roles = sa.table("roles", sa.column("name", sa.String))
    for role in GRANTED_TO:
        held = sa.select(_GRANTS.c.role_name).where(
            _GRANTS.c.role_name == role, _GRANTS.c.permission == MANAGE
        )
        found = sa.select(roles.c.name, sa.literal(MANAGE, sa.String)).where(
            roles.c.name == role, ~held.exists()
        )
        op.execute(_GRANTS.insert().from_select(["role_name", "permission"], found))


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM role_permissions WHERE permission = :permission").bindparams(permission=MANAGE)
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_camera_id_occurred_at")
        batch_op.drop_constraint(batch_op.f("fk_events_camera_id_cameras"), type_="foreignkey")
        batch_op.drop_column("camera_id")
    with op.batch_alter_table("analytics_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_rules_camera_id"))
    op.drop_table("analytics_rules")
