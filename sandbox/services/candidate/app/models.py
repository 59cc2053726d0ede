"""candidate_db tables.  Schema owned by Alembic (run by hand, see the Dockerfile):
ENUM create_type=False, and profiles.user_id is a plain integer (users live in auth_db)."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, ENUM, JSONB

metadata = sa.MetaData()

ProfileStatus = ENUM("draft", "submitted", "in_review", "validated", "rejected", "archived",
                     name="profilestatus", create_type=False)

profiles = sa.Table(
    "profiles", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False, unique=True),  # no FK: cross-service
    sa.Column("first_name", sa.Text, nullable=False),
    sa.Column("last_name", sa.Text, nullable=False),
    sa.Column("headline", sa.Text),
    sa.Column("summary", sa.Text),
    sa.Column("status", ProfileStatus, nullable=False, server_default="draft"),
    sa.Column("years_of_exp", sa.SmallInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

experiences = sa.Table(
    "experiences", metadata,
    sa.Column("id", sa.Integer, sa.Identity(always=False), primary_key=True),
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("company", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),
    sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name="ck_experiences_dates"),
)

educations = sa.Table(
    "educations", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("school", sa.Text, nullable=False),
    sa.Column("degree", sa.Text),
    sa.Column("start_year", sa.SmallInteger),
    sa.Column("end_year", sa.SmallInteger),
)

certifications = sa.Table(
    "certifications", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("issuer", sa.Text),
    sa.Column("issued_on", sa.Date),
)

skills = sa.Table(
    "skills", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("level", sa.SmallInteger, nullable=False, server_default="1"),
    sa.UniqueConstraint("profile_id", "name"),
)

job_preferences = sa.Table(
    "job_preferences", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("profiles.id", ondelete="CASCADE"),
              nullable=False, unique=True),
    sa.Column("contract_types", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("salary_min", sa.Numeric(12, 2)),
    sa.Column("remote", sa.Boolean),
    sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
)
