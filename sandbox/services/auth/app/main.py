"""auth service: users, roles, refresh tokens.  DB_INIT=alembic (version table alembic_version_auth)."""
import hashlib
import secrets

import sqlalchemy as sa

from yemma_common.service import Service, run

from . import models as m


def create_user(conn, body):
    """An active user (enum value), its refresh token (identity id), and the
    'candidate' role when the roles table has one."""
    tag = secrets.token_hex(6)
    user_id = conn.execute(
        m.users.insert().values(
            email=body.get("email") or f"Svc.User-{tag}@Example.test",  # citext: mixed case on purpose
            hashed_password="$2b$12$" + hashlib.sha256(tag.encode()).hexdigest()[:53],
            full_name="Zoë Lefèvre 日本",
            status="active",
        ).returning(m.users.c.id)).scalar_one()
    token_id = conn.execute(
        m.refresh_tokens.insert().values(
            user_id=user_id, token=secrets.token_hex(32),
            expires_at=sa.literal_column("now() + interval '30 days'"),
        ).returning(m.refresh_tokens.c.id)).scalar_one()
    role_id = conn.execute(sa.select(m.roles.c.id).where(m.roles.c.name == "candidate")).scalar()
    if role_id is not None:
        conn.execute(m.user_roles.insert().values(user_id=user_id, role_id=role_id))
    return {"user_id": user_id, "refresh_token_id": token_id, "role_id": role_id}


SERVICE = Service(
    name="auth", default_init="alembic", metadata=m.metadata, main_table="users",
    tables=["users", "roles", "user_roles", "refresh_tokens", "admin_invitation_tokens"],
    post_item=create_user,
)

if __name__ == "__main__":
    run(SERVICE)
