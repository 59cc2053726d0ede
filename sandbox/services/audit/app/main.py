"""audit service: access logs.  DB_INIT=alembic (alembic_version_audit in logs_db)."""
import sqlalchemy as sa

from yemma_common.service import Service, run

from . import models as m


def create_access_log(conn, body):
    """An access log stamped now() (bigserial id); reports the partition it landed in."""
    row = conn.execute(m.access_logs.insert().values(
        user_id=body.get("user_id"), method="POST", path="/items", status=201,
        ip=body.get("ip", "2001:db8::1"), user_agent="yemma-sandbox/1.0 (é)",
        created_at=sa.func.now(),
    ).returning(m.access_logs.c.id, m.access_logs.c.created_at,
                sa.literal_column("tableoid::regclass::text").label("partition"))).one()
    return {"access_log_id": row.id, "created_at": row.created_at, "partition": row.partition}


SERVICE = Service(
    name="audit", default_init="alembic", metadata=m.metadata, main_table="access_logs",
    tables=["access_logs"], post_item=create_access_log,
)

if __name__ == "__main__":
    run(SERVICE)
