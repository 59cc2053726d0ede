"""PostgreSQL types of schema.sql that SQLAlchemy has no class for.

They only render their name in DDL; values go through psycopg2 unchanged
(citext and money_cents behave as text and bigint, a postal_address is written
with CAST(row(...) AS postal_address) and read back as its text form).
"""
from sqlalchemy.types import UserDefinedType


class CIText(UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw):
        return "citext"


class PostalAddress(UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw):
        return "postal_address"


class MoneyCents(UserDefinedType):
    """The money_cents domain (bigint >= 0); values are plain ints."""
    cache_ok = True

    def get_col_spec(self, **kw):
        return "money_cents"
