"""Script run in its own process by the reliability tests: seeds a scratch database and
creates the server actions that run the crons.

    python3 odoo_worker.py <odoo options, -d DB included> -- <command> [json argument]

Commands:

* ``seed {"tag": ..., "topup": n, "low_balance": n, "reminders": n,
  "invoices_per_customer": n, "subscriptions": n, "online_only": bool}`` creates the
  customers and prints the ids of what it made as JSON on the last line;
* ``cron_actions {"batch_size": n}`` creates one server action per cron method (run by the
  HTTP servers) and prints their ids;
* ``portal_customers {"count": n, "amount": x}`` creates postpaid customers with a portal
  login (password = login) and one open invoice each, payable by card on the demo provider.

The file is not a test module: pytest does not collect it.
"""

import json
import sys
import uuid
from datetime import date, timedelta

RESULT_MARK = "WORKER-RESULT "
REMINDER_DUE_OFFSETS = (7, 0, -7, -30)  # due date - today, one per default reminder rule
CRON_CALLS = {
    # server action name: (cron xmlid, code run on ``model``)
    "topups": (
        "finnsys_billing.ir_cron_billing_topup",
        "model._cron_run_topups(batch_size={batch})",
    ),
    "reminders": (
        "finnsys_billing.ir_cron_send_reminders",
        "model._cron_send_reminders(batch_size={batch})",
    ),
    "subscriptions": (
        "finnsys_billing.ir_cron_invoice_subscriptions",
        "model._cron_invoice_subscriptions(batch_size={batch})",
    ),
    "aging": ("finnsys_billing.ir_cron_aging_snapshot", "model._cron_take_snapshots()"),
}


def _customer(env, name, mode, email=True, **values):
    return env["res.partner"].create(
        {
            "name": name,
            "email": f"{uuid.uuid4().hex[:10]}@reliability.example" if email else False,
            "is_company": True,
            "customer_rank": 1,
            "billing_mode": mode,
            "company_id": env.company.id,
            **values,
        }
    )


def _invoice(env, partner, amount, invoice_date, due=None):
    values = {
        "move_type": "out_invoice",
        "partner_id": partner.id,
        "invoice_date": invoice_date,
        "invoice_line_ids": [(0, 0, {"name": "Usage", "price_unit": amount, "tax_ids": []})],
    }
    if due:
        values.update(invoice_date_due=due, invoice_payment_term_id=False)
    invoice = env["account.move"].create(values)
    invoice.action_post()
    if due and invoice.invoice_date_due != due:
        raise AssertionError(f"{invoice.name} is due on {invoice.invoice_date_due}, not {due}")
    return invoice


def _token(env, partner):
    provider = env.ref("payment.payment_provider_demo")
    token = env["payment.token"].create(
        {
            "provider_id": provider.id,
            "payment_method_id": env.ref("payment_demo.payment_method_demo").id,
            "partner_id": partner.id,
            "payment_details": "4242",
            "provider_ref": f"reliability-{uuid.uuid4().hex[:8]}",
            "demo_simulated_state": "done",
        }
    )
    partner.write({"billing_payment_method": "token", "billing_token_id": token.id})
    return token


def _seed_topup(env, tag, count):
    """Prepaid customers 40 below a threshold of 0, auto top-up of 100 on a demo token."""
    ids = []
    for n in range(count):
        partner = _customer(env, f"{tag} prepaid {n}", "prepaid")
        _invoice(env, partner, 40, date.today() - timedelta(days=40))
        _token(env, partner)
        partner.write(
            {
                "billing_topup_enabled": True,
                "billing_topup_amount": 100,
                "billing_topup_threshold": 0,
            }
        )
        ids.append(partner.id)
    return ids


def _seed_low_balance(env, tag, count):
    """Prepaid customers without auto top-up who consumed this month and owe 40."""
    ids = []
    for n in range(count):
        partner = _customer(env, f"{tag} low {n}", "prepaid")
        _invoice(env, partner, 40, date.today() - timedelta(days=2))
        ids.append(partner.id)
    return ids


def _seed_reminders(env, tag, count, per_customer):
    """Postpaid customers with unpaid invoices, the due dates taking turns so that every
    default reminder rule is the one due on some invoices today."""
    today = date.today()
    invoice_ids = []
    for n in range(count):
        partner = _customer(env, f"{tag} postpaid {n}", "postpaid")
        for k in range(per_customer):
            due = today + timedelta(days=REMINDER_DUE_OFFSETS[(n + k) % 4])
            invoice_ids.append(_invoice(env, partner, 100 + n, due - timedelta(days=30), due).id)
    return invoice_ids


