"""notification service (HTTP).  DB_INIT=alembic (alembic_version_notification in logs_db).
The worker (`python3 -m app.worker`, same image) sends what this service queues."""
import sqlalchemy as sa

from yemma_common.service import Service, run

from . import models as m


def create_notification(conn, body):
    """An unsent in-app notification with a JSONB payload (the worker will send it)."""
    user_id = body.get("user_id") or conn.execute(
        sa.select(m.notifications.c.user_id).order_by(m.notifications.c.id.desc()).limit(1)
    ).scalar() or 1  # reuse a known user: on the monolith the FK to users must hold
    notification_id = conn.execute(m.notifications.insert().values(
        user_id=user_id, channel="in_app", subject="Bienvenue 👋",
        body="Votre profil a été créé.\nÀ bientôt !\t— L'équipe",
        payload={"source": "sandbox", "tags": ["welcome", "日本"], "retry": None, "n": 1.5},
    ).returning(m.notifications.c.id)).scalar_one()
    return {"notification_id": notification_id, "user_id": user_id}


SERVICE = Service(
    name="notification", default_init="alembic", metadata=m.metadata, main_table="notifications",
    tables=["notifications"], post_item=create_notification,
)

if __name__ == "__main__":
    run(SERVICE)
