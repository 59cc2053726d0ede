"""company_db tables, created by metadata.create_all (DB_INIT=create_all).

Mirrors schema.sql's company section minus the cross-service foreign keys
(team_members.user_id, invitations.invited_by -> users): plain integers.
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ENUM, UUID

from yemma_common.ddl import SET_UPDATED_AT, create_if_missing, updated_at_trigger
from yemma_common.sqltypes import PostalAddress

metadata = sa.MetaData()

# Functions and the composite type the tables need, before the tables.
for ddl in (
    sa.DDL(SET_UPDATED_AT),
    create_if_missing("function", "is_valid_slug(text)",
                      "CREATE FUNCTION is_valid_slug(value text) RETURNS boolean "
                      "LANGUAGE sql IMMUTABLE RETURN value ~ '^[a-z0-9]+(-[a-z0-9]+)*$'"),
    create_if_missing("type", "postal_address",
                      "CREATE TYPE postal_address AS "
                      "(street text, city text, postcode varchar(12), country char(2))"),
):
    sa.event.listen(metadata, "before_create", ddl)

# create_type=True (default): create_all creates the ENUM type if it is missing.
InvitationStatus = ENUM("pending", "accepted", "expired", "revoked", name="invitationstatus")

companies = sa.Table(
    "companies", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("slug", sa.Text, nullable=False, unique=True),
    sa.Column("address", PostalAddress),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("is_valid_slug(slug)", name="ck_companies_slug"),
)
updated_at_trigger(companies)

team_members = sa.Table(
    "team_members", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),  # no FK: users live in auth_db
    sa.Column("role", sa.String(30), nullable=False, server_default="recruiter"),
    sa.UniqueConstraint("company_id", "user_id"),
)

invitations = sa.Table(
    "invitations", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
    sa.Column("company_id", sa.Integer, sa.ForeignKey("companies.id", ondelete="CASCADE"), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("invited_by", sa.Integer),  # no FK: users live in auth_db
    sa.Column("status", InvitationStatus, nullable=False, server_default="pending"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
