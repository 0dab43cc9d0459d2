"""audit log: hash-chained entries, the head row, and triggers that keep them append-only

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64  # a copy, not an import: a migration must not change when the models do

# (trigger, table, events, message); an attacker with database rights can drop them, `verify` then tells.
SQLITE_TRIGGERS = (
    ("audit_log_no_update", "audit_log", "UPDATE", "audit_log is append-only"),
    ("audit_log_no_delete", "audit_log", "DELETE", "audit_log is append-only"),
    ("audit_head_no_delete", "audit_head", "DELETE", "audit_head cannot be deleted"),
)
# (trigger, table, events, level, message); TRUNCATE fires no DELETE trigger, so it has triggers of its own.
PG_TRIGGERS = (
    ("audit_log_append_only", "audit_log", "UPDATE OR DELETE", "ROW", "audit_log is append-only"),
    ("audit_log_no_truncate", "audit_log", "TRUNCATE", "STATEMENT", "audit_log is append-only"),
    ("audit_head_no_delete", "audit_head", "DELETE", "ROW", "audit_head cannot be deleted"),
    ("audit_head_no_truncate", "audit_head", "TRUNCATE", "STATEMENT", "audit_head cannot be deleted"),
)
PG_FUNCTION = """
CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=True),
        sa.Column("object_id", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("outcome IN ('success', 'failure', 'denied')", name=op.f("ck_audit_log_outcome")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_district_id"), ["district_id"], unique=False)

    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for name, table, events, level, message in PG_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {events} ON {table} "
                f"FOR EACH {level} EXECUTE FUNCTION audit_refuse('{message}')"
            )
    else:
        for name, table, events, message in SQLITE_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {events} ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, *_ in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute("DROP FUNCTION audit_refuse()")
    else:
        for name, *_ in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")

    op.drop_table("audit_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_district_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
