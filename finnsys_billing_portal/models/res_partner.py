import re

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, ValidationError
from odoo.fields import Domain
from odoo.tools import email_normalize

from odoo.addons.finnsys_billing.const import BILLING_USER_GROUP

# The commercial entity's invoicing data that its portal contacts may edit.
BILLING_INFO_FIELDS = (
    "name",
    "email",
    "vat",
    "street",
    "street2",
    "zip",
    "city",
    "country_id",
    "state_id",
)
# Locked in the portal once staff verified them. The country is one of them because it
# decides whether a card surcharge applies (surcharge rules exclude countries).
BILLING_INFO_VERIFIED_FIELDS = ("name", "vat", "country_id")
BASIC_VAT_RE = re.compile(r"[A-Z0-9]{2,20}")


class ResPartner(models.Model):
    _inherit = "res.partner"

    billing_info_verified = fields.Boolean(
        string="Billing info verified",
        tracking=True,
        copy=False,
        help="Staff checked the company name, tax ID and country: the customer's portal "
        "contacts can no longer change them.",
    )
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

    def _finnsys_portal_contacts(self):
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

    def _finnsys_portal_wizard_lines(self, partners):
        """Lines of Odoo's portal wizard for ``partners``, run as superuser.

        Billing users may manage portal access without the right to edit contacts (which
        Odoo's wizard asks for), hence the explicit group check.
        """
        if not self.env.su and not self.env.user.has_group(BILLING_USER_GROUP):
            raise AccessError(self.env._("Only billing users can manage portal access."))
        self.check_access("read")
        wizard = (
            self.env["portal.wizard"].sudo().create({"partner_ids": [Command.set(partners.ids)]})
        )
        return wizard.user_ids

    def _finnsys_portal_grant(self):
        """Grant portal access to the billing contacts who have none; return their lines.

        Contacts without a valid e-mail, or whose e-mail is another user's login, are left
        out: the wizard refuses them.
        """
        lines = self._finnsys_portal_wizard_lines(self._finnsys_portal_contacts())
        granted = lines.filtered(
            lambda line: line.email_state == "ok" and not (line.is_portal or line.is_internal)
        )
        for line in granted:
            line.action_grant_access()
        return granted

    def _finnsys_portal_members(self):
        return self._finnsys_portal_wizard_lines(
            (self | self.child_ids).filtered(lambda p: p.user_ids)
        ).filtered("is_portal")

    def action_billing_portal_invite(self):
        """Invite the billing contacts through Odoo's portal wizard (e-mail with accept link)."""
        granted = self._finnsys_portal_grant()
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
        return self._finnsys_portal_notify(message, "success" if granted else "warning")

    def action_billing_portal_resend(self):
        """Send the invitation again to contacts who have portal access."""
        members = self._finnsys_portal_members()
        for line in members:
            line.action_invite_again()
        return self._finnsys_portal_notify(
            self.env._("Invitation sent again to %(count)s contact(s).", count=len(members)),
            "success",
        )

    def action_billing_portal_revoke(self):
        """Remove portal access (Odoo archives the portal user and cancels its token)."""
        members = self._finnsys_portal_members()
        for line in members:
            line.action_revoke_access()
        return self._finnsys_portal_notify(
            self.env._("Portal access revoked for %(count)s contact(s).", count=len(members)),
            "success",
        )

    def _finnsys_portal_notify(self, message, kind):
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
            and self.sudo()._finnsys_portal_has_posted_invoice(self.env["account.move"])
        )

    def _finnsys_portal_has_posted_invoice(self, excluded_moves):
        domain = Domain.AND(
            [
                Domain("commercial_partner_id", "=", self.commercial_partner_id.id),
                Domain("move_type", "=", "out_invoice"),
                Domain("state", "=", "posted"),
                Domain("id", "not in", excluded_moves.ids),
            ]
        )
        return bool(self.env["account.move"].sudo().search_count(domain, limit=1))

    # ------------------------------------------------------------------
    # billing info, edited by the customer in the portal
    # ------------------------------------------------------------------
    @api.model
    def _commercial_fields(self):
        return super()._commercial_fields() + ["billing_info_verified"]

    def _finnsys_info_locked_fields(self):
        self.ensure_one()
        return BILLING_INFO_VERIFIED_FIELDS if self.billing_info_verified else ()

    def _finnsys_info_update(self, form, author):
        """Write the invoicing data a portal contact (``author``) entered for this company.

        ``self`` is the commercial entity, ``form`` the submitted strings by field name
        (BILLING_INFO_FIELDS; others are ignored). Everything is checked before anything is
        kept; a ValidationError lists what to fix. The change is logged in the chatter.
        """
        self.ensure_one()
        values = self._finnsys_info_clean(form)
        changes = {n: v for n, v in values.items() if v != self._finnsys_info_value(n)}
        errors = self._finnsys_info_errors(changes)
        if errors:
            raise ValidationError("\n".join(errors))
        if not changes:
            return
        before = {name: self[name] for name in changes}
        with self.env.cr.savepoint():
            self.write(changes)
            # base_vat, when installed, checks and formats the number for the country.
            self._check_vat()
        self._finnsys_info_log(before, author)

    def _finnsys_info_value(self, name):
        return self[name].id if self._fields[name].relational else self[name]

    def _finnsys_info_label(self, name):
        return self._fields[name].get_description(self.env)["string"]

    def _finnsys_info_clean(self, form):
        values = {}
        for name in BILLING_INFO_FIELDS:
            if name not in form:
                continue
            text = (form[name] or "").strip()
            if self._fields[name].relational:
                record = self.env[self._fields[name].comodel_name]
                values[name] = record.browse(int(text)).exists().id if text.isdigit() else False
            elif name == "vat":
                values[name] = re.sub(r"[\s.\-]", "", text).upper() or False
            else:
                values[name] = text or False
        return values

    def _finnsys_info_errors(self, changes):
        """What is wrong with ``changes`` (cleaned values that differ), as sentences."""
        final = {n: changes.get(n, self._finnsys_info_value(n)) for n in BILLING_INFO_FIELDS}
        country = self.env["res.country"].browse(final["country_id"] or None)
        state = self.env["res.country.state"].browse(final["state_id"] or None)
        required = ["name", "email", "street", "city", "country_id"]
        required += ["zip"] if country.zip_required else []
        required += ["state_id"] if country.state_required else []
        errors = [
            self.env._("%(field)s is required.", field=self._finnsys_info_label(name))
            for name in required
            if not final[name]
        ]
        errors += [
            self.env._(
                "%(field)s was verified by our billing team: contact us to change it.",
                field=self._finnsys_info_label(name),
            )
            for name in self._finnsys_info_locked_fields()
            if name in changes
        ]
        if final["email"] and not email_normalize(final["email"]):
            errors.append(
                self.env._("Enter a valid billing e-mail address, like billing@example.com.")
            )
        if state and state.country_id != country:
            errors.append(self.env._("Choose a state of %(country)s.", country=country.name or "-"))
        if final["vat"] and final["vat"] != "/" and not BASIC_VAT_RE.fullmatch(final["vat"]):
            errors.append(self.env._("The tax ID has 2 to 20 letters and digits."))
        rules = self.env["finnsys.surcharge.rule"].sudo()
        if "country_id" in changes and rules.country_change_drops_surcharge(
            self.country_id, country
        ):
            errors.append(
                self.env._("Changing the country changes the card fees: contact us to change it.")
            )
        return errors

    def _finnsys_info_log(self, before, author):
        lines = Markup("").join(
            Markup("<li>%s: %s &#8594; %s</li>")
            % (
                self._fields[name].get_description(self.env)["string"],
                (old.display_name if self._fields[name].relational else old) or "-",
                (self[name].display_name if self._fields[name].relational else self[name]) or "-",
            )
            for name, old in before.items()
        )
        self.message_post(
            body=Markup("%s<ul>%s</ul>")
            % (self.env._("Billing info changed in the customer portal:"), lines),
            author_id=author.id,
            subtype_xmlid="mail.mt_note",
        )
