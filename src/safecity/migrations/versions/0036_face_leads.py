"""face leads: the faces the cameras saw under a live authorisation, the matches and the examiners' decisions

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-06 08:34:42.530117
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safecity.core.db

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "face_sightings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("camera_id", sa.Uuid(), nullable=True),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("seen_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("chip", sa.LargeBinary(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("authorisation_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorisation_id"],
            ["face_authorisations.id"],
            name=op.f("fk_face_sightings_authorisation_id_face_authorisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["cameras.id"],
            name=op.f("fk_face_sightings_camera_id_cameras"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_face_sightings_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_sightings")),
    )
    with op.batch_alter_table("face_sightings", schema=None) as batch_op:
        batch_op.create_index("ix_face_sightings_camera_id_seen_at", ["camera_id", "seen_at"], unique=False)
        batch_op.create_index(
            "ix_face_sightings_district_id_seen_at", ["district_id", "seen_at"], unique=False
        )
        batch_op.create_index("ix_face_sightings_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "face_matches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sighting_id", sa.Uuid(), nullable=False),
        sa.Column("enrolment_id", sa.Uuid(), nullable=True),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("watchlist_id", sa.Uuid(), nullable=True),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("authorisation_id", sa.Uuid(), nullable=True),
        sa.Column("camera_id", sa.Uuid(), nullable=True),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("seen_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending", "confirmed", "rejected", name="face_match_status", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("decided_at", safecity.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column("incident_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_face_matches_alert_id_alerts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["authorisation_id"],
            ["face_authorisations.id"],
            name=op.f("fk_face_matches_authorisation_id_face_authorisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_face_matches_camera_id_cameras"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["district_id"],
            ["districts.id"],
            name=op.f("fk_face_matches_district_id_districts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["face_enrolments.id"],
            name=op.f("fk_face_matches_enrolment_id_face_enrolments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["face_watchlist_entries.id"],
            name=op.f("fk_face_matches_entry_id_face_watchlist_entries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_face_matches_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["record_persons.id"],
            name=op.f("fk_face_matches_person_id_record_persons"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["face_sightings.id"],
            name=op.f("fk_face_matches_sighting_id_face_sightings"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["watchlist_id"],
            ["face_watchlists.id"],
            name=op.f("fk_face_matches_watchlist_id_face_watchlists"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_matches")),
    )
    with op.batch_alter_table("face_matches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_face_matches_camera_id_person_id_last_seen_at",
            ["camera_id", "person_id", "last_seen_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_face_matches_district_id_created_at", ["district_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_face_matches_status_created_at", ["status", "created_at"], unique=False)

    op.create_table(
        "face_match_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("match_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column(
            "decision",
            sa.Enum("confirm", "reject", name="face_match_decision", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("at", safecity.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["match_id"],
            ["face_matches.id"],
            name=op.f("fk_face_match_decisions_match_id_face_matches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_face_match_decisions_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_match_decisions")),
        sa.UniqueConstraint("match_id", "user_id", name="uq_face_match_decisions_match_id_user_id"),
    )


def downgrade() -> None:
    op.drop_table("face_match_decisions")
    with op.batch_alter_table("face_matches", schema=None) as batch_op:
        batch_op.drop_index("ix_face_matches_status_created_at")
        batch_op.drop_index("ix_face_matches_district_id_created_at")
        batch_op.drop_index("ix_face_matches_camera_id_person_id_last_seen_at")

    op.drop_table("face_matches")
    with op.batch_alter_table("face_sightings", schema=None) as batch_op:
        batch_op.drop_index("ix_face_sightings_expires_at")
        batch_op.drop_index("ix_face_sightings_district_id_seen_at")
        batch_op.drop_index("ix_face_sightings_camera_id_seen_at")

    op.drop_table("face_sightings")
