from odoo import Command, api, fields, models
from odoo.exceptions import AccessError
from odoo.fields import Domain
from odoo.tools import email_normalize


class ResPartner(models.Model):
    _inherit = "res.partner"

    billing_portal_access = fields.Boolean(
        compute="_compute_billing_portal_access",
        compute_sudo=True,
        help="The contact, or one of the company's contacts, can log in to the customer portal.",
    )

    @api.depends("user_ids.active", "child_ids.user_ids.active")
    def _compute_billing_portal_access(self):
        for partner in self:
            users = (partner | partner.child_ids).user_ids
            partner.billing_portal_access = any(user._is_portal() for user in users)

    def _billing_portal_contacts(self):
        """Who gets portal access for these partners.

        A contact stands for itself; a customer company for its invoicing contacts, or its
        other contacts when it has none, or itself when it has no contact with an e-mail.
        """
        contacts = self.browse()
        for partner in self:
            if partner.parent_id:
                contacts |= partner
                continue
            children = partner.child_ids.filtered(lambda p: email_normalize(p.email))
            invoicing = children.filtered(lambda p: p.type == "invoice")
            others = children.filtered(lambda p: p.type in ("contact", "other"))
            contacts |= invoicing or others or partner
        return contacts

    def _billing_portal_wizard_lines(self, partners):
        """Lines of Odoo's portal wizard for ``partners``, run as superuser.

        Billing users may manage portal access without the right to edit contacts (which
        Odoo's wizard asks for), hence the explicit group check.
        """
        if not self.env.su and not self.env.user.has_group("finnsys_billing.group_billing_user"):
            raise AccessError(self.env._("Only billing users can manage portal access."))
        self.check_access("read")
        wizard = (
            self.env["portal.wizard"].sudo().create({"partner_ids": [Command.set(partners.ids)]})
        )
        return wizard.user_ids

    def _billing_portal_grant(self):
        """Grant portal access to the billing contacts who have none; return their lines.

        Contacts without a valid e-mail, or whose e-mail is another user's login, are left
        out: the wizard refuses them.
        """
        lines = self._billing_portal_wizard_lines(self._billing_portal_contacts())
        granted = lines.filtered(
            lambda line: line.email_state == "ok" and not (line.is_portal or line.is_internal)
        )
        for line in granted:
            line.action_grant_access()
        return granted

    def _billing_portal_members(self):
        return self._billing_portal_wizard_lines(
            (self | self.child_ids).filtered(lambda p: p.user_ids)
        ).filtered("is_portal")

    def action_billing_portal_invite(self):
        """Invite the billing contacts through Odoo's portal wizard (e-mail with accept link)."""
        granted = self._billing_portal_grant()
        if granted:
            message = self.env._(
                "Invitation sent to %(contacts)s.",
                contacts=", ".join(granted.partner_id.mapped("display_name")),
            )
        else:
            message = self.env._(
                "Nobody to invite: the contacts already have access, or have no valid e-mail, "
                "or their e-mail is another user's login."
            )
        return self._billing_portal_notify(message, "success" if granted else "warning")

    def action_billing_portal_resend(self):
        """Send the invitation again to contacts who have portal access."""
        members = self._billing_portal_members()
        for line in members:
            line.action_invite_again()
        return self._billing_portal_notify(
            self.env._("Invitation sent again to %(count)s contact(s).", count=len(members)),
            "success",
        )

    def action_billing_portal_revoke(self):
        """Remove portal access (Odoo archives the portal user and cancels its token)."""
        members = self._billing_portal_members()
        for line in members:
            line.action_revoke_access()
        return self._billing_portal_notify(
            self.env._("Portal access revoked for %(count)s contact(s).", count=len(members)),
            "success",
        )

    def _billing_portal_notify(self, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": message,
                "type": kind,
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _can_edit_country(self):
        """A customer company with posted invoices keeps its country in the portal: the
        surcharge rules exclude countries, so a customer whose portal user is the company
        itself could otherwise move to an excluded one. Billing users change it."""
        return super()._can_edit_country() and not (
            self == self.commercial_partner_id
            and self.sudo()._billing_portal_has_posted_invoice(self.env["account.move"])
        )

    def _billing_portal_has_posted_invoice(self, excluded_moves):
        domain = Domain.AND(
            [
                Domain("commercial_partner_id", "=", self.commercial_partner_id.id),
                Domain("move_type", "=", "out_invoice"),
                Domain("state", "=", "posted"),
                Domain("id", "not in", excluded_moves.ids),
            ]
        )
        return bool(self.env["account.move"].sudo().search_count(domain, limit=1))
