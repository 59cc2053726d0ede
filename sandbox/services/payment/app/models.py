"""payment_db tables, created by metadata.create_all (DB_INIT=create_all).

Mirrors schema.sql's payment section minus the cross-service foreign keys
(subscriptions.company_id, quotas.company_id -> companies): plain integers.
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ENUM, JSONB

from yemma_common.ddl import create_if_missing
from yemma_common.sqltypes import MoneyCents

metadata = sa.MetaData()

sa.event.listen(metadata, "before_create", create_if_missing(
    "type", "money_cents", "CREATE DOMAIN money_cents AS bigint CHECK (VALUE >= 0)"))

# Invoice numbers come from their own sequence, used only by a column default;
# create_all creates it (checkfirst) before the tables.
invoice_number_seq = sa.Sequence("invoice_number_seq", start=1000, metadata=metadata)

# create_type=True (default): create_all creates the ENUM types if missing.
SubscriptionStatus = ENUM("trialing", "active", "past_due", "canceled", name="subscriptionstatus")
PaymentStatus = ENUM("pending", "succeeded", "failed", "refunded", name="paymentstatus")

plans = sa.Table(
    "plans", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(30), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("price_cents", MoneyCents, nullable=False),
    sa.Column("features", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
)

subscriptions = sa.Table(
    "subscriptions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("company_id", sa.Integer, nullable=False, index=True),  # no FK: company_db
    sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id"), nullable=False),
    sa.Column("status", SubscriptionStatus, nullable=False, server_default="trialing"),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("ends_at", sa.DateTime(timezone=True)),
)
# index=True above is named ix_subscriptions_company_id, as in schema.sql.

payments = sa.Table(
    "payments", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
    sa.Column("subscription_id", sa.Integer, sa.ForeignKey("subscriptions.id"), nullable=False),
    sa.Column("amount_cents", MoneyCents, nullable=False),
    sa.Column("currency", sa.CHAR(3), nullable=False, server_default="EUR"),
    sa.Column("status", PaymentStatus, nullable=False, server_default="pending"),
    sa.Column("provider_ref", sa.Text),
    sa.Column("paid_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("amount_cents > 0", name="ck_payments_amount_positive"),
)

invoices = sa.Table(
    "invoices", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("payment_id", sa.BigInteger, sa.ForeignKey("payments.id"), nullable=False, unique=True),
    sa.Column("number", sa.Text, nullable=False, unique=True,
              server_default=sa.text("('INV-' || lpad(nextval('invoice_number_seq')::text, 8, '0'))")),
    sa.Column("pdf", sa.LargeBinary),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

quotas = sa.Table(
    "quotas", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("company_id", sa.Integer, nullable=False, unique=True),  # no FK: company_db
    sa.Column("max_offers", sa.Integer, nullable=False, server_default="5"),
    sa.Column("used_offers", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("used_offers <= max_offers", name="ck_quotas_usage"),
)
