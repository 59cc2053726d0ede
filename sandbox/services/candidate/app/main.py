"""candidate service: profiles and their details.  DB_INIT=none: the schema comes
from Alembic run by hand (the image shadows the alembic package, so this code must
never import it; see ../Dockerfile)."""
import datetime

import sqlalchemy as sa

from yemma_common.service import Service, run

from . import models as m


def create_profile(conn, body):
    """A profile (default status 'draft' from the enum) and one experience.

    user_id: from the body, else max(profiles.user_id)+1.  In candidate_db nothing
    checks it; on the monolith the FK to users does, and the generator leaves the
    highest user ids without a profile so that the default works there too (or pass
    the user_id returned by auth's POST /items)."""
    user_id = body.get("user_id")
    if user_id is None:
        user_id = conn.execute(sa.select(sa.func.coalesce(sa.func.max(m.profiles.c.user_id), 0) + 1)).scalar_one()
    profile_id = conn.execute(
        m.profiles.insert().values(
            user_id=int(user_id), first_name="Zoé", last_name="Müller-日本",
            headline="Développeuse\tPython", summary="Ligne 1\nC:\\chemin\n\\.\nfin 🚀",
            years_of_exp=4,
        ).returning(m.profiles.c.id)).scalar_one()
    today = datetime.date.today()
    experience_id = conn.execute(
        m.experiences.insert().values(
            profile_id=profile_id, title="Ingénieure backend", company="Yemma",
            start_date=today - datetime.timedelta(days=365), end_date=today,
        ).returning(m.experiences.c.id)).scalar_one()
    return {"profile_id": profile_id, "user_id": int(user_id), "experience_id": experience_id}


SERVICE = Service(
    name="candidate", default_init="none", metadata=m.metadata, main_table="profiles",
    tables=["profiles", "experiences", "educations", "certifications", "skills", "job_preferences"],
    post_item=create_profile,
)

if __name__ == "__main__":
    run(SERVICE)
