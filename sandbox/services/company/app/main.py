"""company service: companies, team members, invitations.  DB_INIT=create_all."""
import secrets

import sqlalchemy as sa

from yemma_common.service import Service, run
from yemma_common.sqltypes import PostalAddress

from . import models as m


def create_company(conn, body):
    """A company (slug valid for ck_companies_slug, postal_address composite),
    one team member and one invitation (uuid + enum defaults)."""
    tag = secrets.token_hex(4)
    company_id = conn.execute(
        m.companies.insert().values(
            name=f"Société Générale d'Essai «{tag}»",
            slug=f"svc-{tag}",
            address=sa.cast(sa.func.row("12, rue de l'Église", "Saint-Étienne", "42000", "FR"),
                            PostalAddress()),
        ).returning(m.companies.c.id)).scalar_one()
    # user_id is another service's id: take the body's, else reuse a known one (on the
    # monolith the FK to users must hold), else 1.
    user_id = body.get("user_id") or conn.execute(
        sa.select(m.team_members.c.user_id).order_by(m.team_members.c.id.desc()).limit(1)).scalar() or 1
    member_id = conn.execute(
        m.team_members.insert().values(company_id=company_id, user_id=user_id, role="owner")
        .returning(m.team_members.c.id)).scalar_one()
    invitation_id = conn.execute(
        m.invitations.insert().values(company_id=company_id, email=f"invite-{tag}@example.test",
                                      invited_by=user_id)
        .returning(m.invitations.c.id)).scalar_one()
    return {"company_id": company_id, "slug": f"svc-{tag}", "team_member_id": member_id,
            "invitation_id": invitation_id}


SERVICE = Service(
    name="company", default_init="create_all", metadata=m.metadata, main_table="companies",
    tables=["companies", "team_members", "invitations"], post_item=create_company,
)

if __name__ == "__main__":
    run(SERVICE)
