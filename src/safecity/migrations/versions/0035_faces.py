"""faces: watchlists, enrolments, authorisations, evaluations

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-06 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "face_evaluations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("tar_at_far_1", sa.Float(), nullable=True),
        sa.Column("tar_at_far_01", sa.Float(), nullable=True),
        sa.Column("fmr", sa.Float(), nullable=True),
        sa.Column("fnmr", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("published_by_id", sa.Uuid(), nullable=True),
        sa.Column("published_by", sa.String(length=64), nullable=False),
        sa.Column("published_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["users.id"],
            name=op.f("fk_face_evaluations_published_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_evaluations")),
    )
    with op.batch_alter_table("face_evaluations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_face_evaluations_published_at"), ["published_at"], unique=False)

    op.create_table(
        "face_authorisations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("live", "retrospective", name="face_authorisation_kind", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("legal_basis", sa.String(length=500), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("starts_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by_id", sa.Uuid(), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.Column("approved_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_id"],
            ["users.id"],
            name=op.f("fk_face_authorisations_approved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_face_authorisations_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_face_authorisations_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"],
            ["users.id"],
            name=op.f("fk_face_authorisations_revoked_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_authorisations")),
    )
    with op.batch_alter_table("face_authorisations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_face_authorisations_district_id"), ["district_id"], unique=False)

    op.create_table(
        "face_watchlists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "wanted", "missing", "interest", name="face_watchlist_kind", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.String(length=500), nullable=False),
        sa.Column("district_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("owner_name", sa.String(length=64), nullable=False),
        sa.Column("review_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_face_watchlists_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_face_watchlists_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_watchlists")),
    )
    with op.batch_alter_table("face_watchlists", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_face_watchlists_district_id"), ["district_id"], unique=False)

    op.create_table(
        "face_authorisation_watchlists",
        sa.Column("authorisation_id", sa.Uuid(), nullable=False),
        sa.Column("watchlist_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorisation_id"],
            ["face_authorisations.id"],
            name=op.f("fk_face_authorisation_watchlists_authorisation_id_face_authorisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["face_watchlists.id"],
            name=op.f("fk_face_authorisation_watchlists_watchlist_id_face_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "authorisation_id", "watchlist_id", name=op.f("pk_face_authorisation_watchlists")
        ),
    )
    with op.batch_alter_table("face_authorisation_watchlists", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_face_authorisation_watchlists_watchlist_id"), ["watchlist_id"], unique=False
        )

    op.create_table(
        "face_watchlist_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("watchlist_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("legal_reference", sa.String(length=200), nullable=False),
        sa.Column("added_by_id", sa.Uuid(), nullable=True),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=64), nullable=False),
        sa.Column("removal_reason", sa.String(length=500), nullable=False),
        sa.Column("updated_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            name=op.f("fk_face_watchlist_entries_added_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["record_persons.id"],
            name=op.f("fk_face_watchlist_entries_person_id_record_persons"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["face_watchlists.id"],
            name=op.f("fk_face_watchlist_entries_watchlist_id_face_watchlists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_watchlist_entries")),
    )
    with op.batch_alter_table("face_watchlist_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_face_watchlist_entries_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_face_watchlist_entries_watchlist_id"), ["watchlist_id"], unique=False
        )

    op.create_table(
        "face_enrolments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("chip", sa.LargeBinary(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_face_enrolments_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["face_watchlist_entries.id"],
            name=op.f("fk_face_enrolments_entry_id_face_watchlist_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_enrolments")),
        sa.UniqueConstraint("entry_id", "sha256", name=op.f("uq_face_enrolments_entry_id")),
    )
    with op.batch_alter_table("face_enrolments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_face_enrolments_entry_id"), ["entry_id"], unique=False)

    op.create_table(
        "face_authorisation_cameras",
        sa.Column("authorisation_id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorisation_id"],
            ["face_authorisations.id"],
            name=op.f("fk_face_authorisation_cameras_authorisation_id_face_authorisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_face_authorisation_cameras_camera_id_cameras"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("authorisation_id", "camera_id", name=op.f("pk_face_authorisation_cameras")),
    )
    with op.batch_alter_table("face_authorisation_cameras", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_face_authorisation_cameras_camera_id"), ["camera_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("face_authorisation_cameras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_authorisation_cameras_camera_id"))

    op.drop_table("face_authorisation_cameras")
    with op.batch_alter_table("face_enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_enrolments_entry_id"))

    op.drop_table("face_enrolments")
    with op.batch_alter_table("face_watchlist_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_watchlist_entries_watchlist_id"))
        batch_op.drop_index(batch_op.f("ix_face_watchlist_entries_person_id"))

    op.drop_table("face_watchlist_entries")
    with op.batch_alter_table("face_authorisation_watchlists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_authorisation_watchlists_watchlist_id"))

    op.drop_table("face_authorisation_watchlists")
    with op.batch_alter_table("face_watchlists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_watchlists_district_id"))

    op.drop_table("face_watchlists")
    with op.batch_alter_table("face_authorisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_authorisations_district_id"))

    op.drop_table("face_authorisations")
    with op.batch_alter_table("face_evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_evaluations_published_at"))

    op.drop_table("face_evaluations")
