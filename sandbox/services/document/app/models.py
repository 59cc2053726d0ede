"""document_db table, created by metadata.create_all (DB_INIT=create_all).

documents.owner_user_id is a plain integer: the FK to users (auth_db) is gone.
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ENUM, UUID

metadata = sa.MetaData()

# create_type=True (default): create_all creates the ENUM type if missing.
DocumentType = ENUM("cv", "cover_letter", "diploma", "other", name="documenttype")

documents = sa.Table(
    "documents", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
    sa.Column("owner_user_id", sa.Integer, nullable=False, index=True),  # ix_documents_owner_user_id
    sa.Column("kind", DocumentType, nullable=False, server_default="other"),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("mime_type", sa.String(100), nullable=False),
    sa.Column("extracted_text", sa.Text),
    sa.Column("content", sa.LargeBinary),
    sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
