"""document service: documents (bytea content).  DB_INIT=create_all."""
import secrets

import sqlalchemy as sa

from yemma_common.service import Service, run

from . import models as m


def create_document(conn, body):
    """A CV with binary content (bytea, with NUL and high bytes) and a uuid default id."""
    owner = body.get("owner_user_id") or conn.execute(
        sa.select(m.documents.c.owner_user_id).order_by(m.documents.c.uploaded_at.desc()).limit(1)
    ).scalar() or 1  # reuse a known user: on the monolith the FK to users must hold
    doc_id = conn.execute(m.documents.insert().values(
        owner_user_id=owner, kind="cv", filename="CV_Zoé_日本.pdf", mime_type="application/pdf",
        extracted_text="Expérience\n\tPython\n\\.\n🚀",
        content=b"%PDF-1.4\x00\xff" + secrets.token_bytes(2048),
    ).returning(m.documents.c.id)).scalar_one()
    return {"document_id": doc_id, "owner_user_id": owner}


SERVICE = Service(
    name="document", default_init="create_all", metadata=m.metadata, main_table="documents",
    tables=["documents"], post_item=create_document,
    latest_sql="SELECT id FROM documents ORDER BY uploaded_at DESC, id DESC LIMIT 1",
)

if __name__ == "__main__":
    run(SERVICE)
