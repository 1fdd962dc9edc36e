"""complaints: tourist complaints and their history, site visitor counts, online reviews

Revision ID: 0008
Revises: 0007

New tables only; nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tracking_code", sa.String(length=32), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mediated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phone_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("phone_erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["city_id"], ["city.id"], name="fk_complaint_city_id_city"),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name="fk_complaint_site_id_site"),
        sa.PrimaryKeyConstraint("id", name="pk_complaint"),
        sa.UniqueConstraint("tracking_code", name="uq_complaint_tracking_code"),
        sa.UniqueConstraint("source", "external_id", name="uq_complaint_source"),
    )
    op.create_index("ix_complaint_city_id", "complaint", ["city_id"])
    op.create_index("ix_complaint_site_id", "complaint", ["site_id"])
    op.create_index("ix_complaint_status", "complaint", ["status"])
    op.create_table(
        "complaint_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"],
                                name="fk_complaint_event_complaint_id_complaint"),
        sa.ForeignKeyConstraint(["city_id"], ["city.id"], name="fk_complaint_event_city_id_city"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name="fk_complaint_event_user_id_user_account"),
        sa.PrimaryKeyConstraint("id", name="pk_complaint_event"),
    )
    op.create_index("ix_complaint_event_complaint_id", "complaint_event", ["complaint_id"])
    op.create_table(
        "site_visitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("wave", sa.String(length=8), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name="fk_site_visitors_site_id_site"),
        sa.PrimaryKeyConstraint("id", name="pk_site_visitors"),
        sa.UniqueConstraint("site_id", "wave", name="uq_site_visitors_site_id"),
    )
    op.create_index("ix_site_visitors_site_id", "site_visitors", ["site_id"])
    op.create_table(
        "online_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Float(), nullable=False),
        sa.Column("max_rating", sa.Float(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("import_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name="fk_online_review_site_id_site"),
        sa.PrimaryKeyConstraint("id", name="pk_online_review"),
    )
    op.create_index("ix_online_review_site_date", "online_review", ["site_id", "reviewed_on"])
    op.create_index("ix_online_review_import_sha256", "online_review", ["import_sha256"])


def downgrade() -> None:
    op.drop_index("ix_online_review_import_sha256", table_name="online_review")
    op.drop_index("ix_online_review_site_date", table_name="online_review")
    op.drop_table("online_review")
    op.drop_index("ix_site_visitors_site_id", table_name="site_visitors")
    op.drop_table("site_visitors")
    op.drop_index("ix_complaint_event_complaint_id", table_name="complaint_event")
    op.drop_table("complaint_event")
    op.drop_index("ix_complaint_status", table_name="complaint")
    op.drop_index("ix_complaint_site_id", table_name="complaint")
    op.drop_index("ix_complaint_city_id", table_name="complaint")
    op.drop_table("complaint")
