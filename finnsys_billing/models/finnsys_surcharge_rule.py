from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.fields import Domain


class FinnsysSurchargeRule(models.Model):
    """A surcharge on online payments made with some payment methods.

    The surcharge is ``amount * percent / 100 + fixed``, capped at ``cap`` when the cap is set,
    and booked on ``income_account_id``. A rule does not apply to customers of the excluded
    countries. The first rule by sequence that matches the payment method applies.
    """

    _name = "finnsys.surcharge.rule"
    _description = "Payment surcharge rule"
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    payment_method_ids = fields.Many2many(
        "payment.method",
        string="Payment Methods",
        required=True,
        context={"active_test": False},
    )
    percent = fields.Float(string="Percentage", digits=(16, 4))
    fixed_amount = fields.Monetary(string="Fixed Part")
    cap_amount = fields.Monetary(string="Cap", help="Highest surcharge; no cap when zero.")
    excluded_country_ids = fields.Many2many(
        "res.country",
        string="Excluded Countries",
        help="Customers of these countries pay no surcharge.",
    )
    income_account_id = fields.Many2one(
        "account.account",
        required=True,
        check_company=True,
        domain=[("account_type", "in", ("income", "income_other"))],
    )

    _percent_range = models.Constraint(
        "CHECK(percent >= 0 AND percent <= 100)",
        "The surcharge percentage must lie between 0 and 100.",
    )
    _amounts_positive = models.Constraint(
        "CHECK(fixed_amount >= 0 AND cap_amount >= 0)",
        "The fixed part and the cap of a surcharge cannot be negative.",
    )

    @api.constrains("payment_method_ids")
    def _check_payment_methods(self):
        for rule in self:
            if not rule.payment_method_ids:
                raise ValidationError(
                    self.env._("Surcharge rule %(rule)s needs a payment method.", rule=rule.name)
                )

    @api.model
    def find_applicable(self, company, payment_method, country):
        """The rule applying to a payment with ``payment_method`` by a customer of ``country``
        in ``company``, or an empty recordset: the first active rule by sequence.

        Public: the portal asks it before showing the payment form. It reads as the caller;
        call it with ``sudo()`` for a customer, who cannot read the rules.
        """
        rules = self.with_context(active_test=False).search(
            Domain("active", "=", True)
            & Domain("company_id", "=", company.id)
            & Domain("payment_method_ids", "in", payment_method.ids)
        )
        return rules.filtered(lambda rule: country not in rule.excluded_country_ids)[:1]

    def compute_surcharge(self, amount, currency):
        """The surcharge of this rule on ``amount`` in ``currency``, rounded; zero without a
        rule. Public: the portal shows and charges this figure."""
        if not self:
            return 0.0
        self.ensure_one()
        surcharge = amount * self.percent / 100.0 + self.fixed_amount
        if self.cap_amount:
            surcharge = min(surcharge, self.cap_amount)
        return currency.round(surcharge)

    @api.model
    def country_change_drops_surcharge(self, old_country, new_country):
        """Whether a customer moving from ``old_country`` to ``new_country`` would stop paying
        the surcharge of one of the rules (among those the caller can read).

        Public: the portal refuses such a change of the billing country by the customer.
        """
        return any(
            new_country in rule.excluded_country_ids
            and old_country not in rule.excluded_country_ids
            for rule in self.search([])
        )
