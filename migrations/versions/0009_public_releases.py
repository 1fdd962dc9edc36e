"""public releases and red/black lists; provinces of cities

Revision ID: 0009
Revises: 0008

New tables (release, list_entry, list_event) and two new city columns with defaults;
nothing existing changes. The demo's provinces are filled by ``manyi demo``; existing
cities get an empty province code until an admin sets it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no batch copy of the table: other tables' foreign keys point at it)
    op.add_column("city", sa.Column("province_code", sa.String(length=8), nullable=False,
                                    server_default=""))
    op.add_column("city", sa.Column("province_en", sa.String(length=100), nullable=False,
                                    server_default=""))
    op.create_index("ix_city_province_code", "city", ["province_code"])
    op.create_table(
        "release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("wave", sa.String(length=8), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("questionnaires", sa.JSON(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["city_id"], ["city.id"], name="fk_release_city_id_city"),
        sa.ForeignKeyConstraint(["released_by"], ["user_account.id"],
                                name="fk_release_released_by_user_account"),
        sa.PrimaryKeyConstraint("id", name="pk_release"),
        sa.UniqueConstraint("city_id", "wave", "number", name="uq_release_city_id"),
    )
    op.create_index("ix_release_city_id", "release", ["city_id"])
    op.create_table(
        "list_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("questionnaire", sa.String(length=64), nullable=False),
        sa.Column("wave", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("display_months", sa.Integer(), nullable=True),
        sa.Column("listed_until", sa.Date(), nullable=True),
        sa.Column("objection_token_hash", sa.String(length=64), nullable=True),
        sa.Column("objection_state", sa.String(length=16), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["release_id"], ["release.id"],
                                name="fk_list_entry_release_id_release"),
        sa.ForeignKeyConstraint(["city_id"], ["city.id"], name="fk_list_entry_city_id_city"),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name="fk_list_entry_site_id_site"),
        sa.ForeignKeyConstraint(["confirmed_by"], ["user_account.id"],
                                name="fk_list_entry_confirmed_by_user_account"),
        sa.PrimaryKeyConstraint("id", name="pk_list_entry"),
        sa.UniqueConstraint("release_id", "site_id", "questionnaire",
                            name="uq_list_entry_release_id"),
        sa.UniqueConstraint("objection_token_hash", name="uq_list_entry_objection_token_hash"),
    )
    op.create_index("ix_list_entry_release_id", "list_entry", ["release_id"])
    op.create_index("ix_list_entry_city_id", "list_entry", ["city_id"])
    op.create_index("ix_list_entry_site_id", "list_entry", ["site_id"])
    op.create_index("ix_list_entry_status", "list_entry", ["status"])
    op.create_table(
        "list_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["list_entry.id"],
                                name="fk_list_event_entry_id_list_entry"),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name="fk_list_event_user_id_user_account"),
        sa.PrimaryKeyConstraint("id", name="pk_list_event"),
    )
    op.create_index("ix_list_event_entry_id", "list_event", ["entry_id"])


def downgrade() -> None:
    op.drop_table("list_event")
    op.drop_table("list_entry")
    op.drop_table("release")
    op.drop_index("ix_city_province_code", table_name="city")
    op.drop_column("city", "province_en")  # SQLite ≥ 3.35 drops columns natively
    op.drop_column("city", "province_code")
