"""integrity: server-side staff sessions, failed logins, agency API tokens, and the survey
token and client hash of web responses

Revision ID: 0007
Revises: 0006

``response`` gains two nullable columns (``ALTER TABLE … ADD COLUMN``, no table rebuild on
SQLite); one response per survey token is a unique index, which SQLite can add in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name="fk_user_session_user_id_user_account"),
        sa.PrimaryKeyConstraint("id", name="pk_user_session"),
        sa.UniqueConstraint("token_hash", name="uq_user_session_token_hash"),
    )
    op.create_index("ix_user_session_user_id", "user_session", ["user_id"])
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account", sa.String(length=254), nullable=False),
        sa.Column("client_hash", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failure"),
    )
    op.create_index("ix_login_failure_at", "login_failure", ["at"])
    op.create_index("ix_login_failure_account", "login_failure", ["account"])
    op.create_table(
        "agency_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"],
                                name="fk_agency_token_agency_id_agency"),
        sa.PrimaryKeyConstraint("id", name="pk_agency_token"),
        sa.UniqueConstraint("token_hash", name="uq_agency_token_token_hash"),
    )
    op.create_index("ix_agency_token_agency_id", "agency_token", ["agency_id"])
    op.add_column("response", sa.Column("survey_token", sa.String(length=64), nullable=True))
    op.add_column("response", sa.Column("client_hash", sa.String(length=16), nullable=True))
    op.create_index("ix_response_site_time", "response", ["site_id", "submitted_at"])
    op.create_index("ix_response_survey_token", "response", ["survey_token"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_response_survey_token", table_name="response")
    op.drop_index("ix_response_site_time", table_name="response")
    # In place (SQLite >= 3.35 and PostgreSQL): a batch rebuild of ``response`` would drop
    # the old table, and with foreign keys on that deletes every answer and score.
    op.execute("ALTER TABLE response DROP COLUMN client_hash")
    op.execute("ALTER TABLE response DROP COLUMN survey_token")
    op.drop_index("ix_agency_token_agency_id", table_name="agency_token")
    op.drop_table("agency_token")
    op.drop_index("ix_login_failure_account", table_name="login_failure")
    op.drop_index("ix_login_failure_at", table_name="login_failure")
    op.drop_table("login_failure")
    op.drop_index("ix_user_session_user_id", table_name="user_session")
    op.drop_table("user_session")
