"""payment service: plans, subscriptions, payments, invoices, quotas.  DB_INIT=create_all."""
import secrets

import sqlalchemy as sa

from yemma_common.service import Service, run

from . import models as m


def ensure_subscription(conn, body):
    """The body's subscription_id, else the latest subscription, else a new one
    (on a fresh database: first plan, created if needed, for company 1)."""
    sub_id = body.get("subscription_id") or conn.execute(
        sa.select(sa.func.max(m.subscriptions.c.id))).scalar()
    if sub_id:
        return sub_id
    plan_id = conn.execute(sa.select(sa.func.min(m.plans.c.id))).scalar()
    if plan_id is None:
        plan_id = conn.execute(m.plans.insert().values(
            code="starter", name="Starter", price_cents=2900, features={"offers": 5})
            .returning(m.plans.c.id)).scalar_one()
    return conn.execute(m.subscriptions.insert().values(
        company_id=body.get("company_id") or 1, plan_id=plan_id, status="active")
        .returning(m.subscriptions.c.id)).scalar_one()


def create_payment(conn, body):
    """A succeeded payment (identity id, money_cents domain) on an existing
    subscription, and its invoice (number from invoice_number_seq, PDF bytea)."""
    sub_id = ensure_subscription(conn, body)
    payment_id = conn.execute(m.payments.insert().values(
        subscription_id=sub_id, amount_cents=int(body.get("amount_cents", 4900)),
        status="succeeded", provider_ref="pi_" + secrets.token_hex(12),
        paid_at=sa.func.now()).returning(m.payments.c.id)).scalar_one()
    invoice_id, number = conn.execute(m.invoices.insert().values(
        payment_id=payment_id, pdf=b"%PDF-1.4\n" + secrets.token_bytes(512) + b"\n%%EOF\x00\xff")
        .returning(m.invoices.c.id, m.invoices.c.number)).one()
    return {"subscription_id": sub_id, "payment_id": payment_id,
            "invoice_id": invoice_id, "invoice_number": number}


SERVICE = Service(
    name="payment", default_init="create_all", metadata=m.metadata, main_table="payments",
    tables=["plans", "subscriptions", "payments", "invoices", "quotas"], post_item=create_payment,
)

if __name__ == "__main__":
    run(SERVICE)
