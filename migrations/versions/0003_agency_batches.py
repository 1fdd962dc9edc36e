"""agency batches: uploaded interview files, screening reports, acceptance decisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:30:00

``response.batch_id`` (already a column since 0001) gets no database foreign key: adding
one needs a table rebuild on SQLite, and with ``PRAGMA foreign_keys=ON`` dropping the old
``response`` table would cascade-delete every answer and score. Batches are never deleted,
so the link is kept by the application (docs/agencies.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("wave", sa.String(length=8), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("n_valid", sa.Integer(), nullable=False),
        sa.Column("n_invalid", sa.Integer(), nullable=False),
        sa.Column("n_skipped", sa.Integer(), nullable=False),
        sa.Column("row_errors", sa.JSON(), nullable=False),
        sa.Column("response_rows", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("auto_decision", sa.String(length=16), nullable=False),
        sa.Column("decision_reasons", sa.JSON(), nullable=False),
        sa.Column("final_decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"],
                                name=op.f("fk_batch_agency_id_agency")),
        sa.ForeignKeyConstraint(["city_id"], ["city.id"], name=op.f("fk_batch_city_id_city")),
        sa.ForeignKeyConstraint(["uploaded_by"], ["user_account.id"],
                                name=op.f("fk_batch_uploaded_by_user_account")),
        sa.ForeignKeyConstraint(["decided_by"], ["user_account.id"],
                                name=op.f("fk_batch_decided_by_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch")),
    )
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batch_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_batch_city_id"), ["city_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_batch_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batch_sha256"))
        batch_op.drop_index(batch_op.f("ix_batch_city_id"))
        batch_op.drop_index(batch_op.f("ix_batch_agency_id"))
    op.drop_table("batch")