def _seed_subscriptions(env, tag, count, spec):
    """Monthly subscriptions starting today: even ones online (charged to a demo token of a
    postpaid customer), odd ones offline (invoice e-mailed)."""
    product = env["product.product"].create(
        {"name": f"{tag} hosting", "type": "service", "taxes_id": False}
    )
    plan = env["contract.template"].create(
        {
            "name": f"{tag} monthly",
            "company_id": env.company.id,
            "contract_line_ids": [
                (0, 0, {"product_id": product.id, "name": "Hosting", "specific_price": 50})
            ],
        }
    )
    ids = []
    for n in range(count):
        online = n % 2 == 0 or spec.get("online_only")
        partner = _customer(env, f"{tag} subscriber {n}", "postpaid")
        if online:
            _token(env, partner)
        subscription = env["contract.contract"].create(
            {
                "partner_id": partner.id,
                "company_id": env.company.id,
                "contract_template_id": plan.id,
                "date_start": date.today(),
                "subscription_payment": "online" if online else "offline",
            }
        )
        subscription.action_subscription_activate()
        ids.append(subscription.id)
    return ids


def seed(env, spec):
    env.company.billing_reminder_group = False  # one e-mail per invoice: countable
    provider = env.ref("payment.payment_provider_demo")
    provider.state = "test"
    # Reading the journal creates the provider's payment method line, as opening the
    # provider's form does. Odoo creates it lazily otherwise: two servers paying for the
    # first time at once both create one, and every payment after that fails.
    provider.journal_id  # noqa: B018
    tag = spec["tag"]
    return {
        "topup": _seed_topup(env, tag, spec.get("topup", 0)),
        "low_balance": _seed_low_balance(env, tag, spec.get("low_balance", 0)),
        "reminder_invoices": _seed_reminders(
            env, tag, spec.get("reminders", 0), spec.get("invoices_per_customer", 2)
        ),
        "subscriptions": _seed_subscriptions(env, tag, spec.get("subscriptions", 0), spec),
    }


def cron_actions(env, spec):
    """One server action per cron method, running the cron's code as the cron's user with a
    small batch size, so that two servers interleave their batches."""
    actions = {}
    for name, (xmlid, code) in CRON_CALLS.items():
        cron = env.ref(xmlid)
        call = code.format(batch=spec.get("batch_size", 5)).replace(
            "model.", f"model.with_user({cron.user_id.id}).", 1
        )
        action = env["ir.actions.server"].create(
            {
                "name": f"Reliability: {cron.name}",
                "model_id": cron.model_id.id,
                "state": "code",
                "code": call,
            }
        )
        actions[name] = action.id
    return actions


def portal_customers(env, spec):
    """Customers who log in to the portal and pay their invoice by card (demo provider)."""
    from odoo.addons.finnsys_billing_portal.controllers.payment_intent import (  # noqa: PLC0415
        terms_token,
    )

    provider = env.ref("payment.payment_provider_demo")
    card = env.ref("payment.payment_method_card")
    provider.write({"state": "test", "payment_method_ids": [(4, card.id)]})
    card.active = True
    provider.journal_id  # noqa: B018 - see seed()
    amount = spec.get("amount", 100.0)
    customers = []
    for number in range(spec.get("count", 1)):
        login = f"replica{number}@customer.example"
        partner = _customer(env, f"Replica Customer {number}", "postpaid")
        user = env["res.users"].create(
            {
                "name": f"Replica Contact {number}",
                "login": login,
                "password": login,
                "email": login,
                "parent_id": partner.id,
                "group_ids": [(6, 0, [env.ref("base.group_portal").id])],
            }
        )
        invoice = _invoice(env, partner, amount, date.today(), date.today() + timedelta(days=30))
        customers.append(
            {
                "partner": partner.id,
                "user": user.id,
                "login": login,
                "invoice": invoice.id,
                "invoice_name": invoice.name,
                "terms_token": terms_token(env, invoice, amount),
            }
        )
    return {"provider": provider.id, "card": card.id, "amount": amount, "customers": customers}


COMMANDS = {
    "seed": seed,
    "cron_actions": cron_actions,
    "portal_customers": portal_customers,
}


def main(argv):
    split = argv.index("--")
    odoo_args, (command, *rest) = argv[:split], argv[split + 1 :]
    spec = json.loads(rest[0]) if rest else {}

    from odoo import SUPERUSER_ID, api  # noqa: PLC0415 - the config must be parsed first
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(odoo_args, setup_logging=True)
    registry = Registry(config["db_name"][0])
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        result = COMMANDS[command](env, spec)
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
