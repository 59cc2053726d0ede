"""auth: users and roles

The DDL is schema.sql's auth section (the monolith's tables, as they are), minus
nothing: auth has no foreign key to another service.

Revision ID: c1a5e0d4b7f2
Revises:
Create Date: 2025-01-06 09:00:00
"""
from alembic import op

revision = "c1a5e0d4b7f2"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE EXTENSION IF NOT EXISTS citext")
    op.execute("CREATE TYPE userstatus AS ENUM ('pending', 'active', 'suspended', 'deleted')")
    op.execute("""
        CREATE TABLE users (
            id              serial PRIMARY KEY,
            email           citext NOT NULL,
            hashed_password text NOT NULL,
            full_name       text,
            status          userstatus NOT NULL DEFAULT 'pending',
            is_superuser    boolean NOT NULL DEFAULT false,
            created_at      timestamptz NOT NULL DEFAULT now(),
            updated_at      timestamptz NOT NULL DEFAULT now()
        )
    """)
    op.execute("CREATE UNIQUE INDEX ix_users_email ON users (email)")
    # Shared helper of schema.sql (each service database needs its own copy).
    op.execute("""
        CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER trg_users_updated_at BEFORE UPDATE ON users
            FOR EACH ROW EXECUTE FUNCTION set_updated_at()
    """)
    op.execute("""
        CREATE TABLE roles (
            id          serial PRIMARY KEY,
            name        varchar(50) NOT NULL UNIQUE,
            description text
        )
    """)
    op.execute("""
        CREATE TABLE user_roles (
            user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role_id integer NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, role_id)
        )
    """)


def downgrade():
    op.execute("DROP TABLE user_roles")
    op.execute("DROP TABLE roles")
    op.execute("DROP TABLE users")
    op.execute("DROP TYPE userstatus")
    op.execute("DROP FUNCTION set_updated_at()")
