from odoo import api, fields, models

from .res_company import BILLING_MODES


class ResPartner(models.Model):
    _inherit = "res.partner"

    billing_mode = fields.Selection(
        BILLING_MODES,
        default=lambda self: self.env.company.billing_default_mode,
        tracking=True,
        help="Prepaid customers buy credit that their invoices consume; postpaid "
        "customers pay their invoices on terms.",
    )

    @api.model
    def _commercial_fields(self):
        # The billing account belongs to the company, not to each of its contacts.
        return super()._commercial_fields() + ["billing_mode"]
