"""candidate: educations, certifications, skills, job preferences

Revision ID: 7f2e8a4c6b31
Revises: 5b9d3c7e1a20
Create Date: 2025-02-03 09:00:00
"""
from alembic import op

revision = "7f2e8a4c6b31"
down_revision = "5b9d3c7e1a20"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
        CREATE TABLE educations (
            id         serial PRIMARY KEY,
            profile_id integer NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
            school     text NOT NULL,
            degree     text,
            start_year smallint,
            end_year   smallint
        )
    """)
    op.execute("""
        CREATE TABLE certifications (
            id         serial PRIMARY KEY,
            profile_id integer NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
            name       text NOT NULL,
            issuer     text,
            issued_on  date
        )
    """)
    op.execute("""
        CREATE TABLE skills (
            id         serial PRIMARY KEY,
            profile_id integer NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
            name       varchar(80) NOT NULL,
            level      smallint NOT NULL DEFAULT 1,
            UNIQUE (profile_id, name)
        )
    """)
    op.execute("""
        CREATE TABLE job_preferences (
            id         serial PRIMARY KEY,
            profile_id integer NOT NULL UNIQUE REFERENCES profiles (id) ON DELETE CASCADE,
            contract_types text[] NOT NULL DEFAULT '{}',
            salary_min numeric(12, 2),
            remote     boolean,
            details    jsonb NOT NULL DEFAULT '{}'::jsonb
        )
    """)


def downgrade():
    for table in ("job_preferences", "skills", "certifications", "educations"):
        op.execute(f"DROP TABLE {table}")
