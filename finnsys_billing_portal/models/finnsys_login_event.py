from odoo import api, fields, models
from odoo.fields import Domain

from .finnsys_login_request import LOGIN_REQUEST_PURPOSES

LOGIN_EVENT_KINDS = [
    ("sent", "E-mail sent"),
    ("suppressed", "E-mail not sent"),
    ("success", "Logged in"),
    ("failure", "Failed"),
    ("blocked", "Blocked by a limit"),
]


class FinnsysLoginEvent(models.Model):
    """Append-only log of code logins and password resets; the limits are counted from it."""

    _name = "finnsys.login.event"
    _description = "Portal login event"
    _order = "at desc, id desc"
    _rec_name = "login"

    login = fields.Char(string="E-mail", readonly=True)
    user_id = fields.Many2one("res.users", readonly=True, ondelete="set null")
    ip = fields.Char(string="IP Address", readonly=True)
    kind = fields.Selection(LOGIN_EVENT_KINDS, required=True, readonly=True)
    channel = fields.Selection(LOGIN_REQUEST_PURPOSES, required=True, readonly=True, default="code")
    reason = fields.Char(readonly=True)
    at = fields.Datetime(
        string="Time", required=True, readonly=True, default=lambda self: fields.Datetime.now()
    )

    _login_at_idx = models.Index("(login, at)")
    _ip_at_idx = models.Index("(ip, at)")
    _user_at_idx = models.Index("(user_id, at)")

    @api.model
    def _log(self, kind, login, ip, user=None, reason=None, channel="code"):
        return self.sudo().create(
            {
                "kind": kind,
                "channel": channel,
                "login": login,
                "ip": ip,
                "user_id": user.id if user else False,
                "reason": reason,
            }
        )

    @api.model
    def _count_since(self, since, kinds, **where):
        """Events of ``kinds`` since ``since`` matching the ``where`` column values."""
        domain = Domain.AND(
            [Domain("at", ">=", since), Domain("kind", "in", kinds)]
            + [Domain(column, "=", value) for column, value in where.items()]
        )
        return self.sudo().search_count(domain)
